"""The live view of a run on a terminal: one row per step, task output streaming above it.

`RunTally` is what the scheduler keeps whatever the output: a few counters per step, bumped once
per task event (no I/O, no rendering). `LiveView` draws them with rich at the bottom of the
terminal, REFRESHES_PER_SECOND times a second at most, when the scheduler's loop calls `tick` (it
waits no longer than the next redraw): task lines are queued and printed above the view in
batches, so a run of many short tasks pays nothing per line for the view. It draws from the
runner's only thread: no thread is running when a task is forked. rich is imported only when a
view starts, never for a run into a pipe or a file.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from ..exceptions import CommandError

if TYPE_CHECKING:
    from ..graph import FlowGraph

REFRESHES_PER_SECOND = 5      # how often the view is redrawn (and queued lines printed above it)
BAR_WIDTH = 24                # cells of a foreach step's bar
SHOWN_UPDATES = 3             # the latest `\r` progress updates of tasks shown under the step rows
PROGRESS_ENV = "ARTIFLOW_PROGRESS"
OFF_WORDS = frozenset({"0", "false", "no", "off"})
ON_WORDS = frozenset({"", "1", "true", "yes", "on", "auto"})


# -- what the scheduler counts ------------------------------------------------------------------------
@dataclass(slots=True)
class StepTally:
    """One step's tasks so far: made (total), running, done (ran, cached or reused), failed for good."""

    name: str
    many: bool                 # the step runs as many tasks at once (inside a foreach): it gets a bar and an ETA
    total: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0
    reused: int = 0
    first_start: float = 0.0   # time.monotonic() of its first task's start (0: none yet)
    last_end: float = 0.0      # ... and of its latest task's end


class RunTally:
    """The counters of every step of a run, in the flow's order; the scheduler calls one method per event."""

    def __init__(self, graph: FlowGraph) -> None:
        many = _multi_task_steps(graph)
        self.steps = {node.name: StepTally(node.name, node.name in many) for node in graph}

    def made(self, step: str) -> None:
        """A task of the step was made (queued to run, or about to be reused)."""
        self.steps[step].total += 1

    def started(self, step: str) -> None:
        tally = self.steps[step]
        tally.running += 1
        if not tally.first_start:
            tally.first_start = time.monotonic()

    def ended(self, step: str, status: str) -> None:
        """An attempt ended: succeeded, caught, or failed (a failed one may still be retried)."""
        tally = self.steps[step]
        tally.running -= 1
        tally.last_end = time.monotonic()
        if status != "failed":
            tally.done += 1

    def failed(self, step: str) -> None:
        """A task failed with no retry left: the run will fail."""
        self.steps[step].failed += 1

    def cloned(self, step: str, cached: bool) -> None:
        """A task taken as it is from the step cache or from the run being resumed."""
        tally = self.steps[step]
        tally.done += 1
        if cached:
            tally.cached += 1
        else:
            tally.reused += 1

    @property
    def task_counts(self) -> tuple[int, int]:
        """(tasks done, tasks made) over all steps."""
        return sum(t.done for t in self.steps.values()), sum(t.total for t in self.steps.values())


def _multi_task_steps(graph: FlowGraph) -> set[str]:
    """The steps that run as one task per foreach element (or gang member): those a fan-out leads to, and the
    steps after them up to the join."""
    many = {node.out[0] for node in graph if node.fans_out and node.out and not graph[node.out[0]].is_join}
    grew = True
    while grew:
        grew = False
        for node in graph:
            if (node.name not in many and not node.is_join and node.in_steps
                    and all(step in many for step in node.in_steps)):
                many.add(node.name)
                grew = True
    return many


# -- whether a run gets the view ----------------------------------------------------------------------
def progress_setting() -> bool:
    """ARTIFLOW_PROGRESS: False when it turns the live view off; a clear error for a value it does not take."""
    raw = os.environ.get(PROGRESS_ENV, "")
    word = raw.strip().lower()
    if word in OFF_WORDS:
        return False
    if word in ON_WORDS:
        return True
    raise CommandError(f"{PROGRESS_ENV}={raw!r} is not understood. Set it to 0 (never show the live progress "
                       f"view) or 1 (show it when the output is a terminal, the default), or unset it.")


def view_possible() -> bool:
    """The view needs a terminal that can move its cursor: stdout is a TTY and TERM is not `dumb`."""
    if os.environ.get("TERM", "") == "dumb":
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


