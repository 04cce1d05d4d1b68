"""A time limit for making a preview that may run someone else's code (a custom __repr__, a library's formatting).

Signals cannot serve: SIGALRM is @timeout's (runtime/task.py), and only the main thread gets signals. So the
work runs on a helper thread (one per calling thread, kept for the next preview) while the caller waits at
most the limit. A helper that overruns is abandoned: the caller goes on, the helper is told to stop (an
exception raised in it, which ends a Python loop; a blocking call ends when it returns) and exits once its
call returns; the next preview starts a fresh helper. At most MAX_STUCK abandoned helpers may be alive at
once: past that, previews that need a helper are refused rather than piling up threads.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable

MAX_STUCK = 4  # abandoned helpers (still inside an overrunning call) allowed at once


class PreviewTimeout(Exception):
    """A preview took longer than its limit (raised in the caller; also sent to the helper to stop it)."""


class HelpersBusy(Exception):
    """Too many earlier previews are still stuck in calls that overran: no new helper is started."""


class _Job:
    __slots__ = ("fn", "value", "done", "result", "error")

    def __init__(self, fn: Callable[[Any], Any], value: Any) -> None:
        self.fn, self.value = fn, value
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn(self.value)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who decides
            self.error = exc
        finally:
            self.done.set()


class _Helper:
    """A daemon thread running jobs one at a time, for one calling thread of one process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.abandoned = False
        self.thread = threading.Thread(target=self._serve, name="artiflow-preview", daemon=True)
        self.thread.start()

    def usable(self) -> bool:
        """Alive, not abandoned, and this process's (a forked child gets a fresh one)."""
        return not self.abandoned and self.pid == os.getpid() and self.thread.is_alive()

    def _serve(self) -> None:
        try:
            while not self.abandoned:
                self.jobs.get().run()
        except BaseException:  # noqa: BLE001 - a stop request that arrived after its job had ended: just exit
            return


_local = threading.local()
_abandoned: list[_Helper] = []
_abandoned_lock = threading.Lock()


def _helper() -> _Helper:
    """This thread's helper, started if it has none that works."""
    helper = getattr(_local, "helper", None)
    if helper is None or not helper.usable():
        with _abandoned_lock:
            _abandoned[:] = [h for h in _abandoned if h.thread.is_alive()]
            if len(_abandoned) >= MAX_STUCK:
                raise HelpersBusy(f"{len(_abandoned)} earlier previews are still stuck in slow code")
        helper = _local.helper = _Helper()
    return helper


def run_limited(fn: Callable[[Any], Any], value: Any, limit: float) -> Any:
    """`fn(value)` if it returns within `limit` seconds; else PreviewTimeout (it is stopped as far as it can be).

    Raises what `fn` raised, or HelpersBusy when too many earlier calls are still stuck.
    """
    helper = _helper()
    job = _Job(fn, value)
    helper.jobs.put(job)
    if not job.done.wait(limit):
        _abandon(helper)
        raise PreviewTimeout(f"took longer than {limit * 1000:g} ms")
    if isinstance(job.error, Exception):
        raise job.error
    if job.error is not None:  # SystemExit and the like, from someone's __repr__: an error like any other here
        raise RuntimeError(f"{type(job.error).__name__} was raised") from job.error
    return job.result


def _abandon(helper: _Helper) -> None:
    """Leave an overrunning helper to finish alone, and ask it to stop."""
    helper.abandoned = True
    with _abandoned_lock:
        _abandoned.append(helper)
    _interrupt(helper.thread)


def _interrupt(thread: threading.Thread) -> None:
    """Raise PreviewTimeout in `thread` at its next Python instruction (CPython's documented async-exception call)."""
    try:
        import ctypes  # only when a preview overran: rare
    except ImportError:  # an interpreter without ctypes: the helper ends when its call does
        return
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(PreviewTimeout))


def stuck_helpers() -> int:
    """How many abandoned helpers are still inside an overrunning call (for tests and diagnostics)."""
    with _abandoned_lock:
        return sum(1 for h in _abandoned if h.thread.is_alive())
