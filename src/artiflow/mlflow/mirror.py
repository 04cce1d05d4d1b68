"""The live mirror: a run started with `--mlflow` is an MLflow run while it runs.

The MLflow run is made in the runner before the first task starts (MLflow is imported then, so that no
import is under way in another thread when the runner forks a task). After that every call happens on a
background thread fed by a queue: the scheduler only hands over each attempt's points. The first call
that fails (server down, refused, too slow) prints one warning and the mirror stops for this run; the
run goes on, and `artiflow mlflow export` can fill in the MLflow run later.

A task's metrics in MLflow are those of its latest attempt that logged any, as in artiflow: the points of
a failed attempt wait until the next attempt logs its own (then they are dropped) or the run ends.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from .mapping import MirroredRun, metric_rows, mlflow_status, task_prefix, task_tag
from .settings import MlflowSettings, checked_client, first_line
from .tracker import Tracker

if TYPE_CHECKING:
    from ..runtime.spec import TaskSpec

CLOSE_SECONDS = 30.0  # at most this long, after the run ended, for the mirror to send what it holds
BATCH_SECONDS = 1.0   # what tasks hand over within this long goes to MLflow together (few, full log_batch calls)


@dataclass
class TaskPoints:
    """A task's points to mirror: its metric key prefix, pathspec, and (name, value, step, time) points."""

    prefix: str
    pathspec: str
    points: Sequence[tuple]


@dataclass
class _Finish:
    status: str
    end_ms: int


class LiveMirror:
    """Mirrors one run as it runs; `listener` goes to the scheduler, `close` is called when the run has ended."""

    def __init__(self, settings: MlflowSettings, run: MirroredRun, warn: Callable[[str], None],
                 info: Callable[[str], None]) -> None:
        self.settings = settings
        self.run = run
        self.warn = warn
        self.info = info
        self.tracker: Tracker | None = None
        self.run_id: str | None = None
        self.failed = False
        self.seen: set[str] = set()                      # task pathspecs whose points were handed over
        self.held: dict[str, TaskPoints] = {}            # a failed attempt's points, until a later attempt's
        self.queue: queue.Queue[TaskPoints | _Finish] = queue.Queue()
        self.thread: threading.Thread | None = None

    # -- in the runner's thread ------------------------------------------------------------------
    def open(self) -> bool:
        """Make the MLflow run; False, after one warning, if MLflow is not there (the settings were checked before)."""
        experiment = self.settings.experiment_for(self.run.flow)
        try:
            self.tracker = Tracker(checked_client(self.settings), self.settings.tracking_uri)
            experiment_id = self.tracker.experiment_id(experiment)
            self.run_id = self.tracker.create_run(experiment_id, self.run, "live")
        except Exception as exc:  # noqa: BLE001 - whatever MLflow raised, the run goes on without it
            self._give_up(exc)
            return False
        self.info(f"Mirrored to MLflow experiment {experiment!r}: {self.tracker.run_url(experiment_id, self.run_id)}")
        self.thread = threading.Thread(target=self._send_until_finished, name="artiflow-mlflow", daemon=True)
        self.thread.start()
        return True

    def listener(self, spec: TaskSpec, status: str, points: Sequence[tuple]) -> None:
        """Told by the scheduler after each attempt is recorded: hand its points over (a failed one's, held)."""
        if self.failed or self.thread is None or not points:  # no points: an earlier attempt's (held) stay
            return
        pathspec = spec.pathspec
        self.held.pop(pathspec, None)  # this attempt's points replace an earlier failed attempt's
        task = TaskPoints(task_prefix(spec.step, [f.index for f in spec.frames]), pathspec, list(points))
        self.seen.add(pathspec)
        if status == "failed":
            self.held[pathspec] = task  # a retry may log its own
        else:
            self.queue.put(task)

    def close(self, status: str, more: Iterable[TaskPoints] = ()) -> None:
        """The run ended with `status`: send what is held and `more` (tasks reused from another run), then the status.

        Waits at most CLOSE_SECONDS; whatever is not sent by then is dropped, with a warning.
        """
        if self.thread is None:
            return
        for task in [*self.held.values(), *more]:
            self.queue.put(task)
        self.held.clear()
        self.queue.put(_Finish(mlflow_status(status), int(time.time() * 1000)))
        self.thread.join(CLOSE_SECONDS)
        if self.thread.is_alive() and not self.failed:
            self.failed = True
            self.warn(f"MLflow: the tracking server at {self.settings.tracking_uri} took longer than "
                      f"{CLOSE_SECONDS:g} s to take this run's last metrics, so the mirror stopped waiting. "
                      f"Fill it in later with: artiflow mlflow export {self.run.pathspec}")

    # -- in the mirror's thread --------------------------------------------------------------------
    def _send_until_finished(self) -> None:
        while True:
            items = self._gather()
            finish = next((item for item in items if isinstance(item, _Finish)), None)
            if not self.failed:
                self._send([item for item in items if isinstance(item, TaskPoints)], finish)
            if finish is not None:
                return

    def _gather(self) -> list[TaskPoints | _Finish]:
        """The next item and all that come within BATCH_SECONDS after it (or until the run's end): one batch."""
        items = [self.queue.get()]
        until = time.monotonic() + BATCH_SECONDS
        while not isinstance(items[-1], _Finish):
            try:
                items.append(self.queue.get(timeout=max(0.0, until - time.monotonic())))
            except queue.Empty:
                break
        return items

    def _send(self, tasks: list[TaskPoints], finish: _Finish | None) -> None:
        assert self.tracker is not None and self.run_id is not None
        rows = [row for task in tasks for row in metric_rows(task.prefix, task.points)]
        tags = {task_tag(task.prefix): task.pathspec for task in tasks}
        try:
            self.tracker.log(self.run_id, metrics=rows, tags=tags)
            if finish is not None:
                self.tracker.finish(self.run_id, finish.status, finish.end_ms)
        except Exception as exc:  # noqa: BLE001 - the mirror stops; the run never notices
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        """One warning (what, where, what to check), and no more calls for this run."""
        self.failed = True
        self.warn(f"MLflow: could not mirror run {self.run.pathspec} to the tracking server at "
                  f"{self.settings.tracking_uri} (from {self.settings.source}): {first_line(exc)}. The run goes on "
                  f"without MLflow. Check that the server runs and that the URI is right, then fill the MLflow run "
                  f"in with: artiflow mlflow export {self.run.pathspec}")


