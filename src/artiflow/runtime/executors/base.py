"""The seam between the scheduler (decides what runs) and an executor (runs it, reports back).

An executor takes a TaskSpec, runs one attempt of the task somewhere (a forked process, a Dask
worker), streams the task's output lines to a callback while it runs, and yields a Finished for
each attempt that ended. It decides nothing: retries, @catch, @timeout limits and the graph are the
scheduler's. Handles are opaque to the scheduler: it only gives them back to `stop`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterator, Protocol, Sequence

from ..spec import TaskResult, TaskSpec

if TYPE_CHECKING:
    from ...datastore import ContentStore
    from ...flowspec import FlowSpec
    from ...graph import FlowGraph
    from ..output import Spool


class OutputCallback(Protocol):
    """Shows a task's output: a line, or an update of its current line (False: that update was not shown yet)."""

    def __call__(self, spec: TaskSpec, stream: str, line: str, update: bool = False) -> bool | None: ...


@dataclass
class Finished:
    """An attempt that ended: its result (None if it died without one), all it printed, and why it died if it did."""

    spec: TaskSpec
    result: TaskResult | None
    stdout: Spool | bytes
    stderr: Spool | bytes
    death: str = ""   # e.g. "the task process was killed by signal 9 (SIGKILL: ...)"; empty when it reported
    metrics: Sequence = ()  # the metric points a task that died without a result had spilled (runtime/metrics.py)

    def death_reason(self) -> str:
        return self.death or "the task ended without reporting a result"


@dataclass
class RunInfo:
    """What an executor may need to know about the run it serves (a remote one ships the run's code)."""

    flow_cls: type[FlowSpec]
    graph: FlowGraph
    store: ContentStore
    run_id: int
    step_decorators: dict[str, dict[str, Any]]  # step → {decorator name: decorator} (e.g. @resources)
    with_decorators: list[str]                   # `--with` specs, for a worker that rebuilds the flow
    code_key: str | None = None                  # the run's code snapshot in the datastore (lineage/code.py)


class Executor(Protocol):
    """Runs task attempts and reports them as they end."""

    def submit(self, spec: TaskSpec) -> Hashable:
        """Start one attempt; the handle identifies it for `stop`."""
        ...

    def wait(self, timeout: float | None = None) -> Iterator[Finished]:
        """Yield the attempts that end within `timeout` seconds (also returns early on a signal)."""
        ...

    def stop(self, handle: Hashable, force: bool = True) -> None:
        """Stop one attempt: at once (force) or by asking it to end; it is still reported by `wait`."""
        ...

    def stop_all(self, force: bool = False) -> None:
        """Stop every running attempt (each is still reported by `wait`)."""
        ...

    def close(self) -> None:
        """Release what the executor holds (processes, connections); called once the run has ended."""
        ...

    def __len__(self) -> int:
        """How many attempts are running (submitted and not yet reported)."""
        ...


TaskFunction = Callable[[TaskSpec], TaskResult]
