"""Step and Task: the tasks of a step, and what one task recorded (artifacts, logs, exception)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator

from ..datastore import ArtifactRef
from ..exceptions import ArtiflowException, NotFound, shown
from .base import UNSET, ClientObject, HasStatus, RunFacts, fetch_run, has_tags
from .context import Context, get_context, listing, to_datetime
from .data import ArtifactNotFound, ArtifactRead, Artifacts, DataArtifact, TaskData
from .pathspec import parse
from .records import Attempt, Metadata, TaskException

__all__ = ["Attempt", "Metadata", "Step", "Task", "TaskException", "step_order"]

OWN_ROW_WAIT = 10.0  # seconds a running task waits to see its own task row (the runner commits it in batches)

if TYPE_CHECKING:
    from ..metadata.records import RunRecord, TaskMetadataRecord, TaskRecord
    from .flow import Run
    from .metrics import MetricSet


def _is_own(pathspec: str) -> bool:
    """Whether `pathspec` is (or holds) the task this process is running."""
    from ..current import current

    own = current.get("pathspec") if current.is_running_flow else None
    return bool(own) and (own == pathspec or own.startswith(pathspec + "/"))


def _poll(query: Any, seconds: float = OWN_ROW_WAIT) -> list[TaskRecord]:
    """Query until it returns rows or `seconds` pass: a task may read itself before the runner commits its row."""
    deadline = time.monotonic() + seconds
    delay = 0.005
    rows = query()
    while not rows and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
        rows = query()
    return rows


def step_order(task_rows: list[TaskRecord]) -> list[str]:
    """Step names in the order their first task started (records come in start order)."""
    seen: dict[str, None] = {}
    for row in sorted(task_rows, key=lambda r: (r.created_at, r.task_id)):
        seen.setdefault(row.step, None)
    return list(seen)


class _InRun(RunFacts, ClientObject):
    """A step or task: knows its run's record (tags, user) without querying it again."""

    def __init__(self, pathspec: str, ctx: Context, run_row: RunRecord | None, flow: str, run_id: str,
                 namespace: Any = UNSET, namespace_check: bool = True) -> None:
        super().__init__(pathspec, ctx, namespace, namespace_check)
        self._run_row = run_row if run_row is not None else fetch_run(ctx, flow, run_id, self._visible_ns)
        self._ctx = ctx.for_run(self._run_row)  # its blobs: on the datastore recorded with its run

    @property
    def flow_name(self) -> str:
        """The name of the flow."""
        return self._run_row.flow

    @property
    def run_id(self) -> int:
        """The run's id, as a number."""
        return self._run_row.run_id

    def _run_origin(self) -> str | None:
        origin = self._run_row.origin_run_id
        return None if origin is None else f"{self.flow_name}/{origin}"