def reused_points(run_pathspec: str, seen: set[str]) -> list[TaskPoints]:
    """The points of the run's tasks not seen live (reused from the origin run or the step cache), from the metadata."""
    from ..client import Run
    from ..client.context import using_namespace

    with using_namespace(None):
        return [task for task in run_points(Run(run_pathspec)) if task.pathspec not in seen]


def run_points(run: Any) -> list[TaskPoints]:
    """Every task's points of a client Run (its latest attempt that logged any), with their key prefixes."""
    by_task: dict[str, list[tuple]] = {}
    for record in run.metrics():
        by_task.setdefault(record.pathspec, []).append((record.name, record.value, record.step, record.timestamp))
    found = []
    for step in run:
        for task in step:
            if task.pathspec in by_task:
                prefix = task_prefix(step.id, [frame["index"] for frame in task.foreach_stack])
                found.append(TaskPoints(prefix, task.pathspec, by_task[task.pathspec]))
    return found


def open_for_run(settings: MlflowSettings, run: MirroredRun, listeners: list, console: Any) -> LiveMirror | None:
    """The run's live mirror, its listener added to the scheduler's; None when MLflow cannot be reached (warned)."""
    mirror = LiveMirror(settings, run, console.error, console.info)
    if not mirror.open():
        return None
    listeners.append(mirror.listener)
    return mirror


def close_for_run(mirror: LiveMirror | None, status: str, cloned: int) -> None:
    """Send the rest and the run's final status; `cloned` tasks (reused or cached) are read back from the metadata."""
    if mirror is None:
        return
    more: list[TaskPoints] = []
    if cloned and not mirror.failed:
        try:
            more = reused_points(mirror.run.pathspec, mirror.seen)
        except Exception as exc:  # noqa: BLE001 - a mirror never fails the run
            mirror.warn(f"MLflow: the metrics of the reused tasks of {mirror.run.pathspec} could not be read "
                        f"({first_line(exc)}); mirror them with: artiflow mlflow export {mirror.run.pathspec}")
    mirror.close(status, more)
