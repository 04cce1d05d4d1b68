"""The local executor: each task in a process forked from the runner, output streamed back.

Forking means a task starts with the flow module, artiflow and the user's imports already loaded:
no interpreter start, no re-import. On Linux the forks are made by the runner's fork server
(forkserver.py), a copy of the runner made when the run's first task starts: the runner's own work
between forks then no longer makes each fork copy its pages, and each task starts from the runner's
state as it was then. The task's stdout/stderr go through pipes so the runner can show
them live with the task's pathspec and store them (runtime/output.py: in time linear in what it prints,
in bounded memory); its result comes back pickled on a third pipe.
"""

from __future__ import annotations

import os
import pickle
import selectors
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from ..output import LineView, Spool
from ..spec import TaskResult, TaskSpec
from ..._process import parent_death_signal
from .base import Finished, OutputCallback
from .forkserver import ForkServer, ForkServerGone, available as fork_server_available

STREAMS = ("stdout", "stderr")
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
READ_BYTES = 1 << 16
OFFER_AGAIN_SECONDS = 0.25  # how soon an update the console did not show yet is offered again


class TaskStream:
    """One output stream of a running task: its bytes spooled for storage, its lines for the console."""

    __slots__ = ("spool", "view")

    def __init__(self, spec: TaskSpec, stream: str, on_output: OutputCallback) -> None:
        self.spool = Spool()
        self.view = LineView(lambda text, update: on_output(spec, stream, text, update))

    def feed(self, chunk: bytes) -> None:
        """Keep the bytes and show what they complete."""
        self.spool.write(chunk)
        self.view.feed(chunk)


@dataclass
class Running:
    """A task process the executor is watching."""

    spec: TaskSpec
    pid: int
    fds: dict[int, str]                      # fd → "stdout" | "stderr" | "result"
    streams: dict[str, TaskStream]
    result: bytearray = field(default_factory=bytearray)
    started: float = field(default_factory=time.monotonic)


def death_reason(exit_status: int) -> str:
    """Why a task process that reported no result ended, from its wait status."""
    if os.WIFSIGNALED(exit_status):
        sig = os.WTERMSIG(exit_status)
        name = signal.Signals(sig).name
        what = SIGNAL_WORDS.get(name)
        return f"the task process was killed by signal {sig} ({name}{': ' + what if what else ''})"
    return f"the task process exited with code {os.waitstatus_to_exitcode(exit_status)} before reporting a result"


# What a signal that ends a task usually means, in words people search for.
SIGNAL_WORDS = {"SIGSEGV": "segmentation fault", "SIGBUS": "bus error", "SIGABRT": "aborted",
                "SIGFPE": "floating point exception", "SIGILL": "illegal instruction",
                "SIGKILL": "killed, e.g. out of memory or by a user"}


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _readable(fd: int) -> bool:
    """True if a read on fd would return data (or end of file) right now."""
    import select

    return bool(select.select([fd], [], [], 0)[0])


def _run_exit_handlers() -> None:
    """Run the task's atexit handlers (a failing one prints its error, as Python does at exit)."""
    import atexit

    try:
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 - an exit handler's error must not lose the task's result
        pass


def _spilled_points(spec: TaskSpec) -> Sequence:
    """The points a task that died had spilled (all but its last second's)."""
    from ..metrics import read_spill

    return read_spill(spec.metrics_spill) if spec.metrics_spill else ()


def _remove_spill(spec: TaskSpec) -> None:
    if spec.metrics_spill:
        try:
            os.remove(spec.metrics_spill)
        except FileNotFoundError:
            pass


def _serve_forked_tasks(work: Callable[[TaskSpec], TaskResult]) -> Callable[[], None] | None:
    """Start the datastore's service for tasks forked from here, when it has one (S3: see s3broker.py).

    Returns what ends it; None when there is none, or it could not start (tasks then do their own requests).
    """
    storage = getattr(getattr(work, "store", None), "storage", None)
    serve = getattr(storage, "serve_forked_tasks", None)
    if not callable(serve):
        return None
    try:
        return serve()
    except OSError:
        return None


