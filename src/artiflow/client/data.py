"""A task's artifacts: lazy attribute access (`task.data.x`) and DataArtifact objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from ..datastore import ArtifactRef
from ..exceptions import NotFound
from ..lineage.reads import note_client_read
from .base import UNSET, ClientObject
from .pathspec import parse

if TYPE_CHECKING:
    from ..lineage.graph import LineageGraph
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
            ref = task._ref(name)
            values[name] = task._ctx.store.load(ref, name, task.pathspec)
            note_client_read(task, name, ref.key)  # inside a running step, a read for lineage
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

    def _repr_html_(self) -> str:
        """How a notebook shows a task's data: its artifact table (see client/display.py)."""
        from .display import task_data_html

        return task_data_html(self)


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


@dataclass(frozen=True)
class ArtifactRead:
    """One artifact a task read: its name, content key (`sha`), who first produced the value, and how it was read.

    `producer_pathspecs` are task pathspecs (none for a parameter: a root); `producers` makes them client
    Tasks when asked. `kind` is artifact, parameter, foreach (self.input: `sha` is the foreach list's) or
    client (read through the client inside the step: `source` is the artifact pathspec it read).
    """

    name: str
    sha: str
    producer_pathspecs: tuple[str, ...]
    kind: str
    source: str | None = None
    _reader: Task | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        """The content key of the value read (the same as `sha`)."""
        return self.sha

    @property
    def producers(self) -> list[Task]:
        """The tasks that first produced the value read, as client Tasks (in any namespace)."""
        return [self._reader._related(p) for p in self.producer_pathspecs] if self._reader else []

    @property
    def produced_by(self) -> Task | None:
        """The first of `producers`, or None for a parameter."""
        first = self.producer_pathspecs[:1]
        return self._reader._related(first[0]) if first and self._reader else None


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
    def preview(self) -> dict[str, Any] | None:
        """The preview made when the value was saved (kind, summary, ...; see docs/concepts.md), or None.

        Read from the metadata only: the value's blob is never loaded. None for a value saved before
        artiflow made previews.
        """
        return self._ctx.meta.previews([self.sha]).get(self.sha)

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

    # -- lineage --------------------------------------------------------------------------------------
    @property
    def producer_pathspecs(self) -> tuple[str, ...]:
        """The task pathspecs that first produced this value: one, several for a value merged in a join, none
        for a parameter (or a value stored before artiflow recorded lineage)."""
        return self._task._artifact_producers().get(self.name, ())

    @property
    def producers(self) -> list[Task]:
        """The tasks that first produced this value, as client Tasks (in any namespace)."""
        return [self._task._related(p) for p in self.producer_pathspecs]

    @property
    def produced_by(self) -> Task | None:
        """The task that first produced this value (the first one, for a merged value); None for a parameter."""
        pathspecs = self.producer_pathspecs
        return self._task._related(pathspecs[0]) if pathspecs else None

    def lineage(self, depth: int | None = None) -> LineageGraph:
        """The tasks and artifacts this value came from, `depth` task levels back (None: back to the roots)."""
        from ..lineage.graph import build_lineage

        return build_lineage(self._ctx.meta, self.pathspec, self.sha, self.producer_pathspecs, depth)
