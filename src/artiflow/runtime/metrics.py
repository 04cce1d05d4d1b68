"""The task side of metrics: `self.log_metric(name, value, step=None)` buffers points in the task process.

A point is (name, value, step, timestamp), kept in four parallel lists (MetricPoints). The task's points travel back to the runner in its
TaskResult (`result.metrics`), which the scheduler records with the attempt in one batch. So that a
task killed hard (SIGKILL, os._exit, a segfault) loses at most its last second, a daemon thread
appends the points logged so far to a spill file its executor named (TaskSpec.metrics_spill) about
once a second; the executor reads it only when a task dies without a result, and hands the points
back with the attempt (Finished.metrics; from a Dask worker too).

The spill file is a sequence of frames: 4 bytes (big-endian length), then a pickled MetricPoints;
a frame cut short by a kill is ignored.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterator

MetricPoint = tuple  # (name: str, value: float, step: int | None, timestamp: float)
MAX_NAME_CHARS = 250            # MLflow's limit too: a name that fits here fits there
STEP_RANGE = (-(2 ** 63) + 1, 2 ** 63 - 1)  # 64 bits (the lowest value stands for "no step" in the store)
SPILL_SECONDS = 1.0             # how often the spill thread appends new points to the spill file
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class MetricPoints:
    """An attempt's points as four parallel lists: no object per point, so cheap to append, pickle and collect.

    Iterating gives (name, value, step, timestamp) tuples; `len`, indexing and equality work as on a list of them.
    """

    __slots__ = ("names", "values", "steps", "stamps")

    def __init__(self, names: list | None = None, values: list | None = None, steps: list | None = None,
                 stamps: list | None = None) -> None:
        self.names: list[str] = names if names is not None else []
        self.values: list[float] = values if values is not None else []
        self.steps: list[int | None] = steps if steps is not None else []
        self.stamps: list[float] = stamps if stamps is not None else []  # appended last: len(stamps) are complete

    def __len__(self) -> int:
        return len(self.stamps)

    def __iter__(self) -> Iterator[MetricPoint]:
        return zip(self.names, self.values, self.steps, self.stamps)

    def __getitem__(self, index: int) -> MetricPoint:
        return self.names[index], self.values[index], self.steps[index], self.stamps[index]

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (MetricPoints, list)) else NotImplemented

    def __repr__(self) -> str:
        return f"<MetricPoints: {len(self)}>"

    def between(self, start: int, end: int) -> MetricPoints:
        """The points [start, end) as a new MetricPoints."""
        return MetricPoints(self.names[start:end], self.values[start:end], self.steps[start:end],
                            self.stamps[start:end])

    def extend(self, other: MetricPoints) -> None:
        for mine, theirs in zip(self._lists(), other._lists()):
            mine.extend(theirs)

    def _lists(self) -> tuple[list, list, list, list]:
        return self.names, self.values, self.steps, self.stamps

    def __getstate__(self) -> tuple:
        return self._lists()

    def __setstate__(self, state: tuple) -> None:
        self.names, self.values, self.steps, self.stamps = state


class MetricLog:
    """The points one task attempt logged, in order, and the thread that spills them to a file as it goes."""

    __slots__ = ("points", "step_name", "spill_path", "_spilled", "_thread", "_names", "_stop")

    def __init__(self, step_name: str, spill_path: str | None = None) -> None:
        self.points = MetricPoints()
        self.step_name = step_name
        self.spill_path = spill_path
        self._spilled = 0            # how many points are in the spill file already
        self._thread: Any = None
        self._names: set[str] = set()  # names already checked
        self._stop: Any = None

    def log(self, name: Any, value: Any, step: Any = None) -> None:
        """Record one point; a bad name, value or step raises MetricError naming the step and the call."""
        kind = type(value)
        if kind is float:
            pass
        elif kind is int:
            value = self._int_value(name, value)
        else:
            value = self._other_value(name, value)
        if step is not None and (type(step) is not int or not STEP_RANGE[0] <= step <= STEP_RANGE[1]):
            step = self._checked_step(name, step)
        if name not in self._names:
            self._check_name(name)
        points = self.points
        points.names.append(name)
        points.values.append(value)
        points.steps.append(step)
        points.stamps.append(time.time())
        if self._thread is None and self.spill_path is not None:
            self._start_spilling()

    # -- the slow paths: numpy scalars, and every error ------------------------------------------
    def _int_value(self, name: Any, value: int) -> float:
        try:
            return float(value)
        except OverflowError:
            raise self._error(name, f"the value {value:.3e} is too large for a float metric") from None

    def _other_value(self, name: Any, value: Any) -> float:
        """A numpy (or other numbers.Real) scalar as a float; anything else (a bool, a string...) refused."""
        import numbers

        if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ == "bool"):
            raise self._error(name, f"the value is a bool ({value!r}), not a number; log float({value!r}) if "
                                    f"you mean 1.0/0.0")
        if isinstance(value, numbers.Real):
            try:
                return float(value)
            except (OverflowError, TypeError, ValueError) as exc:
                raise self._error(name, f"the value {value!r} cannot be read as a float ({exc})") from None
        hint = ""
        if hasattr(value, "item") and callable(value.item):
            hint = "; a one-element array or tensor: log value.item()"
        elif isinstance(value, (str, bytes)):
            hint = "; convert it first, e.g. float(text), if it holds a number"
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise self._error(name, f"the value must be a number (an int or a float; numpy scalars work too), not "
                                f"{_a(value)}: {shown}{hint}")

    def _checked_step(self, name: Any, step: Any) -> int:
        import numbers

        if isinstance(step, numbers.Integral) and not isinstance(step, bool):
            step = int(step)
            if STEP_RANGE[0] <= step <= STEP_RANGE[1]:
                return step
            raise self._error(name, f"step={step} does not fit in 64 bits")
        raise self._error(name, f"step must be an integer (an iteration or epoch number) or None, not "
                                f"{_a(step)}: {step!r}")

    def _check_name(self, name: Any) -> None:
        if type(name) is not str:
            raise self._error(name, f"the name must be a string, not {_a(name)}: {name!r}")
        if not name.strip():
            raise self._error(name, "the name is empty; give the metric a name, e.g. 'loss'")
        if len(name) > MAX_NAME_CHARS:
            raise self._error(name, f"the name is {len(name)} characters long; at most {MAX_NAME_CHARS} are allowed")
        if not name.isprintable():
            raise self._error(name, "the name holds control characters (a newline, a tab...); use printable "
                                    "characters only")
        self._names.add(name)

    def _error(self, name: Any, what: str) -> Exception:
        from ..exceptions import MetricError, quoted

        return MetricError(f"log_metric({quoted(name, 40)}, ...) in step '{self.step_name}' at {caller()}: {what}.")

    # -- spilling ----------------------------------------------------------------------------------
    def _start_spilling(self) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spill_loop, name="artiflow-metrics-spill", daemon=True)
        self._thread.start()

    def _spill_loop(self) -> None:
        while not self._stop.wait(SPILL_SECONDS):
            self.spill()

    def spill(self) -> None:
        """Append the points logged since the last spill to the spill file (a write error stops spilling)."""
        end = len(self.points)  # the timestamps are appended last: every point before `end` is complete
        if end <= self._spilled or self.spill_path is None:
            return
        try:
            write_frame(self.spill_path, self.points.between(self._spilled, end))
        except OSError:
            self.spill_path = None  # the result still carries every point; only a hard kill would lose them
            return
        self._spilled = end

    def close(self) -> MetricPoints:
        """Stop spilling; the points, for the TaskResult."""
        if self._stop is not None:
            self._stop.set()
        return self.points


def _a(value: Any) -> str:
    """`a float`, `an int`: the type of a value, for a message."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def caller() -> str:
    """`file:line` of the user's code that called into artiflow (the first frame outside artiflow's package)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "(unknown place)"


def write_frame(path: str, points: MetricPoints) -> None:
    """Append one frame of points to a spill file."""
    import pickle

    payload = pickle.dumps(points, protocol=5)
    with open(path, "ab") as out:
        out.write(len(payload).to_bytes(4, "big") + payload)


def read_spill(path: str) -> MetricPoints:
    """Every point of the whole frames of a spill file ([] when there is none); a torn last frame is dropped."""
    import pickle

    try:
        with open(path, "rb") as source:
            data = source.read()
    except OSError:
        return []
    points = MetricPoints()
    at = 0
    while at + 4 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        if at + 4 + size > len(data):
            break
        try:
            points.extend(pickle.loads(data[at + 4:at + 4 + size]))
        except Exception:  # noqa: BLE001 - a damaged frame: keep what came before it
            break
        at += 4 + size
    return points


# -- the running task's log (one per task process) --------------------------------------------------
_active: MetricLog | None = None


def open_log(step_name: str, spill_path: str | None) -> MetricLog:
    """Start the metric log of the attempt this process runs."""
    global _active
    _active = MetricLog(step_name, spill_path)
    return _active


def close_log() -> MetricPoints:
    """End the attempt's metric log; its points."""
    global _active
    log, _active = _active, None
    return log.close() if log is not None else MetricPoints()


def points_so_far() -> MetricPoints:
    """The points the running attempt logged so far (what a card rendered after the step shows); none outside a task."""
    return _active.points if _active is not None else MetricPoints()


def log_metric(name: Any, value: Any, step: Any = None) -> None:
    """Log a point of the running task (`self.log_metric` and `current.log_metric` call this)."""
    log = _active
    if log is None:
        from ..exceptions import MetricError, quoted

        raise MetricError(f"log_metric({quoted(name, 40)}, ...) at {caller()} was called outside a running step: metrics "
                          f"belong to a task. Call it inside a @step of a flow that is running (python flow.py run).")
    log.log(name, value, step)
