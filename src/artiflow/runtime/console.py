"""What the runner prints: task output prefixed with its pathspec, and the run's progress.

A task's `\\r` progress updates (tqdm) replace each other. On a terminal the latest is drawn in place
on the last line, at most every TTY_UPDATE_SECONDS (every PLAIN_UPDATE_SECONDS when another task's
line holds it); into a file or a pipe an update is printed as a line of its own at most every
PLAIN_UPDATE_SECONDS per task stream. The line's final text (when the task ends it) is always shown.

With the live view on (a terminal, see runtime/progress.py), everything goes through the view
instead: lines are printed above it, updates shown in it.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, TextIO

from .spec import TaskSpec

if TYPE_CHECKING:
    from .progress import LiveView, RunTally

TTY_UPDATE_SECONDS = 0.1
PLAIN_UPDATE_SECONDS = 5.0


class Console:
    """Writes to the runner's stdout/stderr; `quiet` keeps only task output and errors."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.monotonic()
        self.ttys: dict[int, bool] = {}
        self.shown: dict[tuple[str, str], tuple[float, str]] = {}  # (pathspec, stream) → its last update shown
        self.open: tuple[TextIO, tuple[str, str]] | None = None  # a terminal line holding an update, unfinished
        self.view: LiveView | None = None  # the live progress view, while it is on

    @contextmanager
    def watching(self, tally: RunTally, title: str, wanted: bool) -> Iterator[None]:
        """Show the live view while the body runs, if `wanted` and the output is a terminal; end it however
        the body ends (success, failure, Ctrl-C), leaving its last state on the screen."""
        from .progress import LiveView, view_possible

        if not wanted or self.quiet or not view_possible():
            yield
            return
        self._end_open()
        view = LiveView(tally, title, self.started, stderr_too=self._is_tty(sys.stderr))
        try:
            view.start()
        except Exception as exc:  # noqa: BLE001 - no view is no reason to stop the run: plain lines
            self.error(f"(The live progress view could not start: {exc}. The run goes on with plain lines; "
                       f"--no-progress or ARTIFLOW_PROGRESS=0 turns the view off.)")
            yield
            return
        self.view = view
        outcome = "failed"
        try:
            yield
            outcome = "succeeded" if not any(t.failed for t in tally.steps.values()) else "failed"
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        finally:
            self.view = None
            view.stop(outcome)

    def tick(self) -> None:
        """The scheduler's loop came round: let the live view redraw, if one is on and it is time."""
        if self.view is not None:
            self.view.tick()

    def seconds_to_draw(self) -> float | None:
        """How long the scheduler may wait before the live view wants redrawing (None: no view)."""
        return self.view.seconds_to_draw() if self.view is not None else None

    def task_line(self, spec: TaskSpec, stream: str, line: str, update: bool = False) -> bool:
        """Show a line of a task's output, or an update of its current line; False if an update was not shown yet."""
        view = self.view
        if view is not None and view.broken is None and view.shows(stream):
            return view.task_line(spec.pathspec, stream, line, update)
        out = sys.stderr if stream == "stderr" else sys.stdout
        key = (spec.pathspec, stream)
        tty = self._is_tty(out)
        now = time.monotonic()
        last = self.shown.get(key)
        if update:
            in_place = tty and (self.open is None or self.open[1] == key)  # else it would take another's line
            if last is not None and now - last[0] < (TTY_UPDATE_SECONDS if in_place else PLAIN_UPDATE_SECONDS):
                return False
            self.shown[key] = (now, line)
            if tty:
                self._draw(out, key, line)
                return True
        elif last is not None:
            del self.shown[key]
            if self.open is not None and self.open[1] == key:
                self._draw(out, key, line)
                self._end_open()
                return True
            if not tty and last[1] == line:  # the final text was just printed as an update
                return True
        self._end_open(out)
        out.write(f"[{spec.pathspec}] {line}\n")
        out.flush()
        return True

    def task_event(self, spec: TaskSpec, text: str) -> None:
        """A routine event of a task (starting, finished, reused): a line, unless the live view counts it instead."""
        if self.view is None or self.view.broken is not None:
            self.task_line(spec, "stdout", text)

    def _draw(self, out: TextIO, key: tuple[str, str], line: str) -> None:
        """Draw an update over the terminal's last line (cut to its width, so that it stays one line)."""
        if self.open is not None and self.open[1] != key:
            self._end_open()
        prefix = f"[{key[0]}] "
        try:
            width = os.get_terminal_size(out.fileno()).columns - 1
        except (OSError, ValueError, AttributeError):
            width = 0
        text = prefix + line
        if width > len(prefix):
            text = text[:width]
        out.write(f"\r{text}\x1b[K")
        out.flush()
        self.open = (out, key)

    def _end_open(self, before: TextIO | None = None) -> None:
        """End the unfinished terminal line before anything else is written to a terminal."""
        if self.open is None or (before is not None and not self._is_tty(before)):
            return
        out = self.open[0]
        self.open = None
        out.write("\n")
        out.flush()

    def _is_tty(self, out: TextIO) -> bool:
        known = self.ttys.get(id(out))
        if known is None:
            try:
                known = out.isatty()
            except (AttributeError, ValueError):
                known = False
            self.ttys[id(out)] = known
        return known

    def info(self, text: str) -> None:
        if self.view is not None and self.view.broken is None:
            self.view.add(text)
        elif not self.quiet:
            self._end_open(sys.stdout)
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def error(self, text: str) -> None:
        if self.view is not None and self.view.broken is None and self.view.shows("stderr"):
            self.view.add(text)
            return
        self._end_open(sys.stderr)
        sys.stdout.flush()
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.started
