"""The run loop: decides which tasks run when, records them, and follows the graph.

The scheduler never runs user code; an executor does (runtime/local.py forks a process per task).
It applies the step decorators (@retry, @catch, @timeout) and, on resume, reuses the origin run's
tasks instead of running them.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..datastore import ArtifactRef, ContentStore
from ..decorators import CaughtException, StepDecorator, all_step_decorators, step_decorators
from ..flowspec import FlowSpec, Frame
from ..graph import FlowGraph
from ..metadata import SQLiteMetadata
from ..metadata.sqlite import HEARTBEAT_SECONDS
from .console import Console
from .local import STOP_SIGNALS, Finished, LocalExecutor
from .resume import ResumePlan, origin_pathspec
from .rng import TaskRandomness
from .spec import InputSpec, TaskResult, TaskSpec
from .task import run_task


@dataclass
class RunOptions:
    """How to run: parallelism, foreach limit, tags, verbosity, decorators for every step."""

    max_workers: int = 16
    max_num_splits: int = 100
    tags: list[str] = field(default_factory=list)
    quiet: bool = False
    with_decorators: list[StepDecorator] = field(default_factory=list)
    origin_run_id: int | None = None


@dataclass
class Failure:
    pathspec: str
    step: str
    exception: dict[str, Any]


class Scheduler:
    """Runs one run of a flow to the end (or until a failure stops it)."""

    def __init__(self, flow_cls: type[FlowSpec], graph: FlowGraph, store: ContentStore, metadata: SQLiteMetadata,
                 run_id: int, user: str, params: dict[str, ArtifactRef], options: RunOptions,
                 console: Console, resume: ResumePlan | None = None) -> None:
        self.flow_cls = flow_cls
        self.graph = graph
        self.store = store
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
        self.deadlines: dict[int, tuple[float, float]] = {}  # pid → (deadline, limit) for @timeout
        self.timed_out: set[int] = set()
        self.pids: dict[int, int] = {}                       # task id → pid of its running attempt
        self.waiting_joins: dict[tuple, dict[Any, InputSpec]] = {}
        self.failures: list[Failure] = []
        self.task_count = 0
        self.reused_count = 0
        self.executor = LocalExecutor(self._work, console.task_line)
        flow_file = getattr(sys.modules.get(flow_cls.__module__), "__file__", None)
        self.randomness = TaskRandomness.for_flow_file(flow_file)  # each task's random state, as in a new process
        self.stop_requested: str | None = None  # set by a signal handler; the loop stops cleanly

    def _request_stop(self, signum: int, frame: Any) -> None:
        """Ctrl-C, SIGTERM or SIGHUP: only note it here; the run loop stops the tasks at a safe point."""
        self.stop_requested = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name

    @property
    def flow_name(self) -> str:
        return self.graph.name

    def _work(self, spec: TaskSpec) -> TaskResult:
        self.randomness.apply()
        return run_task(self.flow_cls, self.graph, spec, self.store, self.task_decorators[spec.step])

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> bool:
        """Run every task; True if the run succeeded. Ctrl-C stops all tasks and fails the run."""
        self._queue("start", [], [], is_join=False)
        last_beat = time.monotonic()
        previous = {sig: signal.signal(sig, self._request_stop) for sig in STOP_SIGNALS}
        try:
            while (self.ready or self.delayed or len(self.executor)) and not self.stop_requested:
                with self.metadata.batch():  # one transaction records every task started or ended here
                    self._release_due_retries()
                    self._launch_ready()
                    for finished in self.executor.wait(timeout=self._wait_time()):
                        self._on_finished(finished)
                    self._enforce_timeouts()
                    if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                        self.metadata.heartbeat(self.flow_name, self.run_id)
                        last_beat = time.monotonic()
            if self.stop_requested:
                self._stop_all(f"interrupted ({self.stop_requested})")
                self.metadata.finish_run(self.flow_name, self.run_id, "failed")
                raise KeyboardInterrupt(self.stop_requested)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        ok = not self.failures
        self.metadata.finish_run(self.flow_name, self.run_id, "succeeded" if ok else "failed")
        return ok

    def _wait_time(self) -> float:
        now = time.time()
        times = [HEARTBEAT_SECONDS] + [at - now for at, _ in self.delayed]
        times += [deadline - now for deadline, _ in self.deadlines.values()]
        return max(0.0, min(times))

    def _release_due_retries(self) -> None:
        now = time.time()
        due = [spec for at, spec in self.delayed if at <= now]
        self.delayed = [(at, spec) for at, spec in self.delayed if at > now]
        self.ready.extend(due)

    def _launch_ready(self) -> None:
        while self.ready and len(self.executor) < self.options.max_workers:
            spec = self.ready.popleft()
            parents = [f"{i.step}/{i.task_id}" for i in spec.inputs]
            self.metadata.start_task(self.flow_name, self.run_id, spec.step, spec.task_id, spec.attempt,
                                     [f.describe() for f in spec.frames], parents)
            if not self.options.quiet:
                retry = f" (retry {spec.attempt})" if spec.attempt else ""
                self.console.task_line(spec, "stdout", f"Task is starting{retry}.")
            pid = self.executor.submit(spec)
            self.pids[spec.task_id] = pid
            timeout = self.decorators[spec.step].get("timeout")
            if timeout is not None:
                self.deadlines[pid] = (time.time() + timeout.limit, timeout.limit)

    def _enforce_timeouts(self) -> None:
        now = time.time()
        for pid, (deadline, _) in list(self.deadlines.items()):
            if now >= deadline and pid not in self.timed_out:
                self.timed_out.add(pid)
                self.executor.kill(pid, signal.SIGKILL)

    def _stop_all(self, reason: str) -> None:
        self.ready.clear()
        self.delayed.clear()
        self.executor.terminate_all(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while len(self.executor):
            if time.monotonic() > deadline:
                self.executor.terminate_all(signal.SIGKILL)
            for finished in self.executor.wait(timeout=0.2):
                self._record(finished, "failed", {}, {"type": "Interrupted", "message": reason, "traceback": ""})

    # -- outcomes ------------------------------------------------------------------------------------
    def _record(self, finished: Finished, status: str, artifacts: dict[str, ArtifactRef],
                exception: dict | None, result: TaskResult | None = None) -> None:
        spec = finished.spec
        stdout_key = self.store.put_bytes([finished.stdout]) if finished.stdout else None
        stderr_key = self.store.put_bytes([finished.stderr]) if finished.stderr else None
        self.metadata.finish_task(self.flow_name, self.run_id, spec.step, spec.task_id, spec.attempt, status,
                                  artifacts, stdout_key, stderr_key, exception,
                                  result.transition() if result is not None and result.ok else None,
                                  finished.result.metadata if finished.result is not None else ())

    def _on_finished(self, finished: Finished) -> None:
        pid = self.pids.pop(finished.spec.task_id, None)
        limit = self.deadlines.pop(pid, (0, 0))[1] if pid is not None else 0
        result = finished.result
        if pid in self.timed_out:
            self.timed_out.discard(pid)
            exception = {"type": "TimeoutError", "traceback": "",
                         "message": f"the task ran longer than its @timeout of {limit:g} s and was stopped"}
        elif result is not None and result.ok:
            exception = self._split_problem(finished.spec, result)
            if exception is None:
                self._succeeded(finished, result)
                return
        elif result is not None:
            exception = result.exception or {"type": "Error", "message": "unknown", "traceback": ""}
        else:
            exception = {"type": "TaskDied", "message": f"the task process {finished.death_reason()}", "traceback": ""}
        self._failed(finished, exception)

    def _succeeded(self, finished: Finished, result: TaskResult) -> None:
        catch = self.decorators[finished.spec.step].get("catch")
        if catch is not None and catch.var and catch.var not in result.artifacts:
            result.artifacts[catch.var] = self.store.save(catch.var, None)  # as in Metaflow: None when it worked
        self._record(finished, "succeeded", result.artifacts, None, result)
        if not self.options.quiet:
            self.console.task_line(finished.spec, "stdout", "Task finished successfully.")
        self._advance(finished.spec, result)

    def _failed(self, finished: Finished, exception: dict) -> None:
        spec = finished.spec
        decorators = self.decorators[spec.step]
        retry = decorators.get("retry")
        summary = f"{exception['type']}: {exception['message']}"
        if retry is not None and spec.attempt < retry.times:
            self._record(finished, "failed", {}, exception)
            wait = float(retry.minutes_between_retries) * 60
            self.console.task_line(spec, "stderr", f"Attempt {spec.attempt} failed ({summary}); retrying"
                                   + (f" in {wait:g} s." if wait else "."))
            self.delayed.append((time.time() + wait, dataclasses.replace(spec, attempt=spec.attempt + 1)))
            return
        catch = decorators.get("catch")
        if catch is not None and not self.graph[spec.step].foreach_var:
            self._caught(finished, exception, catch)
            return
        self._record(finished, "failed", {}, exception)
        self.console.task_line(spec, "stderr", f"Task failed: {summary}")
        self.failures.append(Failure(spec.pathspec, spec.step, exception))
        if len(self.failures) == 1 and (self.ready or self.delayed or len(self.executor)):
            # Everything that does not depend on the failed task still runs (the rest of a foreach,
            # other branches, up to the joins that wait for it), so that `resume` reruns only the
            # failure and what depends on it. Which tasks those are does not depend on timing.
            self.console.error("The run will fail; the tasks that do not depend on the failed one go on, so "
                               "that resume can reuse them (Ctrl-C to stop now).")

    def _caught(self, finished: Finished, exception: dict, catch: StepDecorator) -> None:
        """@catch: the task is recorded as caught and the run goes on with its inputs' artifacts."""
        spec = finished.spec
        artifacts = dict(self.params)
        if not spec.is_join and spec.inputs:
            artifacts.update(spec.inputs[0].artifacts)
        if catch.var:
            record = CaughtException(exception["type"], exception["message"], exception.get("traceback", ""))
            artifacts[catch.var] = self.store.save(catch.var, record)
        result = TaskResult(ok=True, artifacts=artifacts, next_steps=list(self.graph[spec.step].out))
        self._record(finished, "caught", artifacts, exception, result)
        where = f" in self.{catch.var}" if catch.var else ""
        message = f"Task failed but @catch stored the error{where}; the run goes on."
        if catch.print_exception:
            message = f"{exception['type']}: {exception['message']}. " + message
        self.console.task_line(spec, "stderr", message)
        self._advance(spec, result)

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
        done = InputSpec(spec.step, spec.task_id, result.artifacts, spec.frames)
        if result.foreach_var:
            ref = result.artifacts[result.foreach_var]
            target = result.next_steps[0]
            for i in range(result.num_splits):
                frame = Frame(spec.step, result.foreach_var, i, result.num_splits, ref)
                if self.graph[target].is_join:  # a foreach straight into its join: each branch is empty
                    self._arrive_at_join(target, InputSpec(spec.step, spec.task_id, result.artifacts,
                                                           [*spec.frames, frame]))
                else:
                    self._queue(target, [done], [*spec.frames, frame], is_join=False)
            return
        for name in result.next_steps:
            node = self.graph[name]
            if node.is_join:
                self._arrive_at_join(name, done)
            else:
                self._queue(name, [done], spec.frames, is_join=False)

    def _arrive_at_join(self, join: str, arrived: InputSpec) -> None:
        node = self.graph[join]
        if node.join_kind == "foreach":
            frames, slot = arrived.frames[:-1], arrived.frames[-1].index
            needed = arrived.frames[-1].num_splits
        else:
            frames, slot, needed = arrived.frames, arrived.step, len(node.in_steps)
        key = (join, tuple(f.index for f in frames))
        bucket = self.waiting_joins.setdefault(key, {})
        bucket[slot] = arrived
        if len(bucket) < needed:
            return
        del self.waiting_joins[key]
        order = sorted(bucket) if node.join_kind == "foreach" else node.in_steps
        self._queue(join, [bucket[k] for k in order], frames, is_join=True)

    def _queue(self, step: str, inputs: list[InputSpec], frames: list[Frame], is_join: bool) -> None:
        self.task_count += 1
        environment = self.decorators[step].get("environment")
        spec = TaskSpec(
            flow_name=self.flow_name, run_id=self.run_id, step=step, task_id=self.task_count, attempt=0,
            params=self.params, inputs=inputs, frames=list(frames), is_join=is_join, user=self.user,
            tags=list(self.options.tags), origin_run_id=self.options.origin_run_id,
            env={str(k): str(v) for k, v in environment.vars.items()} if environment else {},
        )
        found = self.resume.find(step, frames) if self.resume is not None else None
        if found is None:
            self.ready.append(spec)
        else:
            self._reuse(spec, *found)

    def _reuse(self, spec: TaskSpec, origin: dict[str, Any], artifacts: dict[str, ArtifactRef]) -> None:
        """Record a task of the origin run as this run's, by reference, and go on from it."""
        parents = [f"{i.step}/{i.task_id}" for i in spec.inputs]
        self.metadata.clone_task(self.flow_name, self.run_id, spec.step, spec.task_id,
                                 [f.describe() for f in spec.frames], parents, origin, artifacts)
        self.reused_count += 1
        if not self.options.quiet:
            self.console.task_line(spec, "stdout", f"Reused from {origin_pathspec(origin)}.")
        self._advance(spec, TaskResult.reused(artifacts, origin["transition"]))
