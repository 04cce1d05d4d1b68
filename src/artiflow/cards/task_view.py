"""The task a card renders, seen from inside the task's own process.

Cards render when the step has ended, before the task is recorded, so the client's Task cannot
be used yet. This view gives a card the same reads (`task.pathspec`, `task["x"].data`,
`task.data.x`, `"x" in task`, iteration) from the flow instance: values the step set are taken
from memory, the others are loaded from the store only when asked for.
"""

from __future__ import annotations

from typing import Any, Iterator

PREVIEW_MAX_BYTES = 1_000_000


def _points_logged_so_far() -> list[tuple]:
    """The running attempt's metric points: cards render after the step, while its metric log is still open."""
    from ..runtime.metrics import points_so_far

    return list(points_so_far())


class ArtifactView:
    """One artifact of the task: `.id`, `.data` (loaded on first use), `.type`, `.size` (None if unknown)."""

    def __init__(self, task: TaskView, name: str) -> None:
        self._task, self.id = task, name

    @property
    def pathspec(self) -> str:
        return f"{self._task.pathspec}/{self.id}"

    @property
    def data(self) -> Any:
        """The value."""
        return self._task._value(self.id)

    @property
    def type(self) -> str:
        """The value's type name."""
        ref = self._task._refs.get(self.id)
        if self.id in self._task._assigned or ref is None:
            value = self._task._assigned.get(self.id)
            cls = type(value)
            return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
        return ref.type

    @property
    def size(self) -> int | None:
        """The stored size in bytes, when the value was stored before this task (else None)."""
        ref = self._task._refs.get(self.id)
        return None if ref is None or self.id in self._task._assigned else ref.size

    def __repr__(self) -> str:
        return f"<artifact {self.pathspec}>"


class _Data:
    def __init__(self, task: TaskView) -> None:
        object.__setattr__(self, "_task", task)

    def __getattr__(self, name: str) -> Any:
        if name not in self._task:
            raise AttributeError(f"task {self._task.pathspec} has no artifact {name!r}")
        return self._task._value(name)

    def __contains__(self, name: object) -> bool:
        return name in self._task


class TaskView:
    """The running task as a card's `render(task)` sees it (a read-only, lazy view)."""

    def __init__(self, flow: Any, spec: Any, store: Any) -> None:
        self._flow, self._spec, self._store = flow, spec, store
        ctx = flow._af_ctx
        self._refs = dict(ctx.refs) if ctx is not None else {}
        from ..parameters import flow_parameters

        # read-only names are parameters, configs and constants: only the first are shown as parameters
        self._params = set(ctx.params) & set(flow_parameters(type(flow))) if ctx is not None else set()
        self._assigned = flow._af_assigned()
        self._cache: dict[str, Any] = {}

    # -- identity -----------------------------------------------------------------------------------
    @property
    def pathspec(self) -> str:
        return self._spec.pathspec

    @property
    def id(self) -> str:
        return str(self._spec.task_id)

    @property
    def flow_name(self) -> str:
        return self._spec.flow_name

    @property
    def run_id(self) -> str:
        return str(self._spec.run_id)

    @property
    def step_name(self) -> str:
        return self._spec.step

    @property
    def current_attempt(self) -> int:
        return self._spec.attempt

    @property
    def user(self) -> str:
        return self._spec.user

    @property
    def tags(self) -> list[str]:
        return list(self._spec.tags)

    @property
    def index(self) -> int | None:
        frames = self._spec.frames
        return getattr(frames[-1], "index", None) if frames else None

    @property
    def origin_pathspec(self) -> str | None:
        return None

    finished = True
    successful = True

    @property
    def metrics(self) -> list[tuple]:
        """The metric points the task logged, as (name, value, step, timestamp) tuples in log order."""
        return _points_logged_so_far()

    # -- artifacts ----------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """The task's artifact names (internal `_` names left out), parameters included."""
        names = dict.fromkeys([*self._refs, *self._assigned])
        return [n for n in names if not n.startswith("_")]

    def is_parameter(self, name: str) -> bool:
        return name in self._params

    def _value(self, name: str) -> Any:
        if name in self._assigned:
            return self._assigned[name]
        if name not in self._cache:
            if name not in self._refs:
                raise KeyError(f"task {self.pathspec} has no artifact {name!r}")
            self._cache[name] = self._store.load(self._refs[name])
        return self._cache[name]

    def preview_allowed(self, name: str) -> bool:
        """False for a stored value too large to load just to preview it."""
        ref = self._refs.get(name)
        return name in self._assigned or ref is None or ref.size <= PREVIEW_MAX_BYTES

    @property
    def data(self) -> _Data:
        return _Data(self)

    def __getitem__(self, name: str) -> ArtifactView:
        if name not in self:
            raise KeyError(f"task {self.pathspec} has no artifact {name!r}; it has: {', '.join(self.names())}")
        return ArtifactView(self, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._assigned or name in self._refs)

    def __iter__(self) -> Iterator[ArtifactView]:
        return iter([ArtifactView(self, n) for n in self.names()])

    def __repr__(self) -> str:
        return f"<task {self.pathspec} (rendering its cards)>"
