"""What the scheduler hands a worker (TaskSpec) and what the worker hands back (TaskResult).

Both are plain picklable data, so any executor (a forked process, a Dask worker) can carry them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..datastore import ArtifactRef
from ..flowspec import Frame
from ..lineage.records import Producers, Read
from .metrics import MetricPoints


@dataclass
class InputSpec:
    """One parent task of a task: its step, id, artifacts and foreach frames."""

    step: str
    task_id: int
    artifacts: dict[str, ArtifactRef]
    frames: list[Frame]
    producers: dict[str, Producers] = field(default_factory=dict)  # who first produced each artifact's value


@dataclass(frozen=True)
class CatchPlan:
    """@catch on this attempt (the step's last): store the error in `var` and succeed."""

    var: str | None
    print_exception: bool


@dataclass(frozen=True)
class ParallelInfo:
    """`current.parallel` of a task in a num_parallel gang (node 0 is the control task)."""

    num_nodes: int
    node_index: int
    control_task_id: str
    main_ip: str = "127.0.0.1"


@dataclass
class TaskSpec:
    """Everything a worker needs to run one attempt of one task."""

    flow_name: str
    run_id: int
    step: str
    task_id: int
    attempt: int
    params: dict[str, ArtifactRef]
    inputs: list[InputSpec]
    frames: list[Frame]
    is_join: bool
    user: str
    tags: list[str] = field(default_factory=list)
    origin_run_id: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    catch: CatchPlan | None = None      # set on the last attempt of a step under @catch
    timeout: float = 0.0                # @timeout's limit in seconds (0: none)
    parallel: ParallelInfo | None = None  # this task's place in a num_parallel gang
    cache_key: str | None = None        # the step-cache key, when caching applies to this task
    split_keys: bool = False            # a foreach: give each element's content key (a cached step follows)
    metrics_spill: str | None = None    # a file the task appends its metric points to (set by the executor)

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.step}/{self.task_id}"


@dataclass
class TaskResult:
    """The outcome of a task: its artifacts and transition on success, the error otherwise."""

    ok: bool
    artifacts: dict[str, ArtifactRef] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)
    foreach_var: str | None = None
    num_splits: int = 0          # a foreach's length, or the size of a num_parallel gang
    num_parallel: int = 0
    exception: dict[str, Any] | None = None
    metadata: list[Any] = field(default_factory=list)   # MetadataEntry items the task's hooks recorded
    caught: bool = False   # the step raised on its last attempt and @catch stored the error
    reads: list[Read] = field(default_factory=list)        # the artifacts the task read
    split_keys: list[str] = field(default_factory=list)    # a foreach's elements' content keys (when asked)
    producers: dict[str, Producers] = field(default_factory=dict)  # set by the scheduler when it records the task
    metrics: MetricPoints = field(default_factory=MetricPoints)  # log_metric's (name, value, step, timestamp)s
    previews: dict[str, str] = field(default_factory=dict)  # content key -> preview JSON of each value saved

    def transition(self) -> dict[str, Any]:
        """What the metadata keeps of where the task led, so resume can follow it without re-running."""
        transition = {"next": self.next_steps, "foreach": self.foreach_var, "num_splits": self.num_splits,
                      "num_parallel": self.num_parallel}
        if self.split_keys:
            transition["split_keys"] = self.split_keys
        return transition

    @classmethod
    def reused(cls, artifacts: dict[str, ArtifactRef], transition: dict[str, Any],
               producers: dict[str, Producers] | None = None) -> TaskResult:
        return cls(ok=True, artifacts=artifacts, next_steps=list(transition["next"]),
                   foreach_var=transition["foreach"], num_splits=transition["num_splits"],
                   num_parallel=transition.get("num_parallel", 0), split_keys=list(transition.get("split_keys", [])),
                   producers=dict(producers or {}))
