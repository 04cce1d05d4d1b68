"""Metaflow(), Flow and Run: the top of the client hierarchy."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from ..exceptions import NotFound
from .base import ClientObject, HasStatus, RunFacts, check_flow, fetch_run, flow_names
from .context import Context, get_context, get_namespace, is_visible, listing, to_datetime
from .pathspec import parse
from .task import Step, Task, TaskData, step_order


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
    """A flow by name: its runs (newest first), filtered by the current namespace."""

    _kind = "flow"

    def __init__(self, name: str, *, _ctx: Context | None = None) -> None:
        if _ctx is None:
            (name,) = parse(name, "flow")
            _ctx = get_context()
            check_flow(_ctx, name)
        super().__init__(name, _ctx)

    @property
    def name(self) -> str:
        """The flow's name (its class name)."""
        return self._pathspec

    @property
    def parent(self) -> None:
        """A flow has no parent."""
        return None

    def _run_rows(self) -> list[dict[str, Any]]:
        """Rows of the runs visible in the current namespace, newest first (queried afresh)."""
        ns = get_namespace()
        return [row for row in self._ctx.meta.runs(self.name) if is_visible(row, ns)]

    def _run(self, row: dict[str, Any]) -> Run:
        return Run(f"{self.name}/{row['run_id']}", _ctx=self._ctx, _row=row)

    def __iter__(self) -> Iterator[Run]:
        return iter([self._run(row) for row in self._run_rows()])

    def runs(self, *tags: str) -> list[Run]:
        """Visible runs that carry every given tag (user or system tags), newest first."""
        wanted = set(tags)
        return [self._run(row) for row in self._run_rows()
                if wanted <= set(row["tags"]) | set(row["system_tags"])]

    @property
    def latest_run(self) -> Run | None:
        """The newest visible run, or None when the namespace holds no run of this flow."""
        rows = self._run_rows()
        return self._run(rows[0]) if rows else None

    @property
    def latest_successful_run(self) -> Run | None:
        """The newest visible run that succeeded, or None."""
        row = next((r for r in self._run_rows() if r["status"] == "succeeded"), None)
        return self._run(row) if row else None

    def __getitem__(self, run_id: str | int) -> Run:
        row = fetch_run(self._ctx, self.name, run_id)
        return self._run(row)

    def __contains__(self, run_id: object) -> bool:
        try:
            row = self._ctx.meta.run(self.name, int(run_id))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return row is not None and is_visible(row, get_namespace())

    @property
    def created_at(self) -> datetime | None:
        """When the first run of this flow started."""
        rows = self._ctx.meta.runs(self.name)
        return to_datetime(rows[-1]["created_at"]) if rows else None


class Run(HasStatus, RunFacts, ClientObject):
    """One execution of a flow: its steps, status, times, tags and the end step's data."""

    _kind = "run"

    def __init__(self, pathspec: str, *, _ctx: Context | None = None, _row: dict[str, Any] | None = None) -> None:
        if _ctx is None or _row is None:
            flow, run_id = parse(pathspec, "run")
            _ctx = _ctx or get_context()
            _row = fetch_run(_ctx, flow, run_id)
            pathspec = f"{flow}/{_row['run_id']}"
        super().__init__(pathspec, _ctx)
        self._row = _row
        self._task_rows: list[dict[str, Any]] | None = None

    # -- the run's own facts ----------------------------------------------------------------------
    @property
    def flow_name(self) -> str:
        """The name of the flow this run belongs to."""
        return self._row["flow"]

    @property
    def parent(self) -> Flow:
        """The flow of this run."""
        return Flow(self.flow_name, _ctx=self._ctx)

    @property
    def created_at(self) -> datetime:
        """When the run started."""
        return to_datetime(self._row["created_at"])  # type: ignore[return-value]

    @property
    def finished_at(self) -> datetime | None:
        """When the run ended, or None while it runs."""
        return to_datetime(self._row["finished_at"])

    @property
    def _run_row(self) -> dict[str, Any]:
        return self._row

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameter values the run was started with."""
        return dict(self._row["params"])

    # -- steps ----------------------------------------------------------------------------------------
    def _tasks(self) -> list[dict[str, Any]]:
        """Every task row of the run, queried once per Run object."""
        if self._task_rows is None:
            self._task_rows = self._ctx.meta.tasks(self.flow_name, self._row["run_id"])
        return self._task_rows

    def _step(self, name: str, rows: list[dict[str, Any]]) -> Step:
        return Step(f"{self.pathspec}/{name}", _ctx=self._ctx, _run_row=self._row, _rows=rows)

    def steps(self) -> list[Step]:
        """The steps that have tasks, in the order they started."""
        rows = self._tasks()
        return [self._step(name, [r for r in rows if r["step"] == name]) for name in step_order(rows)]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    def __getitem__(self, name: str) -> Step:
        rows = [r for r in self._tasks() if r["step"] == name]
        if not rows:
            raise NotFound(f"Step {self.pathspec}/{name} does not exist; steps of {self.pathspec}: "
                           f"{listing(step_order(self._tasks()))}.")
        return self._step(name, rows)

    def __contains__(self, name: object) -> bool:
        return any(r["step"] == name for r in self._tasks())

    @property
    def end_task(self) -> Task | None:
        """The task of the `end` step, or None if the run has not reached it."""
        return self["end"].task if "end" in self else None

    @property
    def data(self) -> TaskData:
        """The artifacts of the end step; NotFound while the run has no successful end task."""
        end = self.end_task
        if end is None or not end.successful:
            state = ("has no end task yet" if end is None else "is still running its end task"
                     if end.status == "running" else f"has an end task that {end.status}")
            raise NotFound(f"Run {self.pathspec} {state} (run status: {self.status}), so run.data has nothing "
                           f"to show. Read a step's artifacts instead, e.g. run['{self._last_step()}'].task.data.")
        return end.data

    def _last_step(self) -> str:
        order = step_order(self._tasks())
        return order[-1] if order else "start"
