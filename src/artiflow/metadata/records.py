"""What the metadata store returns: typed records of runs, tasks, attempts and task metadata entries.

Every backend builds them from its rows with the `from_row` constructors here, so JSON columns are
decoded in one place. Records are plain mutable dataclasses with slots: cheap to build (a 1,000-task
run reads 1,000 task records at a time) and shared by the client objects that show them (a tag change
updates the run's record in place).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..datastore.store import ArtifactRef
from ..lineage.records import Producers, Read

# the columns each record is built from, in its fields' order (`user` is quoted: PostgreSQL reserves the word)
RUN_COLUMNS = ('flow, run_id, "user", status, created_at, finished_at, heartbeat_at, params, origin_run_id, '
               'param_refs, code_key, environment_key, datastore_root')
TASK_COLUMNS = ("flow, run_id, step, task_id, status, attempt, created_at, finished_at, foreach_stack, parents, "
                "origin, transition, cache_key, cached_from")
ATTEMPT_COLUMNS = ("flow, run_id, step, task_id, attempt, status, started_at, finished_at, stdout_key, stderr_key, "
                   "exception")
TASK_METADATA_COLUMNS = "attempt, field, value, type, tags, ts"
READ_COLUMNS = "name, key, producers, kind, source"
REF_COLUMNS = "key, serializer, type, size"


def ref_to_json(ref: ArtifactRef) -> list:
    """An artifact ref as the JSON list the runs table keeps parameter refs in."""
    return [ref.key, ref.serializer, ref.type, ref.size]


def refs_from_json(text: str | None) -> dict[str, ArtifactRef]:
    """Parameter refs by name, from their JSON column."""
    return {name: ArtifactRef(*item) for name, item in json.loads(text or "{}").items()}


def producers_from_json(text: str | None) -> Producers:
    """An artifact's producers (task pathspecs), from their JSON column."""
    return tuple(json.loads(text or "[]"))


def ref_from_row(row: tuple) -> ArtifactRef:
    """An artifact ref from the columns REF_COLUMNS, in that order."""
    return ArtifactRef(row[0], row[1], row[2], row[3])


def read_from_row(row: tuple) -> Read:
    """A recorded read from the columns READ_COLUMNS, in that order."""
    return Read(row[0], row[1], producers_from_json(row[2]), row[3], row[4])


@dataclass(slots=True)
class RunRecord:
    """One run: who started it, its status and times, parameters, tags and where its code and data are.

    `lost` is true for a run recorded as running whose runner stopped beating (killed, or its machine
    lost); its `status` then reads `failed`. `datastore_root` is the datastore the run wrote to (None
    for runs recorded before artiflow kept it).
    """

    flow: str
    run_id: int
    user: str | None
    status: str
    created_at: float
    finished_at: float | None
    heartbeat_at: float | None
    params: dict[str, Any]
    origin_run_id: int | None
    param_refs: dict[str, ArtifactRef]
    code_key: str | None
    environment_key: str | None
    datastore_root: str | None
    tags: list[str] = field(default_factory=list)
    system_tags: list[str] = field(default_factory=list)
    lost: bool = False

    @property
    def pathspec(self) -> str:
        """`Flow/run_id`."""
        return f"{self.flow}/{self.run_id}"

    @classmethod
    def from_row(cls, row: tuple, tags: list[tuple[str, int]], now: float, timeout: float) -> RunRecord:
        """A run from the columns RUN_COLUMNS and its (tag, is_system) pairs; `now` and `timeout` judge `lost`."""
        (flow, run_id, user, status, created_at, finished_at, heartbeat_at, params, origin_run_id, param_refs,
         code_key, environment_key, datastore_root) = row
        lost = status == "running" and now - (heartbeat_at or 0) > timeout
        return cls(flow, run_id, user, "failed" if lost else status, created_at, finished_at, heartbeat_at,
                   json.loads(params or "{}"), origin_run_id, refs_from_json(param_refs), code_key, environment_key,
                   datastore_root, sorted(t for t, system in tags if not system),
                   sorted(t for t, system in tags if system), lost)