# -- the view ------------------------------------------------------------------------------------------
class LiveView:
    """The rich Live region at the bottom of the terminal, and the lines to print above it.

    Everything that reaches the terminal while the view is on goes through `add` (a queue), printed
    at the next redraw. If drawing fails (a bug, a terminal gone) the view is given up: `broken` is
    set, what was queued is written plainly, and the console goes back to plain lines.
    """

    def __init__(self, tally: RunTally, title: str, started: float, stderr_too: bool) -> None:
        self.tally = tally
        self.title = title
        self.stderr_too = stderr_too          # stderr is the terminal too: its lines go above the view
        self.lines: list[str] = []
        self.updates: dict[tuple[str, str], str] = {}
        self.started = started               # time.monotonic() when the run started
        self.outcome: str | None = None       # succeeded / failed / interrupted, once the run ended
        self.broken: BaseException | None = None
        self.next_draw = 0.0                  # time.monotonic() of the next redraw
        self.live: Any = None

    def shows(self, stream: str) -> bool:
        return stream == "stdout" or self.stderr_too

    def add(self, text: str) -> None:
        """Queue a line (or lines) to print above the view at its next redraw."""
        self.lines.append(text)

    def task_line(self, pathspec: str, stream: str, line: str, update: bool) -> bool:
        """A task's line is queued; a `\\r` update is shown under the steps until its line ends."""
        key = (pathspec, stream)
        if update:
            self.updates.pop(key, None)  # re-inserted last: the newest updates are the ones shown
            self.updates[key] = line
            return True
        self.updates.pop(key, None)
        self.lines.append(f"[{pathspec}] {line}")
        return True

    def start(self) -> None:
        """Draw the view for the first time; rich is imported here."""
        from rich.console import Console
        from rich.live import Live

        self.live = Live(_Rendered(self), console=Console(file=sys.stdout, highlight=False), auto_refresh=False,
                         redirect_stdout=False, redirect_stderr=False, transient=False)
        self.live.start(refresh=True)
        self.next_draw = time.monotonic() + 1 / REFRESHES_PER_SECOND

    def seconds_to_draw(self) -> float:
        """How long the scheduler may wait before the next redraw is due."""
        return max(0.0, self.next_draw - time.monotonic())

    def tick(self) -> None:
        """Redraw if it is time: print the queued lines above the view (which redraws it), or only the view."""
        now = time.monotonic()
        if now < self.next_draw or self.broken is not None:
            return
        self.next_draw = now + 1 / REFRESHES_PER_SECOND
        try:
            if not self._print_queued():
                self.live.refresh()
        except Exception as exc:  # noqa: BLE001 - a rendering bug or a terminal gone: plain lines from here on
            self.broken = exc
            self._give_up()

    def stop(self, outcome: str) -> None:
        """Print what is still queued, draw the view one last time with the run's outcome, end it."""
        self.outcome = outcome
        self.updates.clear()
        if self.broken is not None:
            return
        try:
            self._print_queued()
            self.live.stop()
        except Exception as exc:  # noqa: BLE001
            self.broken = exc
            self._give_up()

    def _print_queued(self) -> bool:
        """Print the queued lines above the view (the view is redrawn under them); False if there were none."""
        if not self.lines:
            return False
        batch, self.lines = self.lines, []
        try:
            self.live.console.print(_RawLines(batch), crop=False)
        except BaseException:
            self.lines[:0] = batch  # not lost: _give_up writes them plainly
            raise
        return True

    def _give_up(self) -> None:
        """End the Live region as far as it can be, then write what was queued as plain lines."""
        try:
            self.live.stop()
        except Exception:  # noqa: BLE001 - the terminal may be what failed
            pass
        try:
            sys.stdout.write("".join(line + "\n" for line in self.lines))
            sys.stdout.flush()
            sys.stderr.write(f"(The live progress view stopped: {type(self.broken).__name__}: {self.broken}. "
                             f"Plain lines from here on; --no-progress turns the view off.)\n")
            sys.stderr.flush()
        except OSError:
            pass
        self.lines.clear()

    # -- what is drawn ---------------------------------------------------------------------------------
    def render(self, colorless: bool = False) -> Any:
        """The view now: a header with the run and its elapsed time, a row per step, the latest updates.

        One Text, its columns padded here: a rich Table costs ten times as much to lay out, at every redraw.
        `colorless` (NO_COLOR): a bar's empty part is blank, as it could not be told from the filled part.
        """
        now = time.monotonic()
        steps = list(self.tally.steps.values())
        counts = [f"{t.done}/{t.total} done" if t.total else "waiting" for t in steps]
        widths = (max(len(t.name) for t in steps), max(map(len, counts)))
        bars = any(t.many for t in steps)
        view = self._header(now)
        for tally, shown in zip(steps, counts):
            view.append("\n")
            view.append_text(self._row(tally, shown, widths, bars, colorless, now))
        for (pathspec, _), line in list(self.updates.items())[-SHOWN_UPDATES:]:
            view.append(f"\n[{pathspec}] {line}", style="dim")
        view.no_wrap, view.overflow = True, "ellipsis"
        return view

    def _header(self, now: float) -> Any:
        from rich.text import Text

        done, total = self.tally.task_counts
        seconds = now - self.started
        if self.outcome is None:
            state, style, when = "running", "bold", f"{_clock(seconds)} elapsed"
        else:
            style = {"succeeded": "bold green", "failed": "bold red"}.get(self.outcome, "bold yellow")
            state, when = self.outcome, f"in {seconds:.1f} s"
        return Text.assemble((self.title, "bold"), " ", (state, style), f" {when} · {done}/{total} tasks done")

    def _row(self, tally: StepTally, counts: str, widths: tuple[int, int], bars: bool, colorless: bool,
             now: float) -> Any:
        """`✓ name  ━━━━━━╸━━━━  412/1000 done  16 running  1 failed  12 cached  ETA 0:07`."""
        from rich.text import Text

        mark, style = self._mark(tally)
        row = Text.assemble((mark, style), " ", (tally.name.ljust(widths[0]), style), " ")
        if bars:
            row.append_text(_bar(tally.done, tally.total, BAR_WIDTH, colorless) if tally.many and tally.total
                            else Text(" " * BAR_WIDTH))
            row.append(" ")
        row.append(counts.ljust(widths[1]))
        cache = ", ".join(f"{n} {what}" for n, what in ((tally.cached, "cached"), (tally.reused, "reused")) if n)
        for text, part_style in ((f"{tally.running} running" if tally.running else "", "yellow"),
                                 (f"{tally.failed} failed" if tally.failed else "", "red"),
                                 (cache, "cyan"), (self._timing(tally, now), "dim")):
            if text:
                row.append("  ")
                row.append(text, style=part_style)
        return row

    def _mark(self, tally: StepTally) -> tuple[str, str]:
        if tally.failed:
            return "✗", "red"
        if not tally.total:
            return "·", "dim"
        if tally.running or (tally.done < tally.total and self.outcome is None):
            return "▸", "yellow"
        return ("✓", "green") if tally.done >= tally.total else ("–", "dim")

    def _timing(self, tally: StepTally, now: float) -> str:
        """The ETA of a multi-task step still going; the time a finished step took."""
        if not tally.first_start:
            return ""
        left = tally.total - tally.done - tally.failed
        if left <= 0 or self.outcome is not None:
            end = tally.last_end or now
            return f"{end - tally.first_start:.1f} s"
        if tally.many and tally.done:
            rate = tally.done / (now - tally.first_start)
            return f"ETA {_clock(left / rate)}"
        return ""


class _Rendered:
    """What the Live region holds: rendered anew from the counters each time it is drawn."""

    def __init__(self, view: LiveView) -> None:
        self.view = view

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
        yield self.view.render(colorless=console.no_color or console.color_system is None)


class _RawLines:
    """Lines printed as they are (no markup, no wrapping by rich: the terminal wraps a long line)."""

    def __init__(self, lines: list[str]) -> None:
        self.text = "\n".join(lines) + "\n"

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
        from rich.segment import Segment

        yield Segment(self.text)


def _bar(done: int, total: int, width: int, colorless: bool) -> Any:
    """A bar of `width` cells, done/total of it filled (half cells too), in rich's progress bar styles."""
    from rich.text import Text

    halves = min(width * 2, width * 2 * done // total)
    filled = "━" * (halves // 2) + ("╸" if halves % 2 else "")
    style = "bar.finished" if done >= total else "bar.complete"
    return Text.assemble((filled, style), (("·" if colorless else "━") * (width - len(filled)), "bar.back"))


def _clock(seconds: float) -> str:
    """`m:ss` (or `h:mm:ss`)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
