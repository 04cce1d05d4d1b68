"""Metaflow(), Flow and Run: the top of the client hierarchy."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..exceptions import NamespaceMismatch, NotFound
from . import tagging
from .base import UNSET, ClientObject, HasStatus, RunFacts, check_flow, fetch_run, flow_names, has_tags
from .context import Context, get_context, get_namespace, is_visible, listing, to_datetime
from .pathspec import parse, run_number
from .task import Step, Task, TaskData, step_order

if TYPE_CHECKING:
    from ..metadata.records import RunRecord, TaskRecord
    from .metrics import MetricSet


class Metaflow:
    """Entry point that lists the flows visible in the current namespace."""

    def __init__(self) -> None:
        self._ctx = get_context()

    @property
    def flows(self) -> list[Flow]:
        """Every flow with at least one run in the current namespace, by name."""
        ns = get_namespace()
        meta = self._ctx.meta
        names = [n for n in flow_names(self._ctx) if any(is_visible(r, ns) for r in meta.runs(n))]
        return [Flow(name, _ctx=self._ctx) for name in names]

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows)

    def __repr__(self) -> str:
        return "Metaflow()"


class Flow(ClientObject):
    """A flow by name: its runs (newest first), filtered by the namespace it was made in."""

    _kind = "flow"

    def __init__(self, name: str, *, _ctx: Context | None = None, _namespace: Any = UNSET,
                 _namespace_check: bool = True) -> None:
        direct = _ctx is None
        if direct:
            (name,) = parse(name, "flow")
            _ctx = get_context()
            check_flow(_ctx, name)
        super().__init__(name, _ctx, _namespace, _namespace_check)
        if direct and self._namespace_check and not self._run_rows():
            self._not_in_namespace()

    def _not_in_namespace(self) -> None:
        """Raise NamespaceMismatch for a flow none of whose runs is in this namespace, naming whose they are."""
        owners = sorted({t for row in self._ctx.meta.runs(self.name) for t in row.system_tags
                         if t.startswith("user:")})
        hint = f", or namespace('{owners[0]}') to see that user's runs" if owners else ""
        raise NamespaceMismatch(f"Flow {self.name} has no run in the current namespace '{self._namespace}': its runs "
                                f"are in {listing(owners)}. Call namespace(None) to see runs of every "
                                f"namespace{hint}.")

    @property
    def name(self) -> str:
        """The flow's name (its class name)."""
        return self._pathspec

    @property
    def parent(self) -> None:
        """A flow has no parent."""
        return None

    @property
    def tags(self) -> frozenset[str]:
        """A flow has no tags (its runs do), as on Metaflow."""
        return frozenset()

    @property
    def user_tags(self) -> frozenset[str]:
        """A flow has no tags (its runs do)."""
        return frozenset()

    @property
    def system_tags(self) -> frozenset[str]:
        """A flow has no tags (its runs do)."""
        return frozenset()

    @property
    def origin_pathspec(self) -> None:
        """A flow is never resumed from anything (runs are)."""
        return None

    def _run_rows(self) -> list[RunRecord]:
        """Records of the runs visible in this flow's namespace, newest first (queried afresh)."""
        ns = self._visible_ns
        return [row for row in self._ctx.meta.runs(self.name) if is_visible(row, ns)]

    def _run(self, row: RunRecord) -> Run:
        return Run(f"{self.name}/{row.run_id}", _ctx=self._ctx, _row=row, **self._ns())

    def __iter__(self) -> Iterator[Run]:
        return iter([self._run(row) for row in self._run_rows()])

    def runs(self, *tags: str) -> list[Run]:
        """Visible runs that carry every given tag (user or system tags), newest first."""
        return [self._run(row) for row in self._run_rows() if has_tags(row, tags)]

    @property
    def latest_run(self) -> Run | None:
        """The newest visible run, or None when the namespace holds no run of this flow."""
        rows = self._run_rows()
        return self._run(rows[0]) if rows else None

    @property
    def latest_successful_run(self) -> Run | None:
        """The newest visible run that succeeded, or None."""
        row = next((r for r in self._run_rows() if r.status == "succeeded"), None)
        return self._run(row) if row else None

    def __getitem__(self, run_id: str | int) -> Run:
        row = fetch_run(self._ctx, self.name, run_id, self._visible_ns)
        return self._run(row)

    def __contains__(self, run_id: object) -> bool:
        number = run_number(run_id)
        row = None if number is None else self._ctx.meta.run(self.name, number)
        return row is not None and is_visible(row, self._visible_ns)

    @property
    def created_at(self) -> datetime | None:
        """When the first run of this flow started."""
        rows = self._ctx.meta.runs(self.name)
        return to_datetime(rows[-1].created_at) if rows else None


