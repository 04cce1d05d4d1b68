"""What changed between two runs: parameters, code, packages, and each step's artifacts, by content key.

Tasks of the two runs are matched by step and foreach indices (task ids differ between runs),
artifacts by name; two artifacts are the same when their content keys are.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from .code import CodeSnapshot, code_of_run, environment_of_run

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from ..metadata.records import RunRecord

TaskSlot = tuple[str, tuple[int, ...], int]  # (step, foreach indices, n-th task with those in the step)
ENVIRONMENT_FIELDS = ("python", "implementation", "platform", "machine", "artiflow")
SHOWN_WIDTH = 80


@dataclass(frozen=True)
class ArtifactChange:
    """One artifact of one matched task: "same", "changed", "only_a" or "only_b"."""

    step: str
    indices: tuple[int, ...]
    name: str
    status: str

    @property
    def where(self) -> str:
        """`train[2]/score`: the step, its foreach indices, the artifact."""
        return self.step + "".join(f"[{i}]" for i in self.indices) + "/" + self.name


@dataclass
class StepDiff:
    """A step's artifacts in both runs: how many are the same, and the names that changed or exist once."""

    step: str
    same: int = 0
    changed: list[str] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "same" if not (self.changed or self.only_a or self.only_b) else "changed"


@dataclass
class RunDiff:
    """Everything `artiflow diff` reports about two runs A and B."""

    a: str
    b: str
    parameters: dict[str, tuple[Any, Any]]  # name -> (value in A, value in B); missing: None
    code: dict[str, list[str]] | None  # path -> unified diff lines; None when a run has no stored code
    code_files: int
    packages: dict[str, tuple[str | None, str | None]]  # name -> (version in A, in B); None: not installed
    environment: dict[str, tuple[Any, Any]] | None  # python, platform... that differ; None: not recorded
    package_count: int
    steps: list[StepDiff]

    def to_json(self) -> dict[str, Any]:
        """The diff as JSON-ready data."""
        data = asdict(self)
        data["steps"] = [{**asdict(s), "status": s.status} for s in self.steps]
        return json.loads(json.dumps(data, default=repr))


# -- artifacts ---------------------------------------------------------------------------------------
def task_slots(meta: MetadataStore, flow: str, run_id: int) -> dict[tuple[str, int], TaskSlot]:
    """Each task of a run, (step, task_id), by the slot that names it in any run of the flow."""
    slots: dict[tuple[str, int], TaskSlot] = {}
    seen: dict[tuple[str, tuple[int, ...]], int] = {}
    for (step, task_id), indices in meta.foreach_indices(flow, run_id).items():
        nth = seen.get((step, indices), 0)
        seen[(step, indices)] = nth + 1
        slots[(step, task_id)] = (step, indices, nth)
    return slots


def artifact_keys(meta: MetadataStore, flow: str, run_id: int) -> dict[TaskSlot, dict[str, str]]:
    """Every artifact's content key in a run, by task slot and name."""
    slots = task_slots(meta, flow, run_id)
    return {slots.get(task, (task[0], (), task[1])): keys
            for task, keys in meta.artifact_keys_of_run(flow, run_id).items()}


def compare_artifacts(meta: MetadataStore, a: tuple[str, int], b: tuple[str, int]) -> list[ArtifactChange]:
    """Every artifact of run A and run B (each `(flow, run_id)`), matched by task slot and name, in run order."""
    rank = step_ranks(meta, a, b)
    ordered = sorted(slot_changes(meta, a, b), key=lambda change: (rank.get(change[0][0], len(rank)), *change[:2]))
    return [ArtifactChange(slot[0], slot[1], name, status) for slot, name, status in ordered]


def slot_changes(meta: MetadataStore, a: tuple[str, int], b: tuple[str, int]) -> Iterator[tuple[TaskSlot, str, str]]:
    """(task slot, artifact name, status) of every artifact of either run, in no order: status "same", "changed",
    "only_a" or "only_b"."""
    keys_a, keys_b = artifact_keys(meta, *a), artifact_keys(meta, *b)
    nothing: dict[str, str] = {}
    for slot in keys_a.keys() | keys_b.keys():
        in_a, in_b = keys_a.get(slot, nothing), keys_b.get(slot, nothing)
        for name in in_a.keys() | in_b.keys():
            status = ("only_b" if name not in in_a else "only_a" if name not in in_b
                      else "same" if in_a[name] == in_b[name] else "changed")
            yield slot, name, status


