"""`current`: what the running task knows about itself (flow, run, step, task, retry, user...)."""

from __future__ import annotations

# typing.TYPE_CHECKING without importing typing: `import artiflow` imports this module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Current:
    """Filled in by the runtime inside a task; outside a task `is_running_flow` is False."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._info: dict[str, Any] = {}
        self._log_metric: Any = None  # runtime.metrics.log_metric, once a task has logged through current

    def _set(self, **info: Any) -> None:
        self._info = dict(info)

    @property
    def is_running_flow(self) -> bool:
        return bool(self._info)

    @property
    def tags(self) -> set[str] | None:
        """The run's user tags (a new set each time, as in Metaflow), or None outside a task."""
        tags = self.__dict__["_info"].get("tags")
        return None if tags is None else set(tags)

    @property
    def task(self) -> Any:
        """The running task as a client Task (readable, picklable), or None outside a task."""
        if not self._info:
            return None
        from .client import Task

        return Task(self._info["pathspec"], _namespace_check=False)

    @property
    def run(self) -> Any:
        """The running run as a client Run, or None outside a task."""
        if not self._info:
            return None
        from .client import Run

        return Run(self._info["pathspec"].rsplit("/", 2)[0], _namespace_check=False)

    @property
    def card(self) -> Any:
        """The running task's cards (`current.card.append(...)`, `current.card["id"]`); see artiflow.cards."""
        collector = self._info.get("card")
        if collector is None:
            from .cards.collector import NoCards

            return NoCards(self._info.get("step_name"))
        return collector

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record a metric point of the running task, as `self.log_metric` does (usable from any function)."""
        log = self._log_metric
        if log is None:
            from .runtime.metrics import log_metric

            log = self._log_metric = log_metric
        log(name, value, step)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _FIELDS:
            return self.__dict__["_info"].get(name)
        raise AttributeError(f"current has no attribute {name!r}; it has: {', '.join(sorted(_FIELDS))}")

    def get(self, name: str, default: Any = None) -> Any:
        return self._info.get(name, default)

    def __repr__(self) -> str:
        return f"<current {self.pathspec}>" if self.is_running_flow else "<current (no flow running)>"


_FIELDS = {
    "flow_name", "run_id", "step_name", "task_id", "pathspec", "retry_count", "username", "namespace",
    "tags", "parameter_names", "origin_run_id", "project_name", "branch_name", "is_production",
    "project_flow_name", "is_user_branch", "parallel", "card",
}


class Parallel(tuple):
    """`current.parallel` in a @parallel step: main_ip, num_nodes, node_index, control_task_id."""

    __slots__ = ()
    _fields = ("main_ip", "num_nodes", "node_index", "control_task_id")

    def __new__(cls, main_ip: str, num_nodes: int, node_index: int, control_task_id: str) -> "Parallel":
        return tuple.__new__(cls, (main_ip, num_nodes, node_index, control_task_id))

    main_ip = property(lambda self: self[0])
    num_nodes = property(lambda self: self[1])
    node_index = property(lambda self: self[2])
    control_task_id = property(lambda self: self[3])

current = Current()