@dataclass(slots=True)
class TaskRecord:
    """One task of a run: its status, latest attempt, place in the foreach nesting, parents and outcome.

    `parents` are `step/task_id` of the tasks it started from; `transition` is where it led (None until
    it succeeded); `origin` is the task resume reused it from, `cached_from` the task a step-cache hit
    took it from (the first that ran the code).
    """

    flow: str
    run_id: int
    step: str
    task_id: int
    status: str
    attempt: int
    created_at: float
    finished_at: float | None
    foreach_stack: list[dict[str, Any]]
    parents: list[str]
    origin: str | None
    transition: dict[str, Any] | None
    cache_key: str | None
    cached_from: str | None

    @property
    def pathspec(self) -> str:
        """`Flow/run_id/step/task_id`."""
        return f"{self.flow}/{self.run_id}/{self.step}/{self.task_id}"

    @property
    def first_source(self) -> str:
        """The task that ran the code behind this one: itself, or the task it was reused or cached from."""
        return self.cached_from or self.origin or self.pathspec

    @classmethod
    def from_row(cls, row: tuple) -> TaskRecord:
        """A task from the columns TASK_COLUMNS, in that order."""
        (flow, run_id, step, task_id, status, attempt, created_at, finished_at, foreach_stack, parents, origin,
         transition, cache_key, cached_from) = row
        return cls(flow, run_id, step, task_id, status, attempt or 0, created_at, finished_at,
                   json.loads(foreach_stack or "[]"), json.loads(parents or "[]"), origin,
                   json.loads(transition) if transition else None, cache_key, cached_from)


@dataclass(slots=True)
class AttemptRecord:
    """One attempt of a task: its status, times, the blob keys of its logs, and the exception it raised.

    `exception` is {type, message, traceback}, or None. A log key may name several blobs (`parts:`).
    """

    flow: str
    run_id: int
    step: str
    task_id: int
    attempt: int
    status: str
    started_at: float
    finished_at: float | None
    stdout_key: str | None
    stderr_key: str | None
    exception: dict[str, Any] | None

    @property
    def logs(self) -> tuple[str | None, str | None]:
        """The (stdout, stderr) log keys."""
        return self.stdout_key, self.stderr_key

    @classmethod
    def from_row(cls, row: tuple) -> AttemptRecord:
        """An attempt from the columns ATTEMPT_COLUMNS, in that order."""
        *head, exception = row
        return cls(*head, json.loads(exception) if exception else None)


@dataclass(slots=True)
class TaskMetadataRecord:
    """One metadata entry of a task attempt (Metaflow's task metadata): field, value, type, tags and time."""

    attempt: int
    field: str
    value: str | None
    type: str | None
    tags: list[str]
    ts: float

    @classmethod
    def from_row(cls, row: tuple) -> TaskMetadataRecord:
        """An entry from the columns TASK_METADATA_COLUMNS, in that order."""
        attempt, name, value, kind, tags, ts = row
        return cls(attempt, name, value, kind, json.loads(tags or "[]"), ts)


@dataclass(slots=True)
class BlobReferences:
    """Every blob key the records name, by kind (gc keeps these); a log or card value is raw, as recorded.

    `log` keys may be `parts:` lists; `card` holds the JSON value of each card's metadata entry.
    """

    artifact: set[str] = field(default_factory=set)
    log: set[str] = field(default_factory=set)
    param: set[str] = field(default_factory=set)
    code: set[str] = field(default_factory=set)
    environment: set[str] = field(default_factory=set)
    card: set[str] = field(default_factory=set)


@dataclass(slots=True)
class MetricRecord:
    """One metric point a task attempt logged: `self.log_metric(name, value, step)` at `timestamp`.

    `step` is the metric's own step (an epoch, an iteration) or None; the flow's step is in `pathspec`
    (`Flow/run/step/task_id`). `value` is a float; NaN is kept. `timestamp` is epoch seconds, by the
    clock of the machine the task ran on.
    """

    name: str
    value: float
    step: int | None
    timestamp: float
    pathspec: str
    attempt: int

    @property
    def step_name(self) -> str:
        """The flow's step that logged the point."""
        return self.pathspec.split("/")[2]

    @property
    def task_id(self) -> int:
        """The id of the task that logged the point."""
        return int(self.pathspec.rsplit("/", 1)[1])

    def to_dict(self) -> dict[str, Any]:
        """The point as a plain dict (what `artiflow metrics --format json` prints, with non-finite values as text)."""
        return {"pathspec": self.pathspec, "attempt": self.attempt, "name": self.name, "step": self.step,
                "value": self.value, "timestamp": self.timestamp}
