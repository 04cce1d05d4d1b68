"""Step and Task: the tasks of a step, and what one task recorded (artifacts, logs, exception)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator

from ..datastore import ArtifactRef
from ..exceptions import ArtiflowException, NotFound
from .base import ClientObject, HasStatus, RunFacts, fetch_run
from .context import Context, get_context, listing, to_datetime
from .data import ArtifactNotFound, Artifacts, DataArtifact, TaskData
from .pathspec import parse

if TYPE_CHECKING:
    from .flow import Run


def step_order(task_rows: list[dict[str, Any]]) -> list[str]:
    """Step names in the order their first task started (rows come in start order)."""
    seen: dict[str, None] = {}
    for row in sorted(task_rows, key=lambda r: (r["created_at"], r["task_id"])):
        seen.setdefault(row["step"], None)
    return list(seen)


class _InRun(RunFacts, ClientObject):
    """A step or task: knows its run's row (tags, user) without querying it again."""

    def __init__(self, pathspec: str, ctx: Context, run_row: dict[str, Any]) -> None:
        super().__init__(pathspec, ctx)
        self._run_row = run_row

    @property
    def flow_name(self) -> str:
        """The name of the flow."""
        return self._run_row["flow"]

    @property
    def run_id(self) -> int:
        """The run's id, as a number."""
        return self._run_row["run_id"]


class Step(_InRun):
    """A step of a run: its tasks (one, or one per foreach element)."""

    _kind = "step"

    def __init__(self, pathspec: str, *, _ctx: Context | None = None, _run_row: dict[str, Any] | None = None,
                 _rows: list[dict[str, Any]] | None = None) -> None:
        flow, run_id, name = parse(pathspec, "step")
        ctx = _ctx or get_context()
        run_row = _run_row or fetch_run(ctx, flow, run_id)
        super().__init__(f"{flow}/{run_row['run_id']}/{name}", ctx, run_row)
        self._rows = sorted(_rows if _rows is not None else self._query_rows(name), key=lambda r: r["task_id"])
        self._ref_cache: dict[str, dict[int, ArtifactRef]] = {}

    def _query_rows(self, name: str) -> list[dict[str, Any]]:
        """This step's task rows; NotFound listing the run's steps when it has none."""
        rows = self._ctx.meta.tasks(self.flow_name, self.run_id, name)
        if not rows:
            run = f"{self.flow_name}/{self.run_id}"
            steps = step_order(self._ctx.meta.tasks(self.flow_name, self.run_id))
            raise NotFound(f"Step {self.pathspec} does not exist; steps of {run}: {listing(steps)}.")
        return rows

    @property
    def name(self) -> str:
        """The step's name."""
        return self.id

    @property
    def parent(self) -> Run:
        """The run of this step."""
        from .flow import Run

        return Run(f"{self.flow_name}/{self.run_id}", _ctx=self._ctx, _row=self._run_row)

    def _task(self, row: dict[str, Any]) -> Task:
        return Task(f"{self.pathspec}/{row['task_id']}", _ctx=self._ctx, _run_row=self._run_row, _row=row, _step=self)

    def tasks(self) -> list[Task]:
        """Every task of the step, by task id."""
        return [self._task(row) for row in self._rows]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, task_id: str | int) -> Task:
        row = next((r for r in self._rows if str(r["task_id"]) == str(task_id).strip()), None)
        if row is None:
            raise NotFound(f"Task {self.pathspec}/{task_id} does not exist; tasks of {self.pathspec}: "
                           f"{listing(r['task_id'] for r in self._rows)}.")
        return self._task(row)

    def __contains__(self, task_id: object) -> bool:
        return any(str(r["task_id"]) == str(task_id) for r in self._rows)

    @property
    def task(self) -> Task:
        """The step's task; for a step with several tasks, the first one (by task id)."""
        return self._task(self._rows[0])

    @property
    def data(self) -> TaskData:
        """The artifacts of the step's only task; an error when the step has several tasks."""
        if len(self._rows) > 1:
            raise ArtiflowException(
                f"Step {self.pathspec} has {len(self._rows)} tasks, so step.data is ambiguous. Use "
                f"step.task.data for the first task, or iterate: [task.data.x for task in run['{self.name}']].")
        return self.task.data

    @property
    def created_at(self) -> datetime:
        """When the step's first task started."""
        return to_datetime(min(r["created_at"] for r in self._rows))  # type: ignore[return-value]

    @property
    def finished_at(self) -> datetime | None:
        """When the step's last task ended, or None while a task runs."""
        ends = [r["finished_at"] for r in self._rows]
        return None if None in ends else to_datetime(max(ends))

    def _refs_for(self, name: str) -> dict[int, ArtifactRef]:
        """One artifact's refs in every task of the step, in one query (fast reads across tasks)."""
        if name not in self._ref_cache:
            self._ref_cache[name] = self._ctx.meta.artifact_in_tasks(self.flow_name, self.run_id, self.name, name)
        return self._ref_cache[name]


@dataclass(frozen=True)
class TaskException:
    """The exception a task attempt raised: its type name, message and formatted traceback."""

    type: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


def _exception(record: dict[str, Any] | None) -> TaskException | None:
    if not record:
        return None
    return TaskException(record.get("type", ""), record.get("message", ""), record.get("traceback", ""))