class Run(HasStatus, RunFacts, ClientObject):
    """One execution of a flow: its steps, status, times, tags and the end step's data."""

    _kind = "run"

    def __init__(self, pathspec: str, *, _ctx: Context | None = None, _row: RunRecord | None = None,
                 _namespace: Any = UNSET, _namespace_check: bool = True) -> None:
        super().__init__(pathspec, _ctx or get_context(), _namespace, _namespace_check)
        if _row is None:
            flow, run_id = parse(pathspec, "run")
            _row = fetch_run(self._ctx, flow, run_id, self._visible_ns)
            self._pathspec = f"{flow}/{_row.run_id}"
        self._row: RunRecord = _row
        self._ctx = self._ctx.for_run(_row)  # its blobs: on the datastore recorded with it
        self._task_rows: list[TaskRecord] | None = None

    # -- the run's own facts ----------------------------------------------------------------------
    @property
    def flow_name(self) -> str:
        """The name of the flow this run belongs to."""
        return self._row.flow

    @property
    def parent(self) -> Flow:
        """The flow of this run."""
        return Flow(self.flow_name, _ctx=self._ctx, **self._ns())

    @property
    def created_at(self) -> datetime:
        """When the run started."""
        return to_datetime(self._row.created_at)  # type: ignore[return-value]

    @property
    def finished_at(self) -> datetime | None:
        """When the run ended, or None while it runs."""
        return to_datetime(self._row.finished_at)

    @property
    def successful(self) -> bool:
        """True when the end step's task succeeded (as on Metaflow)."""
        end = self.end_task
        return end is not None and end.successful

    @property
    def finished(self) -> bool:
        """True when the end step's task finished: a failed run is not finished (as on Metaflow)."""
        end = self.end_task
        return end is not None and end.finished

    @property
    def origin_pathspec(self) -> str | None:
        """The run this one was resumed from (`Flow/run`), or None when it was not a resume."""
        origin = self._row.origin_run_id
        return None if origin is None else f"{self.flow_name}/{origin}"

    @property
    def code(self) -> Any:
        """The run's stored code (a CodeSnapshot: `.flowspec`, `.files`, `.extract(dir)`); None for older runs."""
        from ..lineage.code import code_of_run

        return code_of_run(self._ctx.store, self._row)

    @property
    def environment(self) -> dict[str, Any] | None:
        """The run's environment (Python, platform, package versions, artiflow's version); None for older runs."""
        from ..lineage.code import environment_of_run

        return environment_of_run(self._ctx.store, self._row)

    @property
    def _run_row(self) -> RunRecord:
        return self._row

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameter values the run was started with."""
        return dict(self._row.params)

    # -- steps ----------------------------------------------------------------------------------------
    def _tasks(self) -> list[TaskRecord]:
        """Every task record of the run, queried once per Run object."""
        if self._task_rows is None:
            self._task_rows = self._ctx.meta.tasks(self.flow_name, self._row.run_id)
        return self._task_rows

    def _step(self, name: str, rows: list[TaskRecord]) -> Step:
        return Step(f"{self.pathspec}/{name}", _ctx=self._ctx, _run_row=self._row, _rows=rows, **self._ns())

    def steps(self, *tags: str) -> list[Step]:
        """The steps that have tasks, in the order they started; none unless the run has every given tag."""
        if not has_tags(self._row, tags):
            return []
        rows = self._tasks()
        return [self._step(name, [r for r in rows if r.step == name]) for name in step_order(rows)]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    def __getitem__(self, name: str) -> Step:
        rows = [r for r in self._tasks() if r.step == name]
        if not rows:
            raise NotFound(f"Step {self.pathspec}/{name} does not exist; steps of {self.pathspec}: "
                           f"{listing(step_order(self._tasks()))}.")
        return self._step(name, rows)

    def __contains__(self, name: object) -> bool:
        return any(r.step == name for r in self._tasks())

    @property
    def end_task(self) -> Task | None:
        """The task of the `end` step, or None if the run has not reached it."""
        return self["end"].task if "end" in self else None

    @property
    def data(self) -> TaskData:
        """The artifacts of the end step; NotFound while the run has no finished end task (succeeded or caught)."""
        end = self.end_task
        if end is None or not end.finished:
            state = ("has no end task yet" if end is None else "is still running its end task"
                     if end.status == "running" else f"has an end task that {end.status}")
            raise NotFound(f"Run {self.pathspec} {state} (run status: {self.status}), so run.data has nothing "
                           f"to show. Read a step's artifacts instead, e.g. run['{self._last_step()}'].task.data.")
        return end.data

    def metrics(self, name: str | None = None) -> MetricSet:
        """The metric points of every task of the run (one metric if `name`), in one query: by task, as logged.

        Each task's points are those of its latest attempt that logged any.
        """
        from .metrics import MetricSet

        return MetricSet(self._ctx.meta.metrics(self.flow_name, self._row.run_id, name=name), self.pathspec)

    def _last_step(self) -> str:
        order = step_order(self._tasks())
        return order[-1] if order else "start"

    # -- tag changes ----------------------------------------------------------------------------------
    def add_tag(self, tag: str) -> None:
        """Add a user tag (a tag that is already a system tag is left as it is)."""
        self.replace_tags([], tagging.one_or_many(tag))

    def add_tags(self, tags: Iterable[str]) -> None:
        """Add user tags (those that are already system tags are left as they are)."""
        self.replace_tags([], tags)

    def remove_tag(self, tag: str) -> None:
        """Remove a user tag (nothing happens if the run does not have it; a system tag is an error)."""
        self.replace_tags(tagging.one_or_many(tag), [])

    def remove_tags(self, tags: Iterable[str]) -> None:
        """Remove user tags; all or nothing: if one is a system tag, none is removed."""
        self.replace_tags(tags, [])

    def replace_tag(self, tag_to_remove: str, tag_to_add: str) -> None:
        """Remove one tag and add another, in one step (the removal first)."""
        self.replace_tags(tagging.one_or_many(tag_to_remove), tagging.one_or_many(tag_to_add))

    def replace_tags(self, tags_to_remove: Iterable[str], tags_to_add: Iterable[str]) -> None:
        """Remove tags then add tags, in one transaction; this run object (and its steps) see the result."""
        tagging.mutate(self._ctx.meta, self._row, tags_to_remove, tags_to_add)
