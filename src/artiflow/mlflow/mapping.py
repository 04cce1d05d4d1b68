"""How an artiflow run reads in MLflow: its tags, parameters, metric keys and status (plain data, no MLflow import).

A run's metrics all go to its one MLflow run. MLflow metrics carry no tags of their own, so the step
and task are in the key: `<step>/<name>` for a task outside any foreach, `<step>/<i>/<name>` for the
task of foreach element i (`<step>/<i>.<j>/<name>` in nested foreaches). Foreach indices, unlike task
ids, are the same from run to run, so the same key can be compared across runs. A run tag
`artiflow.task.<step>[/<i>]` names the task pathspec behind each such prefix.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence, TypeVar

MAX_KEY = 250          # MLflow's limit on a metric, param or tag key
MAX_PARAM_VALUE = 6000  # and on a param value
MAX_TAG_VALUE = 8000    # and on a tag value
MAX_METRICS_PER_CALL = 1000  # MLflow's log_batch limits
MAX_PARAMS_TAGS_PER_CALL = 100
_NOT_IN_KEY = re.compile(r"[^\w./\- :]")  # what MLflow allows in a key: letters, digits, _ - . / space and colon
STATUSES = {"succeeded": "FINISHED", "failed": "FAILED", "killed": "KILLED", "running": "RUNNING"}

T = TypeVar("T")


@dataclass
class MirroredRun:
    """What the mirror needs to know of an artiflow run to describe it in MLflow."""

    flow: str
    run_id: int
    user: str
    tags: Sequence[str] = ()
    params: dict[str, Any] = field(default_factory=dict)
    origin: str | None = None      # the run it resumes, as a pathspec
    started_at: float | None = None  # seconds since the epoch

    @property
    def pathspec(self) -> str:
        return f"{self.flow}/{self.run_id}"


def run_tags(run: MirroredRun, how: str) -> dict[str, str]:
    """The MLflow tags of a run: its pathspec, id, user, artiflow tags and a way back (`how`: live or export)."""
    tags = {
        "artiflow.pathspec": run.pathspec, "artiflow.flow": run.flow, "artiflow.run_id": str(run.run_id),
        "artiflow.show": f"artiflow show {run.pathspec}", "artiflow.mirror": how, "mlflow.user": run.user,
        "mlflow.note.content": (f"artiflow run **{run.pathspec}** by {run.user}. See it with "
                                f"`artiflow show {run.pathspec}`, its metrics with `artiflow metrics {run.pathspec}`."),
    }
    if run.tags:
        tags["artiflow.tags"] = tag_value(json.dumps(sorted(run.tags)))  # JSON: a tag may hold a comma
    for tag in run.tags:
        key = f"artiflow.tag.{tag}"
        if len(key) <= MAX_KEY and not _NOT_IN_KEY.search(key):  # the others are listed in artiflow.tags only
            tags[key] = "true"
    if run.origin:
        tags["artiflow.origin_pathspec"] = run.origin
    return tags


def tag_value(text: str) -> str:
    return text if len(text) <= MAX_TAG_VALUE else text[:MAX_TAG_VALUE - 3] + "..."


def param_values(run: MirroredRun) -> dict[str, str]:
    """The run's parameters as MLflow params: text (JSON for non-strings), a long value cut with a note saying so."""
    return {name: _param_text(run, name, value) for name, value in run.params.items()}


def _param_text(run: MirroredRun, name: str, value: Any) -> str:
    text = value if isinstance(value, str) else _json_text(value)
    if len(text) <= MAX_PARAM_VALUE:
        return text
    note = f" [cut from {len(text)} characters by artiflow; the full value is the artifact {name} of {run.pathspec}]"
    return text[:MAX_PARAM_VALUE - len(note)] + note


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def task_prefix(step: str, indices: Sequence[int]) -> str:
    """`step`, or `step/i` (`step/i.j` when nested) for a task inside foreaches: the start of its metric keys."""
    return step if not indices else f"{step}/{'.'.join(str(i) for i in indices)}"


def task_tag(prefix: str) -> str:
    """The run tag whose value is the task pathspec behind a metric key prefix."""
    return _fit(f"artiflow.task.{prefix}")


def metric_key(prefix: str, name: str) -> str:
    """The MLflow key of a metric: characters MLflow refuses become `_`; too long, it is cut with a hash kept."""
    return _fit(f"{prefix}/{_NOT_IN_KEY.sub('_', name)}")


def _fit(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    return f"{key[:MAX_KEY - 9]}~{digest}"


def metric_rows(prefix: str, points: Iterable[tuple]) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp in ms, step) of each point (name, value, step, time in s); no step counts as 0."""
    return [(metric_key(prefix, name), float(value), int(round(when * 1000)), 0 if step is None else int(step))
            for name, value, step, when in points]


def mlflow_status(status: str) -> str:
    """MLflow's run status for artiflow's: FINISHED, FAILED, KILLED (or RUNNING)."""
    return STATUSES.get(status, "FAILED")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """The items in slices of at most `size` (MLflow's batch limits)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
