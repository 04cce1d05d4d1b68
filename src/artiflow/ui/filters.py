"""How the templates show times, durations, sizes and statuses (Jinja2 filters)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from ..cli.inspect import format_size

STATUS_CLASSES = {"completed": "ok", "succeeded": "ok", "done": "ok", "running": "running", "failed": "failed",
                  "killed": "failed", "lost": "failed", "cached": "cached", "reused": "cached", "pending": "pending"}


def when(timestamp: float | None) -> str:
    """An epoch time as local `YYYY-MM-DD HH:MM:SS`, or an empty string."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """Seconds as `850 ms`, `12.3 s`, `4 min 05 s` or `2 h 03 min`."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def elapsed(start: float | None, end: float | None) -> str:
    """The time from `start` to `end` (to now while `end` is None)."""
    if start is None:
        return ""
    return duration((end if end is not None else time.time()) - start)


def status_class(status: str | None) -> str:
    """The CSS class of a status badge."""
    return STATUS_CLASSES.get((status or "").lower(), "other")


def install(env: Any) -> None:
    """Add the filters to a Jinja2 environment."""
    env.filters.update(when=when, duration=duration, elapsed=elapsed, size=format_size, status_class=status_class)
