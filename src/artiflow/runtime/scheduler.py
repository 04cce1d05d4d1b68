"""The run loop: decides which tasks run when, records them, and follows the graph.

The scheduler never runs user code; an executor does (runtime/local.py forks a process per task).
It applies the step decorators (@retry, @catch, @timeout) and, on resume, reuses the origin run's
tasks instead of running them.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import platform
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Hashable

from ..datastore import ArtifactRef, ContentStore
from ..decorators import CaughtException, StepDecorator, all_step_decorators, step_decorators
from ..exceptions import (ArtiflowException, FailureHandledByCatch, TimeoutException,
                          qualified_type_name)
from ..flowspec import FlowSpec, Frame
from ..graph import FlowGraph
from ..lineage.records import Producers
from ..metadata import MetadataStore
from ..metadata.records import TaskRecord
from ..metadata.sql import HEARTBEAT_SECONDS, heartbeat_timeout
from .console import Console
from .gangs import Gangs
from ..lineage.producers import output_producers
from .hooks import MetadataEntry
from .executors import Finished, RunInfo, open_executor
from .executors.local import STOP_SIGNALS
from .live_logs import LiveLogs
from .progress import RunTally
from .resume import ResumePlan, origin_pathspec
from .run_metrics import MetricListener, RunMetrics
from .spec import CatchPlan, InputSpec, ParallelInfo, TaskResult, TaskSpec
from .work import TaskWork


@dataclass
class RunOptions:
    """How to run: parallelism, foreach limit, tags, verbosity, decorators for every step."""

    max_workers: int = 16
    max_num_splits: int = 100
    tags: list[str] = field(default_factory=list)
    quiet: bool = False
    progress: bool = True     # the live progress view when the output is a terminal (`--no-progress`: never)
    with_decorators: list[StepDecorator] = field(default_factory=list)
    origin_run_id: int | None = None
    cache_all: bool = False   # `run --cache`: every step is cached (but those with @cache(enabled=False))
    no_cache: bool = False    # `run --no-cache`: no step is, @cache ones included
    executor: str = "local"   # where tasks run: "local" (forked processes) or "dask"
    dask_scheduler: str | None = None  # the Dask scheduler's address (tcp://HOST:PORT) for --executor dask
    metric_listeners: list[MetricListener] = field(default_factory=list)  # told each recorded attempt's points
    mlflow: Any = None        # MlflowSettings (`--mlflow`, ARTIFLOW_MLFLOW_TRACKING_URI): the run is mirrored there


PARALLEL_VAR = "_parallel_ubf_iter"  # the foreach frame of a num_parallel gang (its value: the node index)
PREVIEWED_KEYS = 200_000  # content keys remembered as previewed (past this the memory starts again)
TIMEOUT_GRACE_SECONDS = 5.0  # how long past its @timeout a task that ignores the alarm may run before it is killed


def _parents(spec: TaskSpec) -> list[str]:
    """`step/task_id` of each parent task, as the metadata records them."""
    return [f"{i.step}/{i.task_id}" for i in spec.inputs]


def _summary(exception: dict | None) -> str:
    return f"{exception['type']}: {exception['message']}" if exception else "no error"


class RunnerFailure(ArtiflowException):
    """The runner itself failed (not a task): the run was stopped and recorded as failed."""

    headline = "Run stopped by a runner error"


def runner_error_cause(exc: BaseException) -> str:
    """What broke the runner, in words: a closed output, a full disk, the metadata store, or the error itself."""
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        return ("its output could not be written: whatever read the run's output went away (a closed pipe, "
                "e.g. `| head`); redirect the output to a file to keep it")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"the disk is full ({exc.filename or 'writing the run'}): free some space"
    if isinstance(exc, ArtiflowException):
        return exc.message
    return f"{type(exc).__name__}: {exc} (an error inside artiflow; please report it)"


def _silence_stdout() -> None:
    """Send stdout to /dev/null: its reader is gone, and every later write would fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