class Step(_InRun):
    """A step of a run: its tasks (one, or one per foreach element)."""

    _kind = "step"

    def __init__(self, pathspec: str, *, _ctx: Context | None = None, _run_row: RunRecord | None = None,
                 _rows: list[TaskRecord] | None = None, _namespace: Any = UNSET,
                 _namespace_check: bool = True) -> None:
        flow, run_id, name = parse(pathspec, "step")
        super().__init__(pathspec, _ctx or get_context(), _run_row, flow, run_id, _namespace, _namespace_check)
        self._pathspec = f"{flow}/{self._run_row.run_id}/{name}"
        self._rows = sorted(_rows if _rows is not None else self._query_rows(name), key=lambda r: r.task_id)
        self._ref_cache: dict[str, dict[int, ArtifactRef]] = {}

    def _query_rows(self, name: str) -> list[TaskRecord]:
        """This step's task records; NotFound listing the run's steps when it has none."""
        rows = self._ctx.meta.tasks(self.flow_name, self.run_id, name)
        if not rows and _is_own(self.pathspec):
            rows = _poll(lambda: self._ctx.meta.tasks(self.flow_name, self.run_id, name))
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

        return Run(f"{self.flow_name}/{self.run_id}", _ctx=self._ctx, _row=self._run_row, **self._ns())

    def _task(self, row: TaskRecord) -> Task:
        return Task(f"{self.pathspec}/{row.task_id}", _ctx=self._ctx, _run_row=self._run_row, _row=row, _step=self,
                    **self._ns())

    def _sibling(self, name: str) -> Step:
        return Step(f"{self.flow_name}/{self.run_id}/{name}", _ctx=self._ctx, _run_row=self._run_row, **self._ns())

    def tasks(self, *tags: str) -> list[Task]:
        """Every task of the step, by task id; none unless the run has every given tag."""
        if not has_tags(self._run_row, tags):
            return []
        return [self._task(row) for row in self._rows]

    def control_tasks(self, *tags: str) -> list[Task]:
        """The control tasks of the step (a @parallel step's or an unbounded foreach's coordinating task)."""
        if not has_tags(self._run_row, tags):
            return []
        ids = self._ctx.meta.tasks_with_metadata(self.flow_name, self.run_id, self.name, "internal_task_type",
                                                 "control")
        return [self._task(row) for row in self._rows if row.task_id in ids]

    @property
    def control_task(self) -> Task | None:
        """The step's first control task, or None when it has none."""
        tasks = self.control_tasks()
        return tasks[0] if tasks else None

    @property
    def parent_steps(self) -> list[Step]:
        """The steps whose tasks fed this step's tasks (none for start), in the order they ran."""
        names = {parent.split("/")[0] for row in self._rows for parent in row.parents}
        order = step_order(self._ctx.meta.tasks(self.flow_name, self.run_id))
        return [self._sibling(name) for name in order if name in names]

    @property
    def child_steps(self) -> list[Step]:
        """The steps that ran on this step's tasks' output (none for end), in the order they ran."""
        rows = self._ctx.meta.tasks(self.flow_name, self.run_id)
        mine = {f"{self.name}/{row.task_id}" for row in self._rows}
        names = {row.step for row in rows if mine.intersection(row.parents)}
        return [self._sibling(name) for name in step_order(rows) if name in names]

    @property
    def origin_pathspec(self) -> str | None:
        """This step in the run this run was resumed from, or None when the run is not a resume."""
        origin = self._run_origin()
        return None if origin is None else f"{origin}/{self.name}"

    @property
    def environment_info(self) -> None:
        """Information on the step's environment: None, as for local Metaflow runs without a code package."""
        return None

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, task_id: str | int) -> Task:
        row = next((r for r in self._rows if str(r.task_id) == str(task_id).strip()), None)
        if row is None and _is_own(f"{self.pathspec}/{str(task_id).strip()}"):
            query = lambda: [r for r in self._ctx.meta.tasks(self.flow_name, self.run_id, self.name)  # noqa: E731
                             if str(r.task_id) == str(task_id).strip()]
            row = next(iter(_poll(query)), None)
        if row is None:
            raise NotFound(f"Task {self.pathspec}/{shown(task_id)} does not exist; tasks of {self.pathspec}: "
                           f"{listing(r.task_id for r in self._rows)}.")
        return self._task(row)

    def __contains__(self, task_id: object) -> bool:
        return any(str(r.task_id) == str(task_id) for r in self._rows)

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
        return to_datetime(min(r.created_at for r in self._rows))  # type: ignore[return-value]

    @property
    def finished_at(self) -> datetime | None:
        """When the step's last task ended, or None while a task runs."""
        ends = [r.finished_at for r in self._rows]
        return None if None in ends else to_datetime(max(ends))

    def metrics(self, name: str | None = None) -> MetricSet:
        """The metric points of every task of the step (one metric if `name`), each task's latest attempt's."""
        from .metrics import MetricSet

        return MetricSet(self._ctx.meta.metrics(self.flow_name, self.run_id, self.name, name=name), self.pathspec)

    def _refs_for(self, name: str) -> dict[int, ArtifactRef]:
        """One artifact's refs in every task of the step, in one query (fast reads across tasks)."""
        if name not in self._ref_cache:
            self._ref_cache[name] = self._ctx.meta.artifact_in_tasks(self.flow_name, self.run_id, self.name, name)
        return self._ref_cache[name]


