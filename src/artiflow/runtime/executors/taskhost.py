"""The worker side of the Dask executor: the function each Dask task runs, and the task hosts it talks to.

`run_attempts` hands the attempts of its batch, one after another, to the run's task host on this
worker process (hostproc.py; started by the run's first attempt here, then reused), and forwards each
one's start, output lines and outcome to the driver as Dask events: those that arise in one turn of the
worker's event loop (an attempt's outcome and the next one's start) go as one, since each Dask event is
a message through the scheduler, and messages are most of what a short attempt costs. It is a coroutine, which Dask runs on
the worker's event loop: waiting for a task holds no thread (Dask's profiler samples every thread
running a task, every 10 ms, which costs more than the rest of an attempt's handling here).
Anything that blocks (starting a host) runs in a thread. `stop_attempts` and `shutdown_run` are
called on workers with `Client.run` by the driver.

This module is imported by Dask workers: it imports nothing of the flow, and distributed only when called.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from .hostproc import BOOT, HostSetup
from .wire import Channel

TOPIC = "artiflow"  # one Dask event topic for every run (the scheduler keeps a bounded log per topic)
OUTCOME_EVENT_BYTES = 32 << 10  # an outcome up to this size goes back as an event, a larger one as the result
CANCEL_CHECK_SECONDS = 1.0      # how often a waiting attempt checks that Dask still wants it (its driver is alive)
GONE_STATES = frozenset({"cancelled", "released", "forgotten"})
STOPPED_EARLY = "the task was stopped before it started"
Ident = tuple  # (task id, attempt): an attempt within its run


@dataclass
class Outcome:
    """How an attempt ended, as the worker returns it: the pickled TaskResult (None if it died) and its output."""

    result: bytes | None
    stdout: bytes
    stderr: bytes
    death: str
    worker: str
    metrics: bytes | None = None  # the pickled metric points a task that died had spilled

    @classmethod
    def died(cls, worker: str, why: str) -> Outcome:
        return cls(None, b"", b"", why, worker)


class Waiter:
    """An attempt its Dask task awaits on the worker's event loop; finished once, from any thread."""

    __slots__ = ("key", "loop", "future")

    def __init__(self, key: str, loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()

    def finish(self, outcome: Outcome) -> None:
        self.loop.call_soon_threadsafe(self._set, outcome)

    def _set(self, outcome: Outcome) -> None:
        if not self.future.done():
            self.future.set_result(outcome)


class HostProcess:
    """A running task host and the attempts it runs for this worker: requests in, lines and results out."""

    def __init__(self, setup: HostSetup, worker: Any, on_exit: Any, emit: Any) -> None:
        self.address = worker.address
        self.on_exit = on_exit
        self.emit = emit  # RunHosting.emit: an event for the driver
        self.lock = threading.Lock()  # the waiters, and whether the host has ended
        self.waiters: dict[Ident, Waiter] = {}
        self.ended = False
        self.proc = subprocess.Popen([sys.executable, "-c", BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     start_new_session=True)  # a Ctrl-C to the worker's terminal is the worker's
        self.requests = Channel(os.dup(self.proc.stdin.fileno()))
        self.replies = Channel(os.dup(self.proc.stdout.fileno()))
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.requests.send(setup)
        self._wait_until_ready(setup)
        threading.Thread(target=self._read_replies, name=f"artiflow-host-{self.proc.pid}", daemon=True).start()

    def _wait_until_ready(self, setup: HostSetup) -> None:
        """The host's first reply: ready, or why the flow could not be loaded (HostFailed)."""
        try:
            kind, detail = self.replies.receive()
        except EOFError:
            kind, detail = "failed", f"the task host process exited with code {self.proc.wait()} while starting"
        if kind != "ready":
            self.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            raise HostFailed(f"the flow's code (snapshot {setup.code_key}) could not be loaded on the Dask worker "
                             f"{self.address}: {detail}\nInstall the flow's packages on every worker, in the "
                             f"environment `dask worker` runs in (the code itself comes from the datastore).")

    def start(self, ident: Ident, waiter: Waiter, spec_bytes: bytes) -> bool:
        """Hand the attempt to the host; False if the host has ended (the attempt did not start)."""
        with self.lock:
            if self.ended:
                return False
            self.waiters[ident] = waiter
        try:
            self.requests.send(("run", spec_bytes))
        except OSError:
            with self.lock:
                self.waiters.pop(ident, None)
            return False
        return True

    def stop(self, ident: Ident, force: bool) -> None:
        self.requests.send(("stop", ident, force))

    def _read_replies(self) -> None:
        """A thread: output lines become Dask events for the driver; a result wakes the attempt's worker thread."""
        try:
            while True:
                message = self.replies.receive()
                if message[0] == "lines":
                    self._forward_lines(message[1])
                elif message[0] == "done":
                    _, ident, result, stdout, stderr, death, spilled = message
                    with self.lock:
                        waiter = self.waiters.pop(ident, None)
                    if waiter is not None:
                        waiter.finish(Outcome(result, stdout, stderr, death, self.address, spilled))
        except (EOFError, OSError):
            pass
        code = self.proc.wait()
        self.on_exit(self)
        with self.lock:
            self.ended = True
            left, self.waiters = list(self.waiters.values()), {}
        for waiter in left:
            waiter.finish(Outcome.died(self.address, f"the task host process on the Dask worker {self.address} "
                                                     f"ended (exit code {code}) while the task ran"))

    def _forward_lines(self, lines: list) -> None:
        """One event per attempt for a batch of its output lines."""
        by_key: dict[str, list] = {}
        for ident, stream, text, update in lines:
            waiter = self.waiters.get(ident)
            if waiter is not None:
                by_key.setdefault(waiter.key, []).append([stream, text, update])
        for key, batch in by_key.items():
            self.emit(["lines", key, batch])

    def close(self) -> None:
        """Ask the host to end (it kills its tasks); reaped by the reader thread, or here if it never started."""
        try:
            self.requests.send(("exit",))
        except OSError:
            pass
        self.requests.close()


class HostFailed(Exception):
    """The run's task host could not start on this worker; the message is the attempts' death reason."""


class RunHosting:
    """One run's state on one worker process: its task host (started on first use) and attempts stopped early."""

    def __init__(self, token: str, worker: Any) -> None:
        self.token = token
        self.worker = worker
        self.start_lock = threading.Lock()   # held while a host starts (a second), never by the event loop
        self.state_lock = threading.Lock()   # held for a moment, in the event loop or in a starting thread
        self.host: HostProcess | None = None
        self.failed: str | None = None       # why the host could not load the flow here (it will not, this run)
        self.stopped: set[Ident] = set()     # stop requests that came before their attempt did
        self.loop: asyncio.AbstractEventLoop | None = None  # the worker's event loop, and its thread
        self.loop_thread = 0
        self.events_lock = threading.Lock()
        self.events: list[list] = []         # events for the driver not sent yet (sent at the loop's next turn)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send events on this loop (the worker's: its Dask tasks run there, and this is called from one)."""
        if self.loop is None:
            self.loop, self.loop_thread = loop, threading.get_ident()

    def emit(self, event: list) -> None:
        """Queue an event for the driver ([kind, attempt key, ...]); those of one turn of the loop go as one."""
        with self.events_lock:
            self.events.append(event)
            if len(self.events) > 1:
                return  # its send is already due
        if threading.get_ident() == self.loop_thread:
            self.loop.call_soon(self._send_events)
        else:
            self.loop.call_soon_threadsafe(self._send_events)

    def _send_events(self) -> None:
        with self.events_lock:
            events, self.events = self.events, []
        if events:
            self.worker.log_event(TOPIC, ["events", self.token, events])

    async def run(self, setup: HostSetup, key: str, ident: Ident, spec_bytes: bytes, dask_key: str) -> Outcome:
        address = self.worker.address
        if self._stopped_early(ident):
            return Outcome.died(address, STOPPED_EARLY)
        loop = asyncio.get_running_loop()
        try:
            host = self.host or await loop.run_in_executor(None, self._host, setup)  # a start blocks: not here
        except HostFailed as exc:
            return Outcome.died(address, str(exc))
        waiter = Waiter(key, loop)
        with self.state_lock:
            if ident in self.stopped:
                self.stopped.discard(ident)
                return Outcome.died(address, STOPPED_EARLY)
            self.emit(["start", key, address])  # before any user code runs
            if not host.start(ident, waiter, spec_bytes):
                return Outcome.died(address, f"the task host process on the Dask worker {address} ended before "
                                             f"the task could start")
        return await self._wait(waiter, ident, dask_key)

    def _stopped_early(self, ident: Ident) -> bool:
        with self.state_lock:
            if ident in self.stopped:
                self.stopped.discard(ident)
                return True
        return False

    async def _wait(self, waiter: Waiter, ident: Ident, dask_key: str) -> Outcome:
        """The attempt's outcome; kill it if Dask stops wanting it (its driver went away, or cancelled it)."""
        killed = False
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(waiter.future), CANCEL_CHECK_SECONDS)
            except asyncio.TimeoutError:
                if not killed and _unwanted(self.worker, dask_key):
                    killed = True
                    self.stop(ident, force=True)

    def _host(self, setup: HostSetup) -> HostProcess:
        """The run's host here, started if need be (in a thread: it takes as long as loading the flow)."""
        with self.start_lock:
            if self.failed is not None:
                raise HostFailed(self.failed)
            if self.host is None:
                try:
                    self.host = HostProcess(setup, self.worker, self._host_ended, self.emit)
                except HostFailed as exc:
                    self.failed = str(exc)  # the same code and packages would fail the same way again
                    raise
            return self.host

    def _host_ended(self, host: HostProcess) -> None:
        with self.state_lock:
            if self.host is host:
                self.host = None

    def stop(self, ident: Ident, force: bool) -> None:
        with self.state_lock:
            host = self.host
            if host is not None and ident in host.waiters:  # (a dict lookup: safe without the host's lock)
                try:
                    host.stop(ident, force)
                except OSError:
                    pass
            else:
                self.stopped.add(ident)

    def close(self) -> None:
        with self.state_lock:
            host, self.host = self.host, None
        if host is not None:
            host.close()


_runs: dict[str, RunHosting] = {}
_runs_lock = threading.Lock()


def _hosting(token: str, worker: Any) -> RunHosting:
    with _runs_lock:
        hosting = _runs.get(token)
        if hosting is None:
            hosting = _runs[token] = RunHosting(token, worker)
        return hosting


# -- what the driver calls on workers ------------------------------------------------------------------
async def run_attempts(setup: HostSetup, batch: list, dask_key: str) -> dict[str, Outcome] | None:
    """The Dask task (`dask_key`: its key) of attempts placed on this worker together: run them one after another.

    Each runs in the run's task host here. A small outcome goes to the driver as an event (no round trip
    to fetch it); large ones (much output) are the task's result, by attempt key, each announced by a
    "result" event. A batch holds one of the worker's threads, as one attempt would: the short attempts of
    a fan-out share Dask's own cost per task, which is most of what such an attempt costs the cluster.
    """
    import pickle

    from distributed import get_worker

    worker = get_worker()
    hosting = _hosting(setup.token, worker)
    hosting.attach(asyncio.get_running_loop())
    large: dict[str, Outcome] = {}
    for key, ident, spec_bytes in batch:
        if _unwanted(worker, dask_key):  # the driver cancelled the batch, or went away: the rest never starts
            outcome = Outcome.died(worker.address, STOPPED_EARLY)
        else:
            outcome = await hosting.run(setup, key, tuple(ident), spec_bytes, dask_key)
        data = pickle.dumps(outcome, protocol=5)
        if len(data) > OUTCOME_EVENT_BYTES:
            large[key] = outcome
            hosting.emit(["result", key, worker.address])
        else:
            hosting.emit(["outcome", key, worker.address, data])
    return large or None


def _unwanted(worker: Any, dask_key: str) -> bool:
    """Whether Dask no longer wants the task `dask_key` on this worker (its driver cancelled it, or went away)."""
    task = worker.state.tasks.get(dask_key)
    return task is None or task.state in GONE_STATES


def stop_attempts(token: str, stops: list, dask_worker: Any = None) -> None:
    """Signal attempts of run `token` on this worker ([(ident, force)]); one not started yet will not start."""
    hosting = _hosting(token, dask_worker)
    for ident, force in stops:
        hosting.stop(tuple(ident), bool(force))


def shutdown_run(token: str, dask_worker: Any = None) -> bool:
    """The run ended: end its task host on this worker (True if there was one)."""
    with _runs_lock:
        hosting = _runs.pop(token, None)
    if hosting is None:
        return False
    hosting.close()
    return True
