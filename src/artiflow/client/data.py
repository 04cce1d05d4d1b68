"""A task's artifacts: lazy attribute access (`task.data.x`) and DataArtifact objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from ..datastore import ArtifactRef
from ..exceptions import NotFound
from .base import UNSET, ClientObject
from .pathspec import parse

if TYPE_CHECKING:
    from .task import Task


class ArtifactNotFound(NotFound, AttributeError):
    """A task has no artifact of this name (a KeyError for `task[name]`, an AttributeError so `hasattr` works)."""


class TaskData:
    """A task's artifacts as attributes; each value is loaded on first access, then kept."""

    __slots__ = ("_af_task", "_af_values")

    def __init__(self, task: Task) -> None:
        object.__setattr__(self, "_af_task", task)
        object.__setattr__(self, "_af_values", {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Any:
        values = self._af_values
        if name not in values:
            task = self._af_task
            values[name] = task._ctx.store.load(task._ref(name), name, task.pathspec)
        return values[name]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Artifacts of {self._af_task.pathspec} are read-only.")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._af_task._has(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._af_task._names())

    def __len__(self) -> int:
        return len(self._af_task._names())

    def __dir__(self) -> list[str]:
        return self._af_task._names()

    def __repr__(self) -> str:
        return f"<data of {self._af_task.pathspec}: {', '.join(self._af_task._names()) or 'no artifacts'}>"


class Artifacts:
    """The DataArtifact objects of a task: iterable, `len()`, `in`, and by attribute."""

    def __init__(self, task: Task) -> None:
        self._task = task

    def __iter__(self) -> Iterator[DataArtifact]:
        return iter([self._task._artifact(name) for name in self._task._names()])

    def __len__(self) -> int:
        return len(self._task._names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._task._has(name)

    def __getattr__(self, name: str) -> DataArtifact:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._task._artifact(name)

    def __repr__(self) -> str:
        return f"<artifacts of {self._task.pathspec}: {', '.join(self._task._names()) or 'none'}>"


class DataArtifact(ClientObject):
    """One artifact of one task: its metadata without loading, and `.data` to load it."""

    _kind = "artifact"

    def __init__(self, pathspec: str, *, _task: Task | None = None, _ref: ArtifactRef | None = None,
                 _namespace: Any = UNSET, _namespace_check: bool = True) -> None:
        flow, run_id, step, task_id, name = parse(pathspec, "artifact")
        if _task is None:
            from .task import Task

            _task = Task(f"{flow}/{run_id}/{step}/{task_id}", _namespace=_namespace, _namespace_check=_namespace_check)
        if _ref is None:
            _ref = _task._ref(name)
        super().__init__(f"{_task.pathspec}/{name}", _task._ctx, _task._namespace, _task._namespace_check)
        self._task = _task
        self._ref = _ref

    @property
    def name(self) -> str:
        """The artifact's name."""
        return self.id

    @property
    def parent(self) -> Task:
        """The task that stored this artifact."""
        return self._task

    @property
    def data(self) -> Any:
        """The value, loaded from the content store (through the task's data, so loaded once)."""
        return self._task.data[self.name]

    @property
    def sha(self) -> str:
        """The content key of the value's blob (identical values share it)."""
        return self._ref.key

    @property
    def type(self) -> str:
        """The value's type name, e.g. `int` or `pandas.core.frame.DataFrame`."""
        return self._ref.type

    @property
    def size(self) -> int:
        """The serialized size in bytes."""
        return self._ref.size

    @property
    def serializer(self) -> str:
        """The name of the serializer that wrote the value."""
        return self._ref.serializer

    @property
    def created_at(self) -> Any:
        """When the task that stored the artifact finished."""
        return self._task.finished_at

    @property
    def finished_at(self) -> Any:
        """When the task that stored the artifact finished (Metaflow's alias of created_at)."""
        return self._task.finished_at

    @property
    def origin_pathspec(self) -> str | None:
        """This artifact in the task its task was cloned from by resume, or None."""
        origin = self._task.origin_pathspec
        return None if origin is None else f"{origin}/{self.name}"

    @property
    def tags(self) -> frozenset[str]:
        """The run's tags (user and system tags)."""
        return self._task.tags

    @property
    def user_tags(self) -> frozenset[str]:
        """The run's user tags."""
        return self._task.user_tags

    @property
    def system_tags(self) -> frozenset[str]:
        """The run's system tags."""
        return self._task.system_tags
