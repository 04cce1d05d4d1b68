"""Recording what a running task reads: through `self`, a join's inputs, its foreach element, or the client.

The task's own reads are noted by its TaskContext; a client read inside a step (`Flow(...)...data.x`)
is noted here, in the task's process, while a task is running.
"""

from __future__ import annotations

from typing import Any

from .records import CLIENT, Read

_recording: list[Read] | None = None  # the running task's reads (None outside a task)


def start_recording(reads: list[Read]) -> None:
    """Note client reads in `reads` from now on (the task runtime calls this before the step)."""
    global _recording
    _recording = reads


def stop_recording() -> None:
    global _recording
    _recording = None


def note_client_read(task: Any, name: str, key: str) -> None:
    """A client read of artifact `name` of `task` (a client Task) inside a step: recorded with its producers."""
    if _recording is None:
        return
    producers = task._artifact_producers().get(name, ())  # the client Task queries them once
    _recording.append(Read(name, key, producers or (task.pathspec,), CLIENT, f"{task.pathspec}/{name}"))