class Attempt:
    """One attempt of a task (a retry is a new attempt): status, times, logs and exception."""

    def __init__(self, row: dict[str, Any], ctx: Context) -> None:
        self._row = row
        self._ctx = ctx
        self.number: int = row["attempt"]
        self.status: str = row["status"]
        self.started_at = to_datetime(row["started_at"])
        self.finished_at = to_datetime(row["finished_at"])
        self.exception = _exception(row["exception"])

    def _log(self, key: str | None) -> str:
        return "" if not key else bytes(self._ctx.store.get_bytes(key)).decode("utf-8", errors="replace")

    @property
    def stdout(self) -> str:
        """What this attempt printed to stdout."""
        return self._log(self._row["stdout_key"])

    @property
    def stderr(self) -> str:
        """What this attempt printed to stderr."""
        return self._log(self._row["stderr_key"])

    def __repr__(self) -> str:
        return f"<Attempt {self.number} {self.status}>"


class Task(HasStatus, _InRun):
    """One execution of a step: its artifacts, logs, status and foreach position."""

    _kind = "task"

    def __init__(self, pathspec: str, *, _ctx: Context | None = None, _run_row: dict[str, Any] | None = None,
                 _row: dict[str, Any] | None = None, _step: Step | None = None) -> None:
        flow, run_id, step, task_id = parse(pathspec, "task")
        ctx = _ctx or get_context()
        run_row = _run_row or fetch_run(ctx, flow, run_id)
        super().__init__(f"{flow}/{run_row['run_id']}/{step}/{task_id}", ctx, run_row)
        if _row is None:
            _step = Step(f"{flow}/{run_id}/{step}", _ctx=ctx, _run_row=run_row)
            _row = _step[task_id]._row
        self._row = _row
        self._step = _step
        self._refs: dict[str, ArtifactRef] | None = None
        self._data: TaskData | None = None
        self._attempts: list[Attempt] | None = None

    # -- position and status -------------------------------------------------------------------------
    @property
    def step_name(self) -> str:
        """The name of the task's step."""
        return self._row["step"]

    @property
    def parent(self) -> Step:
        """The step of this task."""
        if self._step is None:
            self._step = Step(self.pathspec.rsplit("/", 1)[0], _ctx=self._ctx, _run_row=self._run_row)
        return self._step

    @property
    def attempt(self) -> int:
        """The number of the task's latest attempt (0 for the first; retries count up)."""
        return self._row.get("attempt") or 0

    @property
    def created_at(self) -> datetime:
        """When the task started."""
        return to_datetime(self._row["created_at"])  # type: ignore[return-value]

    @property
    def finished_at(self) -> datetime | None:
        """When the task ended, or None while it runs."""
        return to_datetime(self._row["finished_at"])

    @property
    def foreach_stack(self) -> list[dict[str, Any]]:
        """The foreach frames the task is in, outermost first: {step, var, index, num_splits}."""
        return [dict(frame) for frame in self._row["foreach_stack"]]

    @property
    def index(self) -> int | None:
        """The task's index in its innermost foreach, or None outside a foreach."""
        stack = self._row["foreach_stack"]
        return stack[-1]["index"] if stack else None

    @property
    def origin_pathspec(self) -> str | None:
        """The task this one was cloned from (by resume or caching), if any."""
        return self._row.get("origin")

    # -- attempts, logs, exception -------------------------------------------------------------------
    @property
    def attempts(self) -> list[Attempt]:
        """Every attempt of the task, first to latest."""
        if self._attempts is None:
            rows = self._ctx.meta.attempts(self.flow_name, self.run_id, self.step_name, self._row["task_id"])
            self._attempts = [Attempt(row, self._ctx) for row in rows]
        return self._attempts

    def _latest(self) -> Attempt | None:
        attempts = self.attempts
        return attempts[-1] if attempts else None

    @property
    def stdout(self) -> str:
        """What the latest attempt printed to stdout."""
        latest = self._latest()
        return latest.stdout if latest else ""

    @property
    def stderr(self) -> str:
        """What the latest attempt printed to stderr."""
        latest = self._latest()
        return latest.stderr if latest else ""

    @property
    def exception(self) -> TaskException | None:
        """The exception of the latest attempt, or None when it raised none."""
        latest = self._latest()
        return latest.exception if latest else None

    # -- artifacts ------------------------------------------------------------------------------------
    def _all_refs(self) -> dict[str, ArtifactRef]:
        """Every artifact ref of the task, queried once."""
        if self._refs is None:
            self._refs = self._ctx.meta.artifacts(self.flow_name, self.run_id, self.step_name, self._row["task_id"])
        return self._refs

    def _ref(self, name: str) -> ArtifactRef:
        """One artifact's ref (via the step's one-query cache when reached from a step)."""
        if self._refs is None and self._step is not None:
            ref = self._step._refs_for(name).get(self._row["task_id"])
            if ref is not None:
                return ref
        refs = self._all_refs()
        if name not in refs:
            raise ArtifactNotFound(self._missing(name))
        return refs[name]

    def _missing(self, name: str) -> str:
        """The message for an artifact this task does not have."""
        text = f"Artifact {name} does not exist in task {self.pathspec}; artifacts: {listing(self._all_refs())}."
        if not self.successful:
            text += f" The task {self.status}: artifacts are stored only when a task succeeds."
        return text

    def _names(self) -> list[str]:
        return list(self._all_refs())

    def _has(self, name: str) -> bool:
        return name in self._all_refs()

    @property
    def data(self) -> TaskData:
        """The task's artifacts by attribute, loaded lazily: `task.data.x`, `"x" in task.data`."""
        if self._data is None:
            self._data = TaskData(self)
        return self._data

    @property
    def artifacts(self) -> Artifacts:
        """The task's artifacts as DataArtifact objects: iterate, or `task.artifacts.x`."""
        return Artifacts(self)

    def _artifact(self, name: str) -> DataArtifact:
        return DataArtifact(f"{self.pathspec}/{name}", _task=self, _ref=self._ref(name))

    def __iter__(self) -> Iterator[DataArtifact]:
        return iter(self.artifacts)

    def __getitem__(self, name: str) -> DataArtifact:
        return self._artifact(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._has(name)
