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

    def _set(self, **info: Any) -> None:
        self._info = dict(info)

    @property
    def is_running_flow(self) -> bool:
        return bool(self._info)

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
    "project_flow_name",
}

current = Current()