class Task(HasStatus, _InRun):
    """One execution of a step: its artifacts, logs, status and foreach position."""

    _kind = "task"

    def __init__(self, pathspec: str, *, _ctx: Context | None = None, _run_row: RunRecord | None = None,
                 _row: TaskRecord | None = None, _step: Step | None = None, _namespace: Any = UNSET,
                 _namespace_check: bool = True) -> None:
        flow, run_id, step, task_id = parse(pathspec, "task")
        super().__init__(pathspec, _ctx or get_context(), _run_row, flow, run_id, _namespace, _namespace_check)
        self._pathspec = f"{flow}/{self._run_row.run_id}/{step}/{task_id}"
        if _row is None:
            _step = Step(f"{flow}/{run_id}/{step}", _ctx=self._ctx, _run_row=self._run_row, **self._ns())
            _row = _step[task_id]._row
        self._row: TaskRecord = _row
        self._step = _step
        self._refs: dict[str, ArtifactRef] | None = None
        self._data: TaskData | None = None
        self._attempts: list[Attempt] | None = None
        self._metadata_rows: list[TaskMetadataRecord] | None = None
        self._producers: dict[str, tuple[str, ...]] | None = None
        self._metrics: MetricSet | None = None

    # -- position and status -------------------------------------------------------------------------
    @property
    def step_name(self) -> str:
        """The name of the task's step."""
        return self._row.step

    @property
    def parent(self) -> Step:
        """The step of this task."""
        if self._step is None:
            self._step = Step(self.pathspec.rsplit("/", 1)[0], _ctx=self._ctx, _run_row=self._run_row, **self._ns())
        return self._step

    @property
    def successful(self) -> bool:
        """True when the task's latest attempt succeeded (a failure caught by @catch is not a success)."""
        return self.status == "succeeded"

    @property
    def finished(self) -> bool:
        """True when the task completed: it succeeded, or @catch caught its failure (as on Metaflow)."""
        return self.status in ("succeeded", "caught")

    @property
    def attempt(self) -> int:
        """The number of the task's latest attempt (0 for the first; retries count up)."""
        return self._row.attempt

    @property
    def current_attempt(self) -> int:
        """The latest attempt that started, from the task's `attempt` metadata (Metaflow's name)."""
        return int(self.metadata_dict.get("attempt", self.attempt))

    @property
    def created_at(self) -> datetime:
        """When the task started."""
        return to_datetime(self._row.created_at)  # type: ignore[return-value]

    @property
    def finished_at(self) -> datetime | None:
        """When the task ended, or None while it runs."""
        return to_datetime(self._row.finished_at)

    @property
    def foreach_stack(self) -> list[dict[str, Any]]:
        """The foreach frames the task is in, outermost first: {step, var, index, num_splits}."""
        return [dict(frame) for frame in self._row.foreach_stack]

    @property
    def index(self) -> int | None:
        """The task's index in its innermost foreach, or None outside a foreach."""
        stack = self._row.foreach_stack
        return stack[-1]["index"] if stack else None

    @property
    def origin_pathspec(self) -> str | None:
        """The task of an earlier run this one was cloned from by resume, or None when it ran here."""
        return self._row.origin

    @property
    def cached_from(self) -> str | None:
        """The pathspec of the task whose artifacts this one reused by a step-cache hit, or None when it ran."""
        return self._row.cached_from

    @property
    def runtime_name(self) -> str | None:
        """Where the task ran, from the run's `runtime:<name>` tag; None when the run has none."""
        return next((t.split(":", 1)[1] for t in sorted(self.tags) if t.startswith("runtime:")), None)

    @property
    def code(self) -> Any:
        """The code of the task's run (a CodeSnapshot), or None for a run stored before artiflow kept code."""
        from ..lineage.code import code_of_run

        return code_of_run(self._ctx.store, self._run_row)

    @property
    def environment_info(self) -> None:
        """Information on the task's environment: None, as for local Metaflow runs without a code package."""
        return None

    # -- the task graph ---------------------------------------------------------------------------------
    @property
    def parent_task_pathspecs(self) -> list[str]:
        """Pathspecs of the tasks whose output this task started from (none for start)."""
        return [f"{self.flow_name}/{self.run_id}/{parent}" for parent in self._row.parents]

    @property
    def child_task_pathspecs(self) -> list[str]:
        """Pathspecs of the tasks that started from this task's output (none for end)."""
        me = f"{self.step_name}/{self._row.task_id}"
        rows = self._ctx.meta.tasks(self.flow_name, self.run_id)
        prefix = f"{self.flow_name}/{self.run_id}"
        return [f"{prefix}/{row.step}/{row.task_id}" for row in rows if me in row.parents]

    @property
    def parent_tasks(self) -> list[Task]:
        """The tasks whose output this task started from (none for start)."""
        return [Task(pathspec, _ctx=self._ctx, _run_row=self._run_row, _namespace_check=False)
                for pathspec in self.parent_task_pathspecs]

    @property
    def child_tasks(self) -> list[Task]:
        """The tasks that started from this task's output (none for end)."""
        return [Task(pathspec, _ctx=self._ctx, _run_row=self._run_row, _namespace_check=False)
                for pathspec in self.child_task_pathspecs]

    # -- lineage --------------------------------------------------------------------------------------
    @property
    def reads(self) -> list[ArtifactRead]:
        """What the task read, in order: through self, a join's inputs, its foreach element, or the client.

        A parameter read is a root (no producers); a task reused by resume or the step cache has the reads
        of the task that ran the code.
        """
        reads = self._ctx.meta.task_reads(self.flow_name, self.run_id, self.step_name, self._row.task_id)
        return [ArtifactRead(r.name, r.key, r.producers, r.kind, r.source, self) for r in reads]

    def _artifact_producers(self) -> dict[str, tuple[str, ...]]:
        """Per artifact, the task pathspecs that first produced its value (queried once)."""
        if self._producers is None:
            self._producers = self._ctx.meta.artifact_producers(self.flow_name, self.run_id, self.step_name,
                                                                self._row.task_id)
        return self._producers

    def _related(self, pathspec: str) -> Task:
        """A task this one's lineage names (a producer, in any run), visible whatever the namespace."""
        if pathspec == self.pathspec:
            return self
        same_run = pathspec.rsplit("/", 2)[0] == f"{self.flow_name}/{self.run_id}"
        return Task(pathspec, _ctx=self._ctx, _run_row=self._run_row if same_run else None, _namespace_check=False)

    # -- metadata -------------------------------------------------------------------------------------
    def _metadata(self) -> list[TaskMetadataRecord]:
        if self._metadata_rows is None:
            self._metadata_rows = self._ctx.meta.task_metadata(self.flow_name, self.run_id, self.step_name,
                                                               self._row.task_id)
        return self._metadata_rows

    @property
    def metadata(self) -> list[Metadata]:
        """Every metadata entry the task recorded, all attempts, oldest first (e.g. `attempt`, `origin-run-id`)."""
        return [Metadata(row.field, row.value, int(row.ts * 1000), row.type, self)
                for row in self._metadata()]

    @property
    def metadata_dict(self) -> dict[str, str]:
        """Each metadata field's latest value."""
        return {row.field: row.value for row in self._metadata()}

    # -- metrics --------------------------------------------------------------------------------------
    @property
    def metrics(self) -> MetricSet:
        """The metric points the task logged (`self.log_metric`), in order: those of its latest attempt that
        logged any (a failed attempt's too); `task.attempts[i].metrics` for another attempt's."""
        if self._metrics is None:
            from .metrics import MetricSet

            self._metrics = MetricSet(self._ctx.meta.metrics(self.flow_name, self.run_id, self.step_name,
                                                             self._row.task_id), self.pathspec)
        return self._metrics

    # -- attempts, logs, exception -------------------------------------------------------------------
    @property
    def attempts(self) -> list[Attempt]:
        """Every attempt of the task, first to latest."""
        if self._attempts is None:
            rows = self._ctx.meta.attempts(self.flow_name, self.run_id, self.step_name, self._row.task_id)
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
    def stdout_size(self) -> int:
        """The size in bytes of the latest attempt's stdout."""
        latest = self._latest()
        return len(latest._log_bytes("stdout")) if latest else 0

    @property
    def stderr_size(self) -> int:
        """The size in bytes of the latest attempt's stderr."""
        latest = self._latest()
        return len(latest._log_bytes("stderr")) if latest else 0

    def loglines(self, stream: str, as_unicode: bool = True,
                 meta_dict: Any = None) -> Iterator[tuple[datetime | None, Any]]:
        """(timestamp, line) pairs of the latest attempt's `stdout` or `stderr` (UTC; the attempt's end time)."""
        latest = self._latest()
        if latest is None:
            if stream not in ("stdout", "stderr"):
                raise ValueError(f"Unknown log stream {stream!r}: use 'stdout' or 'stderr'.")
            return iter(())
        return latest.loglines(stream, as_unicode)

    @property
    def exception(self) -> TaskException | None:
        """The exception of the latest attempt, or None when it raised none."""
        latest = self._latest()
        return latest.exception if latest else None

    # -- artifacts ------------------------------------------------------------------------------------
    def _all_refs(self) -> dict[str, ArtifactRef]:
        """Every artifact ref of the task, queried once."""
        if self._refs is None:
            self._refs = self._ctx.meta.artifacts(self.flow_name, self.run_id, self.step_name, self._row.task_id)
        return self._refs

    def _ref(self, name: str) -> ArtifactRef:
        """One artifact's ref (via the step's one-query cache when reached from a step)."""
        if self._refs is None and self._step is not None:
            ref = self._step._refs_for(name).get(self._row.task_id)
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