def step_ranks(meta: MetadataStore, *runs: tuple[str, int]) -> dict[str, int]:
    """Each step's place in the order the runs' first tasks started (the first run's steps, then new ones)."""
    order: dict[str, int] = {}
    for flow, run_id in runs:
        for summary in meta.step_summaries(flow, run_id):
            order.setdefault(summary.step, len(order))
    return order


def step_diffs(changes: list[ArtifactChange]) -> list[StepDiff]:
    """The artifact comparison summed up per step, in run order; a name is listed once per step."""
    steps: dict[str, StepDiff] = {}
    for change in changes:
        diff = steps.setdefault(change.step, StepDiff(change.step))
        if change.status == "same":
            diff.same += 1
            continue
        names = getattr(diff, change.status)
        if change.name not in names:
            names.append(change.name)
    return list(steps.values())


# -- parameters, code, environment ----------------------------------------------------------------------
def _shown_value(store: Any, row: RunRecord, name: str) -> Any:
    """A parameter's value as the run shows it (a constant or config is read from its blob), or None."""
    if name in row.params:
        return row.params[name]
    ref = row.param_refs.get(name)
    if ref is None:
        return None
    try:
        text = repr(store.load(ref))
    except Exception as exc:  # noqa: BLE001 - a value this process cannot load: say so, do not fail the diff
        return f"<cannot load: {type(exc).__name__}>"
    return text if len(text) <= SHOWN_WIDTH else text[: SHOWN_WIDTH - 3] + "..."


def _key(refs: dict[str, Any], name: str) -> str | None:
    ref = refs.get(name)
    return None if ref is None else ref.key


def parameter_changes(stores: tuple[Any, Any], row_a: RunRecord, row_b: RunRecord) -> dict[str, tuple[Any, Any]]:
    """Parameters, constants and configs whose stored values differ (by content key), with both values
    (each read from its own run's datastore)."""
    refs_a, refs_b = row_a.param_refs, row_b.param_refs
    names = sorted(set(refs_a) | set(refs_b) | set(row_a.params) | set(row_b.params))
    differ = [n for n in names if n != "name" and _key(refs_a, n) != _key(refs_b, n)]
    return {n: (_shown_value(stores[0], row_a, n), _shown_value(stores[1], row_b, n)) for n in differ}


def code_changes(code_a: CodeSnapshot, code_b: CodeSnapshot, a: str, b: str) -> dict[str, list[str]]:
    """A unified diff of every file that differs (or exists in one run only), by path."""
    files_a, files_b = code_a.files, code_b.files
    changes = {}
    for path in sorted(set(files_a) | set(files_b)):
        old, new = files_a.get(path), files_b.get(path)
        if old == new:
            continue
        lines = difflib.unified_diff((old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
                                     fromfile=f"{a}/{path}" if old is not None else "/dev/null",
                                     tofile=f"{b}/{path}" if new is not None else "/dev/null")
        changes[path] = [line if line.endswith("\n") else line + "\n" for line in lines]
    return changes


def package_changes(env_a: dict[str, Any], env_b: dict[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    """Packages added, removed or at another version: name -> (version in A, version in B)."""
    pkgs_a, pkgs_b = env_a.get("packages", {}), env_b.get("packages", {})
    return {name: (pkgs_a.get(name), pkgs_b.get(name)) for name in sorted(set(pkgs_a) | set(pkgs_b))
            if pkgs_a.get(name) != pkgs_b.get(name)}


def diff_runs(stores: tuple[Any, Any], meta: MetadataStore, row_a: RunRecord, row_b: RunRecord) -> RunDiff:
    """Compare two runs (their metadata records) in full; `stores` are their datastores (the same one, or two)."""
    a, b = row_a.pathspec, row_b.pathspec
    code_a, code_b = code_of_run(stores[0], row_a), code_of_run(stores[1], row_b)
    env_a, env_b = environment_of_run(stores[0], row_a), environment_of_run(stores[1], row_b)
    both_code = code_a is not None and code_b is not None
    both_env = env_a is not None and env_b is not None
    changes = compare_artifacts(meta, (row_a.flow, row_a.run_id), (row_b.flow, row_b.run_id))
    return RunDiff(
        a=a, b=b,
        parameters=parameter_changes(stores, row_a, row_b),
        code=code_changes(code_a, code_b, a, b) if both_code else None,
        code_files=len(set(code_a.blobs) | set(code_b.blobs)) if both_code else 0,
        packages=package_changes(env_a, env_b) if both_env else {},
        environment={f: (env_a.get(f), env_b.get(f)) for f in ENVIRONMENT_FIELDS if env_a.get(f) != env_b.get(f)}
        if both_env else None,
        package_count=len(env_b.get("packages", {})) if both_env else 0,
        steps=step_diffs(changes),
    )
