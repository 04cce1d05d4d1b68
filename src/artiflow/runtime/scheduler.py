"""The run loop: decides which tasks run when, records them, and follows the graph.

The scheduler never runs user code; an executor does (runtime/local.py forks a process per task).
"""

from __future__ import annotations

import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..datastore import ArtifactRef, ContentStore
from ..flowspec import FlowSpec, Frame
from ..graph import FlowGraph
from ..metadata import SQLiteMetadata
from .console import Console
from .local import Finished, LocalExecutor
from .spec import InputSpec, TaskResult, TaskSpec
from .task import run_task


@dataclass
class RunOptions:
    """How to run: parallelism, foreach limit, tags, verbosity."""

    max_workers: int = 16
    max_num_splits: int = 100
    tags: list[str] = field(default_factory=list)
    quiet: bool = False


@dataclass
class Failure:
    pathspec: str
    step: str
    exception: dict[str, Any]


class Scheduler:
    """Runs one run of a flow to the end (or to its first failure)."""

    def __init__(self, flow_cls: type[FlowSpec], graph: FlowGraph, store: ContentStore, metadata: SQLiteMetadata,
                 run_id: int, user: str, params: dict[str, ArtifactRef], options: RunOptions,
                 console: Console) -> None:
        self.flow_cls = flow_cls
        self.graph = graph
        self.store = store
        self.metadata = metadata
        self.run_id = run_id
        self.user = user
        self.params = params
        self.options = options
        self.console = console
        self.ready: deque[TaskSpec] = deque()
        self.waiting_joins: dict[tuple, dict[Any, InputSpec]] = {}
        self.failures: list[Failure] = []
        self.task_count = 0
        self.executor = LocalExecutor(self._work, console.task_line)

    @property
    def flow_name(self) -> str:
        return self.graph.name

    def _work(self, spec: TaskSpec) -> TaskResult:
        return run_task(self.flow_cls, self.graph, spec, self.store)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> bool:
        """Run every task; True if the run succeeded. Ctrl-C stops all tasks and fails the run."""
        self._queue("start", [], [], is_join=False)
        try:
            while self.ready or len(self.executor):
                self._launch_ready()
                for finished in self.executor.wait(timeout=1.0):
                    self._on_finished(finished)
        except KeyboardInterrupt:
            self._stop_all("interrupted (Ctrl-C)")
            self.metadata.finish_run(self.flow_name, self.run_id, "failed")
            raise
        ok = not self.failures
        self.metadata.finish_run(self.flow_name, self.run_id, "succeeded" if ok else "failed")
        return ok

    def _launch_ready(self) -> None:
        while self.ready and len(self.executor) < self.options.max_workers:
            spec = self.ready.popleft()
            parents = [f"{i.step}/{i.task_id}" for i in spec.inputs]
            self.metadata.start_task(self.flow_name, self.run_id, spec.step, spec.task_id, spec.attempt,
                                     [f.describe() for f in spec.frames], parents)
            if not self.options.quiet:
                self.console.task_line(spec, "stdout", "Task is starting.")
            self.executor.submit(spec)

    def _stop_all(self, reason: str) -> None:
        self.ready.clear()
        self.executor.terminate_all(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while len(self.executor):
            if time.monotonic() > deadline:
                self.executor.terminate_all(signal.SIGKILL)
            for finished in self.executor.wait(timeout=0.2):
                self._record(finished, "failed", {}, {"type": "Interrupted", "message": reason, "traceback": ""})

    # -- outcomes ------------------------------------------------------------------------------------
    def _record(self, finished: Finished, status: str, artifacts: dict[str, ArtifactRef],
                exception: dict | None) -> None:
        spec = finished.spec
        stdout_key = self.store.put_bytes([finished.stdout]) if finished.stdout else None
        stderr_key = self.store.put_bytes([finished.stderr]) if finished.stderr else None
        self.metadata.finish_task(self.flow_name, self.run_id, spec.step, spec.task_id, spec.attempt, status,
                                  artifacts, stdout_key, stderr_key, exception)

    def _on_finished(self, finished: Finished) -> None:
        result = finished.result
        spec = finished.spec
        if result is not None and result.ok:
            problem = self._split_problem(spec, result)
            if problem is None:
                self._record(finished, "succeeded", result.artifacts, None)
                if not self.options.quiet:
                    self.console.task_line(spec, "stdout", "Task finished successfully.")
                if not self.failures:
                    self._advance(spec, result)
                return
            self.console.task_line(spec, "stderr", problem["message"])
            exception = problem
        elif result is not None:
            exception = result.exception or {"type": "Error", "message": "unknown", "traceback": ""}
        else:
            reason = finished.death_reason()
            exception = {"type": "TaskDied", "message": f"the task process {reason}", "traceback": ""}
        self._record(finished, "failed", {}, exception)
        self.console.task_line(spec, "stderr", f"Task failed: {exception['type']}: {exception['message']}")
        self.failures.append(Failure(spec.pathspec, spec.step, exception))
        self.ready.clear()  # no new tasks; the ones already running may finish and be kept

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
        self.ready.append(TaskSpec(
            flow_name=self.flow_name, run_id=self.run_id, step=step, task_id=self.task_count, attempt=0,
            params=self.params, inputs=inputs, frames=list(frames), is_join=is_join, user=self.user,
            tags=list(self.options.tags),
        ))