@dataclass
class Failure:
    pathspec: str
    step: str
    exception: dict[str, Any]


class Scheduler:
    """Runs one run of a flow to the end (or until a failure stops it)."""

    def __init__(self, flow_cls: type[FlowSpec], graph: FlowGraph, store: ContentStore, metadata: MetadataStore,
                 run_id: int, user: str, params: dict[str, ArtifactRef], options: RunOptions,
                 console: Console, resume: ResumePlan | None = None, code_key: str | None = None) -> None:
        self.flow_cls = flow_cls
        self.graph = graph
        self.store = store
        if store.previews is None:
            store.collect_previews()  # what the runner saves itself (a @catch's var) gets previews too
        self.metadata = metadata
        self.run_id = run_id
        self.user = user
        self.params = params
        self.options = options
        self.console = console
        self.resume = resume
        self.decorators = {n.name: step_decorators(flow_cls, n.name, options.with_decorators) for n in graph}
        self.task_decorators = {n.name: all_step_decorators(flow_cls, n.name, options.with_decorators) for n in graph}
        self.ready: deque[TaskSpec] = deque()
        self.delayed: list[tuple[float, TaskSpec]] = []      # retries waiting for their time
        self.deadlines: dict[Hashable, tuple[float, float]] = {}  # handle → (deadline, limit) for @timeout
        self.timed_out: set[Hashable] = set()
        self.handles: dict[int, Hashable] = {}               # task id → executor handle of its running attempt
        self.waiting_joins: dict[tuple, dict[Any, InputSpec]] = {}
        self.python_version = platform.python_version()  # recorded with every task
        self.gangs = Gangs()                                 # num_parallel tasks that start and end together
        self.visits: dict[tuple, int] = {}                   # (step, foreach indices) → tasks made there so far
        self.failures: list[Failure] = []
        self.task_count = 0
        self.reused_count = 0
        self.cached_count = 0
        self.tally = RunTally(graph)                         # per-step task counts, for the live view
        self.cache = self._step_cache()
        self.executor = self._open_executor(code_key)
        self.metrics = RunMetrics(metadata, options.metric_listeners, console.error)
        self.live_logs = LiveLogs(store, metadata, self.flow_name, run_id)  # long tasks' output, stored as it grows
        self.stop_requested: str | None = None  # set by a signal handler; the loop stops cleanly
        self.previewed: set[str] = set()  # content keys whose previews this run recorded

    def _step_cache(self) -> Any:
        """The run's StepCache when any step is cached (caching is imported only then), else None."""
        if self.options.no_cache or (not self.options.cache_all and
                                     not any("cache" in d for d in self.decorators.values())):
            return None
        from ..caching.keys import StepCache

        cache = StepCache(self.flow_cls, self.graph, self.task_decorators, self.options.cache_all, self.metadata,
                          self.store, self.console.error)
        return cache or None

    def _request_stop(self, signum: int, frame: Any) -> None:
        """Ctrl-C, SIGTERM or SIGHUP: only note it here; the run loop stops the tasks at a safe point."""
        self.stop_requested = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name

    @property
    def flow_name(self) -> str:
        return self.graph.name

    def _open_executor(self, code_key: str | None) -> Any:
        """The run's executor: local forked processes, or a remote one that rebuilds the flow from `code_key`."""
        work = TaskWork(self.flow_cls, self.graph, self.store, self.task_decorators)
        info = RunInfo(self.flow_cls, self.graph, self.store, self.run_id, self.decorators,
                       list(self.options.with_decorators), code_key)
        return open_executor(self.options.executor, info, work, self.console.task_line, self.options.dask_scheduler)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> bool:
        """Run every task; True if the run succeeded. Ctrl-C stops all tasks and fails the run.

        An error in the runner itself (an I/O error, a closed stdout, a full disk, the metadata store,
        a bug) stops every task, records the run as failed and raises RunnerFailure saying why.
        """
        previous = {sig: signal.signal(sig, self._request_stop) for sig in STOP_SIGNALS}
        try:
            try:
                self._loop()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - whatever broke the runner, the run must say so
                raise self._abort(exc) from exc
            if self.stop_requested:
                self._stop_all(f"interrupted ({self.stop_requested})")
                self.metadata.finish_run(self.flow_name, self.run_id, "failed")
                raise KeyboardInterrupt(self.stop_requested)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.executor.close()
        ok = not self.failures
        self.metadata.finish_run(self.flow_name, self.run_id, "succeeded" if ok else "failed")
        return ok

    def _loop(self) -> None:
        with self.metadata.batch():  # a cached start (and every cache hit it leads to) is recorded at once
            self._queue("start", [], [], is_join=False)
        last_beat = time.monotonic()
        while (self.ready or self.delayed or len(self.executor)) and not self.stop_requested:
            with self.metadata.batch():  # one transaction records every task started here, before
                self._release_due_retries()  # the wait, so a task that reads its own run sees itself
                self._launch_ready()
            with self.metadata.batch(), self.store.batch():  # and one every task that ended (logs fsynced together)
                for finished in self.executor.wait(timeout=self._wait_time()):
                    self._on_finished(finished)
                self._enforce_timeouts()
                self.live_logs.flush(self._live_output())
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    self.metadata.heartbeat(self.flow_name, self.run_id)
                    last_beat = time.monotonic()
            self.console.tick()  # the live view redraws here, when it is due

    def _abort(self, exc: BaseException) -> RunnerFailure:
        """Stop every task and record the run as failed after the runner itself failed; say what happened."""
        cause = runner_error_cause(exc)
        unrecorded = []
        try:
            self._stop_all(f"the runner stopped: {cause}")
        except Exception as second:  # noqa: BLE001 - the record may fail for the same reason; say so
            unrecorded.append(runner_error_cause(second))
        try:
            self.metadata.fail_unfinished(self.flow_name, self.run_id, f"the runner stopped: {cause}")
            self.metadata.finish_run(self.flow_name, self.run_id, "failed")
        except Exception as second:  # noqa: BLE001
            unrecorded.append(runner_error_cause(second))
        pathspec = f"{self.flow_name}/{self.run_id}"
        recorded = ("Its running tasks were stopped and the run is recorded as failed." if not unrecorded else
                    f"Its running tasks were stopped, but the record could not be written ({unrecorded[0]}); "
                    f"readers will see the run as failed once its heartbeat is {heartbeat_timeout():g} s old.")
        return RunnerFailure(f"Run {pathspec} failed because the runner itself hit an error: {cause}. {recorded} "
                             f"Fix the cause, then continue it with: resume --origin-run-id {self.run_id}")

    def _wait_time(self) -> float:
        now = time.time()
        times = [HEARTBEAT_SECONDS] + [at - now for at, _ in self.delayed]
        times += [deadline - now for deadline, _ in self.deadlines.values()]
        draw = self.console.seconds_to_draw()
        if draw is not None:
            times.append(draw)
        flush = self.live_logs.seconds_to_flush(self._live_output())
        if flush is not None:
            times.append(flush)
        return max(0.0, min(times))

    def _live_output(self) -> list:
        """The running attempts whose output the executor holds here (local tasks' bytes, Dask tasks' lines), for
        live logs."""
        live = getattr(self.executor, "live_output", None)
        return list(live()) if live is not None else []

    def _release_due_retries(self) -> None:
        now = time.time()
        due = [spec for at, spec in self.delayed if at <= now]
        self.delayed = [(at, spec) for at, spec in self.delayed if at > now]
        self.ready.extend(due)

    def _launch_ready(self) -> None:
        while self.ready and (len(self.executor) < self.options.max_workers or self.ready[0].parallel is not None):
            spec = self._prepare_attempt(self.ready.popleft())  # a gang starts whole, even past --max-workers
            self._record_start(spec)
            if spec.attempt == 0:
                self.metadata.add_task_metadata(self.flow_name, self.run_id, spec.step, spec.task_id, 0,
                                                self._first_metadata(spec))
            if not self.options.quiet:
                retry = f" (retry {spec.attempt})" if spec.attempt else ""
                self.console.task_event(spec, f"Task is starting{retry}.")
            handle = self.executor.submit(spec)
            self.handles[spec.task_id] = handle
            if spec.timeout:  # the task stops itself at the limit; this is for a task that cannot
                grace = max(TIMEOUT_GRACE_SECONDS, 0.1 * spec.timeout)
                self.deadlines[handle] = (time.time() + spec.timeout + grace, spec.timeout)

    def _first_metadata(self, spec: TaskSpec) -> list[MetadataEntry]:
        """What every task records when it first starts (Metaflow's task metadata fields)."""
        entries = [MetadataEntry("python_version", self.python_version, "python_version")]
        if self.options.origin_run_id is not None:
            entries.append(MetadataEntry("origin-run-id", str(self.options.origin_run_id), "origin-run-id"))
        if spec.parallel is not None and spec.parallel.node_index == 0:
            entries.append(MetadataEntry("internal_task_type", "control", "internal_task_type"))
        return entries

    def _prepare_attempt(self, spec: TaskSpec) -> TaskSpec:
        """The attempt's own settings: its @timeout, and @catch on the last attempt (not on a foreach split)."""
        decorators = self.decorators[spec.step]
        timeout, retry, catch = decorators.get("timeout"), decorators.get("retry"), decorators.get("catch")
        last = retry is None or spec.attempt >= retry.times
        plan = None
        if catch is not None and last and not self.graph[spec.step].fans_out:
            plan = CatchPlan(catch.var, bool(catch.print_exception))
        return dataclasses.replace(spec, catch=plan, timeout=timeout.limit if timeout is not None else 0.0)

    def _enforce_timeouts(self) -> None:
        now = time.time()
        for handle, (deadline, _) in list(self.deadlines.items()):
            if now >= deadline and handle not in self.timed_out:
                self.timed_out.add(handle)
                self.executor.stop(handle, force=True)

    def _stop_all(self, reason: str) -> None:
        self.ready.clear()
        self.delayed.clear()
        self.executor.stop_all(force=False)
        deadline = time.monotonic() + 5
        while len(self.executor):
            if time.monotonic() > deadline:
                self.executor.stop_all(force=True)
            for finished in self.executor.wait(timeout=0.2):
                self._record(finished, "failed", {}, {"type": "Interrupted", "message": reason, "traceback": ""})

    # -- outcomes ------------------------------------------------------------------------------------
    def _record_start(self, spec: TaskSpec) -> None:
        self.tally.started(spec.step)
        self.metadata.start_task(self.flow_name, self.run_id, spec.step, spec.task_id, spec.attempt,
                                 [f.describe() for f in spec.frames], _parents(spec), spec.cache_key)

    def _record_without_code(self, spec: TaskSpec, status: str, artifacts: dict[str, ArtifactRef],
                             result: TaskResult | None = None) -> None:
        """Record an attempt that runs no user code (a @catch fallback, an unbounded foreach's control task)."""
        self._record_start(spec)
        self._record(Finished(spec, result, b"", b""), status, artifacts, None, result)

    def _record(self, finished: Finished, status: str, artifacts: dict[str, ArtifactRef],
                exception: dict | None, result: TaskResult | None = None) -> None:
        spec = finished.spec
        self.tally.ended(spec.step, status)
        stdout_key = self.live_logs.final_key(spec, "stdout", finished.stdout)
        stderr_key = self.live_logs.final_key(spec, "stderr", finished.stderr)
        producers = output_producers(spec.pathspec, artifacts, self.params,
                                     ((i.artifacts, i.producers) for i in spec.inputs))
        if result is not None:
            result.producers = producers  # the steps after it inherit them (lineage)
        ran = finished.result
        self.metadata.finish_task(self.flow_name, self.run_id, spec.step, spec.task_id, spec.attempt, status,
                                  artifacts, stdout_key, stderr_key, exception,
                                  result.transition() if result is not None and result.ok else None,
                                  ran.metadata if ran is not None else (), producers,
                                  ran.reads if ran is not None else ())
        self.live_logs.forget(spec)
        self._record_previews(ran.previews if ran is not None else {})
        if ran is not None or finished.death:  # an attempt that ran code: its metric points
            self.metrics.record(spec, status, ran.metrics if ran is not None else finished.metrics)

    def _record_previews(self, previews: dict[str, str]) -> None:
        """Record the previews of what the attempt saved (and the runner saved for it), each key once per run."""
        own = self.store.take_previews()
        fresh = {key: text for key, text in (previews | own if own else previews).items() if key not in self.previewed}
        if fresh:
            self.metadata.add_previews(fresh)  # in the batch that records the attempt, after its artifacts
            if len(self.previewed) > PREVIEWED_KEYS:
                self.previewed.clear()
            self.previewed.update(fresh)

    def _outcome(self, finished: Finished) -> tuple[TaskResult | None, dict | None]:
        """(the result, None) for a task that succeeded (or was caught), else (its result if any, the error)."""
        handle = self.handles.pop(finished.spec.task_id, None)
        limit = self.deadlines.pop(handle, (0, 0))[1] if handle is not None else 0
        result = finished.result
        if handle in self.timed_out:
            self.timed_out.discard(handle)
            return None, {"type": "TimeoutException", "qualified_type": qualified_type_name(TimeoutException),
                          "traceback": "", "message": f"the task ran longer than its @timeout of {limit:g} s and "
                                                      "did not stop by itself, so it was killed"}
        if result is not None and result.ok:
            problem = self._split_problem(finished.spec, result)
            return (result, None) if problem is None else (result, problem)
        if result is not None:
            return result, result.exception or {"type": "Error", "message": "unknown", "traceback": ""}
        message = finished.death_reason()
        finished.stderr += f"\n[artiflow] The task died: {message}.\n".encode()  # kept with the task's own stderr
        return None, {"type": "TaskDied", "message": message, "traceback": ""}

    def _on_finished(self, finished: Finished) -> None:
        result, exception = self._outcome(finished)
        gang = self.gangs.pop_member(finished.spec.task_id)
        if gang is not None:
            self._gang_member_finished(gang, finished, result, exception)
        elif exception is None:
            self._succeeded(finished, result)
        else:
            self._failed(finished, result, exception)

    def _succeeded(self, finished: Finished, result: TaskResult, advance: bool = True) -> None:
        catch = self.decorators[finished.spec.step].get("catch")
        if result.caught:
            self._record(finished, "caught", result.artifacts, None, result)
            if not self.options.quiet:
                self.console.task_line(finished.spec, "stderr", f"Task failed ({_summary(result.exception)}) but "
                                       "@catch stored the error; the run goes on.")
        else:
            if catch is not None and catch.var and catch.var not in result.artifacts:
                result.artifacts[catch.var] = self.store.save(catch.var, None)  # as in Metaflow: None when it worked
            self._record(finished, "succeeded", result.artifacts, None, result)
            if not self.options.quiet:
                self.console.task_event(finished.spec, "Task finished successfully.")
        if advance:
            self._advance(finished.spec, result)

    def _retry_wait(self, spec: TaskSpec) -> float | None:
        """Seconds before the next attempt, or None when the step has no retry left."""
        retry = self.decorators[spec.step].get("retry")
        if retry is None or spec.attempt >= retry.times:
            return None
        return float(retry.minutes_between_retries or 0) * 60

    def _failed(self, finished: Finished, result: TaskResult | None, exception: dict) -> None:
        spec = finished.spec
        artifacts = result.artifacts if result is not None else {}
        self._record(finished, "failed", artifacts, exception)
        wait = self._retry_wait(spec)
        if wait is not None:
            self._schedule_retry(spec, exception, wait)
            return
        catch = self.decorators[spec.step].get("catch")
        if catch is not None and not self.graph[spec.step].fans_out and self._fallback(spec, exception, catch):
            return
        self._run_failed(spec, exception)

    def _schedule_retry(self, spec: TaskSpec, exception: dict, wait: float) -> None:
        self.console.task_line(spec, "stderr", f"Attempt {spec.attempt} failed ({_summary(exception)}); retrying"
                               + (f" in {wait:g} s." if wait else "."))
        self.delayed.append((time.time() + wait, dataclasses.replace(spec, attempt=spec.attempt + 1)))

    def _run_failed(self, spec: TaskSpec, exception: dict) -> None:
        self.console.task_line(spec, "stderr", f"Task failed: {_summary(exception)}")
        self.tally.failed(spec.step)
        self.failures.append(Failure(spec.pathspec, spec.step, exception))
        if len(self.failures) == 1 and (self.ready or self.delayed or len(self.executor)):
            # Everything that does not depend on the failed task still runs (the rest of a foreach,
            # other branches, up to the joins that wait for it), so that `resume` reruns only the
            # failure and what depends on it. Which tasks those are does not depend on timing.
            self.console.error("The run will fail; the tasks that do not depend on the failed one go on, so "
                               "that resume can reuse them (Ctrl-C to stop now).")

    def _fallback(self, spec: TaskSpec, exception: dict, catch: StepDecorator,
                  frames: list[Frame] | None = None) -> bool:
        """@catch of a task that died without raising: one more attempt, recorded as caught, runs no user code.

        It carries the inputs' artifacts and stores FailureHandledByCatch in `var`; the run goes on.
        False when the step's arm cannot be known (a switch whose condition was never set).
        """
        node = self.graph[spec.step]
        if node.is_switch:
            return False
        recorded = dataclasses.replace(spec, attempt=spec.attempt + 1)
        artifacts = dict(self.params)
        if not spec.is_join and spec.inputs:
            artifacts.update(spec.inputs[0].artifacts)
        message = f"Task {spec.pathspec} failed and was handled by @catch: {_summary(exception)}"
        if catch.var:
            record = CaughtException(qualified_type_name(FailureHandledByCatch), message, exception.get("traceback", ""))
            artifacts[catch.var] = self.store.save(catch.var, record)
        result = TaskResult(ok=True, artifacts=artifacts, next_steps=list(node.out), caught=True)
        self._record_without_code(recorded, "caught", artifacts, result)
        text = f"{message}; the run goes on." if catch.print_exception else "Task failed; @catch stored the error."
        self.console.task_line(spec, "stderr", text)
        self._advance(dataclasses.replace(recorded, frames=frames or spec.frames), result)
        return True

    def _split_problem(self, spec: TaskSpec, result: TaskResult) -> dict | None:
        """A foreach that splits into no branches or more than --max-num-splits fails its task."""
        if not result.foreach_var:
            return None
        n, var = result.num_splits, result.foreach_var
        if n == 0:
            message = (f"foreach over self.{var} in step '{spec.step}' has no elements: there is nothing to run. "
                       f"Give it at least one element.")
        elif n > self.options.max_num_splits:
            message = (f"foreach over self.{var} in step '{spec.step}' makes {n} tasks, more than the limit of "
                       f"{self.options.max_num_splits}. Raise it with --max-num-splits {n} if that is intended.")
        else:
            return None
        return {"type": "ForeachError", "message": message, "traceback": ""}

    # -- following the graph -------------------------------------------------------------------------
    def _advance(self, spec: TaskSpec, result: TaskResult) -> None:
        done = InputSpec(spec.step, spec.task_id, result.artifacts, spec.frames, result.producers)
        if result.foreach_var or result.num_parallel:
            self._fan_out(spec, result, done)
            return
        for name in result.next_steps:
            node = self.graph[name]
            if node.is_join:
                self._arrive_at_join(name, done)
            else:
                self._queue(name, [done], spec.frames, is_join=False)

    def _fan_out(self, spec: TaskSpec, result: TaskResult, done: InputSpec) -> None:
        """A foreach (a task per element) or a num_parallel gang (N tasks started and ended together)."""
        n, target = result.num_splits, result.next_steps[0]
        if result.num_parallel:
            var, ref = PARALLEL_VAR, self.store.save(PARALLEL_VAR, list(range(n)))  # self.input is the node index
        else:
            var, ref = result.foreach_var, result.artifacts[result.foreach_var]
        unbounded = "unbounded_test_foreach_internal" in self.decorators[target]
        keys = result.split_keys if len(result.split_keys) == n else [None] * n
        made_by = result.producers.get(var, ())
        frames = [[*spec.frames, Frame(spec.step, var, i, n, ref, unbounded, keys[i], made_by)] for i in range(n)]
        if self.graph[target].is_join:  # straight into its join: each branch is empty
            for branch in frames:
                self._arrive_at_join(target, InputSpec(spec.step, spec.task_id, result.artifacts, branch,
                                                       result.producers))
            return
        if not result.num_parallel:
            if unbounded:
                self._record_control_task(target, done, spec.frames)
            for branch in frames:
                self._queue(target, [done], branch, is_join=False)
            return
        control_id = self.task_count + 1
        members = [self._queue(target, [done], branch, is_join=False,
                               parallel=ParallelInfo(n, i, str(control_id))) for i, branch in enumerate(frames)]
        self.gangs.start([m for m in members if m is not None])

    def _record_control_task(self, step: str, parent: InputSpec, frames: list[Frame]) -> None:
        """An unbounded foreach's control task: recorded beside its mappers, as Metaflow does; runs no user code."""
        self.task_count += 1
        self.tally.made(step)
        spec = TaskSpec(flow_name=self.flow_name, run_id=self.run_id, step=step, task_id=self.task_count, attempt=0,
                        params=self.params, inputs=[parent], frames=list(frames), is_join=False, user=self.user)
        self.metadata.add_task_metadata(self.flow_name, self.run_id, step, spec.task_id, 0, [
            *self._first_metadata(spec), MetadataEntry("internal_task_type", "control", "internal_task_type")])
        self._record_without_code(spec, "succeeded", dict(parent.artifacts))

    def _gang_member_finished(self, gang: Any, finished: Finished, result: TaskResult | None,
                              exception: dict | None) -> None:
        """Record a gang member; once all have ended, go on with every one, or retry (or catch) the whole gang."""
        if exception is None:
            self._succeeded(finished, result, advance=False)  # type: ignore[arg-type]
        else:
            self._record(finished, "failed", result.artifacts if result is not None else {}, exception)
            for task_id in gang.running():  # the others would wait for it for ever: stop them
                if task_id in self.handles and task_id not in gang.stopped:
                    gang.stopped.add(task_id)
                    self.executor.stop(self.handles[task_id], force=True)
        gang.finish(finished, result, exception)
        if not gang.complete:
            return
        self.gangs.close(gang)
        failed = gang.failures()
        if not failed:
            for member, member_result in gang.results():
                self._advance(member, member_result)
            return
        control, first_error = gang.control, failed[0][1]
        wait = self._retry_wait(control)
        if wait is not None:
            self.console.task_line(control, "stderr", f"A task of the @parallel gang failed ({_summary(first_error)}); "
                                   f"all {len(gang.members)} tasks run again" + (f" in {wait:g} s." if wait else "."))
            retried = [dataclasses.replace(m, attempt=m.attempt + 1) for m in gang.members]
            self.gangs.start(retried)
            self.delayed.extend((time.time() + wait, m) for m in retried)
            return
        catch = self.decorators[control.step].get("catch")
        if catch is not None:  # only the control task goes on, as in Metaflow: the join gets one input
            alone = [*control.frames[:-1], dataclasses.replace(control.frames[-1], num_splits=1)]
            if self._fallback(control, first_error, catch, frames=alone):
                return
        for member, error in failed:
            self._run_failed(member, error)

    def _arrive_at_join(self, join: str, arrived: InputSpec) -> None:
        node = self.graph[join]
        if node.join_kind == "foreach":
            frames, slot = arrived.frames[:-1], arrived.frames[-1].index
            needed = arrived.frames[-1].num_splits
        else:  # one input per branch of the split (a switch inside a branch may end it in any of its arms)
            split = self.graph[node.split_parents[-1]]
            frames, slot, needed = arrived.frames, node.branch_of.get(arrived.step, 0), len(split.out)
        key = (join, tuple(f.index for f in frames))
        bucket = self.waiting_joins.setdefault(key, {})
        bucket[slot] = arrived
        if len(bucket) < needed:
            return
        del self.waiting_joins[key]
        self._queue(join, [bucket[k] for k in sorted(bucket)], frames, is_join=True)

    def _queue(self, step: str, inputs: list[InputSpec], frames: list[Frame], is_join: bool,
               parallel: ParallelInfo | None = None) -> TaskSpec | None:
        """Make the next task of a step: queued to run, or reused from the origin run (then None)."""
        self.task_count += 1
        self.tally.made(step)
        environment = self.decorators[step].get("environment")
        spec = TaskSpec(
            flow_name=self.flow_name, run_id=self.run_id, step=step, task_id=self.task_count, attempt=0,
            params=self.params, inputs=inputs, frames=list(frames), is_join=is_join, user=self.user,
            tags=list(self.options.tags), origin_run_id=self.options.origin_run_id,
            env={str(k): str(v) for k, v in environment.vars.items()} if environment else {},
            parallel=parallel,
        )
        place = (step, tuple(f.index for f in frames))
        visit = self.visits.get(place, 0)  # a loop (a switch back to a step) visits a place again
        self.visits[place] = visit + 1
        found = self.resume.find(step, frames, visit) if self.resume is not None else None
        if found is not None:
            self._reuse(spec, *found)
            return None
        if self.cache is not None:
            spec.split_keys = True  # a cached step keys each foreach task by its own element
            spec.cache_key = self.cache.key(spec)
            hit = self.cache.lookup(spec, spec.cache_key) if spec.cache_key else None
            if hit is not None:
                self._reuse_cached(spec, hit)
                return None
        self.ready.append(spec)
        return spec

    def _reuse_cached(self, spec: TaskSpec, hit: Any) -> None:
        """A step-cache hit: the earlier task's artifacts become this task's, by reference; go on from it."""
        self.cached_count += 1
        self._clone(spec, hit.source, hit.artifacts, hit.producers, f"cached: reused {hit.pathspec}", cached=True)

    def _reuse(self, spec: TaskSpec, origin: TaskRecord, artifacts: dict[str, ArtifactRef],
               producers: dict[str, Producers]) -> None:
        """Record a task of the origin run as this run's, by reference, and go on from it."""
        self.reused_count += 1
        self._clone(spec, origin, artifacts, producers, f"Reused from {origin_pathspec(origin)}.")

    def _clone(self, spec: TaskSpec, source: TaskRecord, artifacts: dict[str, ArtifactRef],
               producers: dict[str, Any], line: str, cached: bool = False) -> None:
        """Record `source` (a task row) as this task, with its artifacts by reference; say so; follow the graph."""
        self.metadata.clone_task(self.flow_name, self.run_id, spec.step, spec.task_id,
                                 [f.describe() for f in spec.frames], _parents(spec), source, artifacts, producers,
                                 cached=cached)
        self.tally.cloned(spec.step, cached)
        if not self.options.quiet:
            self.console.task_event(spec, line)
        self._advance(spec, TaskResult.reused(artifacts, source.transition, producers))