class LocalExecutor:
    """Runs tasks in forked child processes; `wait` yields them as they finish."""

    def __init__(self, work: Callable[[TaskSpec], TaskResult], on_output: OutputCallback,
                 result_bytes: bool = False, fork_server: bool = False) -> None:
        """`fork_server`: fork the tasks from a copy of this process made when the first task is submitted
        (forkserver.py), so that this process's own work between forks does not make each fork copy its pages."""
        self.work = work
        self.result_bytes = result_bytes  # Finished.result as the task pickled it (a task host passes it on whole)
        self.on_output = on_output
        self.selector = selectors.DefaultSelector()
        self.running: dict[int, Running] = {}
        self.waiting: set[LineView] = set()  # updates the console did not show yet, to offer again
        self.offer_at = 0.0                  # when to offer them again
        self.wakeup_read, self.wakeup_write = os.pipe()  # a signal's byte here ends a wait at once
        for fd in (self.wakeup_read, self.wakeup_write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wakeup_write, warn_on_full_buffer=False)
        self.selector.register(self.wakeup_read, selectors.EVENT_READ, None)
        self.die_with_parent = parent_death_signal()
        self.spill_folder: str | None = None  # where tasks spill their metric points as they go (runtime/metrics.py)
        self.end_blob_service = _serve_forked_tasks(work)
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # (the current mask, for the server's tasks)
        self.wants_server = fork_server and fork_server_available()  # (until the first task, or until one died)
        self.server: ForkServer | None = None
        self.served: set[int] = set()  # the running tasks the server forked (it reaps them)

    def __len__(self) -> int:
        return len(self.running)

    def live_output(self) -> Iterator[tuple[TaskSpec, float, dict[str, Spool]]]:
        """Each running task, when it started (monotonic) and its streams' bytes so far (runtime/live_logs.py)."""
        for task in self.running.values():
            yield task.spec, task.started, {name: stream.spool for name, stream in task.streams.items()}

    def submit(self, spec: TaskSpec) -> int:
        spec.metrics_spill = self._spill_path(spec)
        if self.wants_server and self.server is None:  # (before this task's pipes: the server must not hold them)
            self.server = ForkServer(self._start_served)  # tasks start from this process's state as of now
        pipes = {name: os.pipe() for name in (*STREAMS, "result")}
        sys.stdout.flush()
        sys.stderr.flush()
        pid = self._fork_served(spec, pipes) if self.server is not None else None
        if pid is None:
            pid = self._fork(spec, pipes)
        fds = {}
        for name, (read_fd, write_fd) in pipes.items():
            os.close(write_fd)
            fds[read_fd] = name
            os.set_blocking(read_fd, False)
        task = Running(spec, pid, fds, {stream: TaskStream(spec, stream, self.on_output) for stream in STREAMS})
        self.running[pid] = task
        for fd in fds:
            self.selector.register(fd, selectors.EVENT_READ, task)
        return pid

    def _fork_served(self, spec: TaskSpec, pipes: dict[str, tuple[int, int]]) -> int | None:
        """Fork the task through the fork server; None if the server is gone (killed): we fork from now on."""
        try:
            pid = self.server.fork(pickle.dumps(spec, protocol=5), [write_fd for _, write_fd in pipes.values()])
        except ForkServerGone:
            self._lose_server()
            return None
        self.served.add(pid)
        return pid

    def _fork(self, spec: TaskSpec, pipes: dict[str, tuple[int, int]]) -> int:
        # Signals wait until the child has reset the runner's handlers: until then a SIGTERM sent to
        # it would run the runner's handler in the child and be lost.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            self._child(spec, {name: write_fd for name, (_, write_fd) in pipes.items()}, mask,
                        [read_fd for read_fd, _ in pipes.values()], parent)  # never returns
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        try:
            os.setpgid(pid, pid)  # also here, so a signal sent right after fork reaches the group
        except OSError:
            pass
        return pid

    def _start_served(self, request: bytes, fds: list[int], server: int) -> None:
        """In a task the fork server forked: its spec and pipes came with the request (their order as in submit)."""
        self._child(pickle.loads(request), dict(zip((*STREAMS, "result"), fds)), self.mask, [], server)

    def _child(self, spec: TaskSpec, writers: dict[str, int], mask: set, read_ends: list[int], parent: int) -> None:
        code = 0
        try:
            os.setpgid(0, 0)  # its own group: the terminal's Ctrl-C reaches the runner, which stops us
            self.die_with_parent()  # no orphan left working for nobody if the runner is killed
            if os.getppid() != parent:  # it died before that was in place
                os._exit(1)
            signal.set_wakeup_fd(-1)
            os.close(self.wakeup_read)
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for read_fd in read_ends:
                os.close(read_fd)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)  # a task never waits on the terminal's input
            os.dup2(writers["stdout"], 1)
            os.dup2(writers["stderr"], 2)
            sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
            result = self.work(spec)
            sys.stdout.flush()
            sys.stderr.flush()
            _run_exit_handlers()  # as when a task's own process ends (os._exit below skips them)
            sys.stdout.flush()
            sys.stderr.flush()
            payload = pickle.dumps(result, protocol=5)
            with os.fdopen(writers["result"], "wb") as out:
                out.write(payload)
        except BaseException:  # noqa: BLE001 - a child must never fall back into the runner's loop
            code = 70
            try:
                import traceback

                traceback.print_exc()
                sys.stderr.flush()
            except BaseException:
                pass
        finally:
            os._exit(code)

    def wait(self, timeout: float | None = None) -> Iterator[Finished]:
        """Read output until a task ends, a signal arrives or `timeout` passes; yield the tasks that ended.

        Output alone does not end the wait: a task that prints in many small writes would otherwise
        cost the scheduler a round of its loop per write.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self.waiting:
                remaining = OFFER_AGAIN_SECONDS if remaining is None else min(remaining, OFFER_AGAIN_SECONDS)
            events = self.selector.select(remaining)
            done = not events
            for key, _ in events:
                task: Running | None = key.data
                if task is None:  # a signal arrived: drain its byte and let the scheduler look at its flag
                    _drain(self.wakeup_read)
                    done = True
                elif key.fd in task.fds and not self._read(task, key.fd):
                    self._close(task, key.fd)
                    if not task.fds:
                        status = self._wait_status(task.pid, block=True)
                        done = True
                        yield self._finish(task, status)
            for finished in self._reap_with_pipes_held():
                done = True
                yield finished
            self._offer_waiting()
            if done or (deadline is not None and time.monotonic() >= deadline):
                return

    def _read(self, task: Running, fd: int) -> bool:
        """Read one chunk; False at end of file."""
        try:
            chunk = os.read(fd, READ_BYTES)
        except BlockingIOError:
            return True
        if chunk:
            name = task.fds[fd]
            if name == "result":
                task.result += chunk
            else:
                stream = task.streams[name]
                stream.feed(chunk)
                if stream.view.waiting:
                    self.waiting.add(stream.view)
                else:
                    self.waiting.discard(stream.view)
        return bool(chunk)

    def _offer_waiting(self) -> None:
        """Offer again the updates the console did not show yet (a task that goes quiet still shows its latest)."""
        if not self.waiting or time.monotonic() < self.offer_at:
            return
        self.offer_at = time.monotonic() + OFFER_AGAIN_SECONDS
        for view in list(self.waiting):
            if view.waiting:
                view.offer()
            if not view.waiting:
                self.waiting.discard(view)

    def _close(self, task: Running, fd: int) -> None:
        self.selector.unregister(fd)
        os.close(fd)
        del task.fds[fd]

    def _reap_with_pipes_held(self) -> Iterator[Finished]:
        """Tasks that exited while a process they started still holds their stdout or stderr.

        The task's own output is all in the pipe by then: read what is there and stop waiting for
        an end of file that only the leftover process could give.
        """
        for task in list(self.running.values()):
            if not task.fds or "result" in task.fds.values():
                continue
            status = self._wait_status(task.pid, block=False)
            if status is None:
                continue
            for fd in list(task.fds):
                while self._read(task, fd) and _readable(fd):
                    pass
                self._close(task, fd)
            yield self._finish(task, status)

    def _wait_status(self, pid: int, block: bool) -> int | None:
        """The ended task's wait status (its parent, this process or the fork server, reaps it); None if it runs."""
        if pid not in self.served:
            ended, status = os.waitpid(pid, 0 if block else os.WNOHANG)
            return status if ended else None
        try:
            status = self.server.status(pid, block) if self.server is not None else signal.SIGKILL
        except ForkServerGone:
            self._lose_server()
            status = signal.SIGKILL  # the server died, and so did its tasks (their parent-death signal)
        if status is not None:
            self.served.discard(pid)
        return status

    def _lose_server(self) -> None:
        """The fork server died (killed): reap it, and fork the next tasks here."""
        self.server.close()
        self.server, self.wants_server = None, False

    def _finish(self, task: Running, status: int) -> Finished:
        for stream in task.streams.values():
            self.waiting.discard(stream.view)
            stream.view.close()
        del self.running[task.pid]
        result = self._result(task, status)
        spilled = _spilled_points(task.spec) if result is None else ()  # a result carries every point itself
        _remove_spill(task.spec)
        return Finished(task.spec, result, task.streams["stdout"].spool, task.streams["stderr"].spool,
                        "" if result is not None else death_reason(status), spilled)

    def _result(self, task: Running, status: int) -> Any:
        """The task's TaskResult (or its pickle, with result_bytes); None if it reported none, or died writing it."""
        if not task.result:
            return None
        if self.result_bytes:  # a task that exited 0 wrote all of it (one that failed to exits 70)
            return bytes(task.result) if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else None
        try:
            return pickle.loads(task.result)
        except Exception:
            return None

    def _spill_path(self, spec: TaskSpec) -> str:
        """The file this attempt appends its metric points to as it runs: they outlive it if it is killed."""
        if self.spill_folder is None:
            import tempfile

            self.spill_folder = tempfile.mkdtemp(prefix="artiflow-metrics-")
        return os.path.join(self.spill_folder, f"{spec.step}.{spec.task_id}.{spec.attempt}.points")

    def stop(self, handle: int, force: bool = True) -> None:
        """Signal one task's process group (the task and anything it started): SIGKILL, or SIGTERM to ask."""
        try:
            os.killpg(handle, signal.SIGKILL if force else signal.SIGTERM)
        except ProcessLookupError:
            pass

    def stop_all(self, force: bool = False) -> None:
        """Signal every running task's process group."""
        for pid in list(self.running):
            self.stop(pid, force)

    def close(self) -> None:
        """Give back the signal wakeup pipe (the run has ended; no task is left)."""
        previous = signal.set_wakeup_fd(-1)
        if previous != self.wakeup_write:  # someone else's: leave it in place
            signal.set_wakeup_fd(previous)
        self.selector.close()
        if self.spill_folder is not None:
            import shutil

            shutil.rmtree(self.spill_folder, ignore_errors=True)
            self.spill_folder = None
        if self.end_blob_service is not None:
            self.end_blob_service()
            self.end_blob_service = None
        if self.server is not None:
            self.server.close()
            self.server = None
        for fd in (self.wakeup_read, self.wakeup_write):
            try:
                os.close(fd)
            except OSError:
                pass
