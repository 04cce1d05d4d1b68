"""The runner's side of metrics: recording each attempt's points with it, and telling the listeners.

A task's points come back in its TaskResult. A task also spills them to a file as it goes (see
runtime/metrics.py; the executor that forks it names the file), so that one killed hard still has
all but its last second recorded: its executor reads that file for an attempt that ended without a
result and hands the points back with it (Finished.metrics). Listeners (e.g. MLflow mirroring) get
each recorded attempt's points right after they are written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from .metrics import MetricPoint

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from .spec import TaskSpec

# (the attempt's spec, the status recorded, its points) -> None; called in the runner after the attempt is recorded
MetricListener = Callable[["TaskSpec", str, Sequence[MetricPoint]], None]


class RunMetrics:
    """Records the metric points of a run's attempts and passes them on to the listeners."""

    def __init__(self, metadata: MetadataStore, listeners: Sequence[MetricListener] = (),
                 warn: Callable[[str], None] = print) -> None:
        self.metadata = metadata
        self.listeners = list(listeners)
        self.warn = warn
        self._failed_listeners: set[int] = set()

    def record(self, spec: TaskSpec, status: str, points: Sequence[MetricPoint]) -> Sequence[MetricPoint]:
        """Write the attempt's points (from its result, or those it spilled before it died); tell the listeners."""
        if points:
            self.metadata.add_metrics(spec.flow_name, spec.run_id, spec.step, spec.task_id, spec.attempt, points)
        for listener in self.listeners:
            self._tell(listener, spec, status, points)
        return points

    def _tell(self, listener: MetricListener, spec: TaskSpec, status: str, points: Sequence[MetricPoint]) -> None:
        """Call a listener; its error is shown once and never stops the run."""
        try:
            listener(spec, status, points)
        except Exception as exc:  # noqa: BLE001 - a mirror that fails must not fail the run
            if id(listener) not in self._failed_listeners:
                self._failed_listeners.add(id(listener))
                self.warn(f"Metrics of {spec.pathspec} could not be passed on ({type(exc).__name__}: {exc}); "
                          f"the run goes on and its metrics are recorded.")
