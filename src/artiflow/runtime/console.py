"""What the runner prints: task output prefixed with its pathspec, and the run's progress."""

from __future__ import annotations

import sys
import time

from .spec import TaskSpec


class Console:
    """Writes to the runner's stdout/stderr; `quiet` keeps only task output and errors."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def task_line(self, spec: TaskSpec, stream: str, line: str) -> None:
        out = sys.stderr if stream == "stderr" else sys.stdout
        out.write(f"[{spec.pathspec}] {line}\n")
        out.flush()

    def info(self, text: str) -> None:
        if not self.quiet:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def error(self, text: str) -> None:
        sys.stdout.flush()
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.started
