"""The task host: one process per Dask worker process and run, which loads the flow's code once and forks tasks.

A Dask task runs in a worker thread, where user code must not run: `current`, `os.environ`, random
state and the @timeout alarm all assume one task per process, in its main thread. So the worker
starts this host (a fresh interpreter) for the run: it fetches the run's code snapshot from the
datastore (cached on disk by its key), loads the flow file as `__main__` as the runner does (so a
class defined in the flow pickles under the same name everywhere), and runs a LocalExecutor: each
task is forked with the code already imported, as locally, but by the host's fork server (forkserver.py:
a copy of the host made once the flow is loaded, so the host's own work between forks does not make
every fork copy its pages). Requests come on stdin,
output lines and results go back on stdout (wire.py); the host's own prints go to stderr.

The host ends when the worker closes its stdin (the run ended, or the worker process died), or
after IDLE_SECONDS without a task; its running tasks are killed then.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import shutil
import sys
import tempfile
import threading
import time
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from .wire import Channel

if TYPE_CHECKING:
    from ..spec import TaskSpec
    from ..work import TaskWork

IDLE_SECONDS = 600.0          # a host with no task for this long ends (its driver went away without saying)
UPDATE_GAP_SECONDS = 0.25     # a task's `\r` progress updates are sent to the driver at most this often
LINES_GAP_SECONDS = 0.05      # output lines are sent in batches, at most this late (a chatty task: few messages)
BOOT = "from artiflow.runtime.executors.hostproc import main; main()"


@dataclass(frozen=True)
class HostSetup:
    """What a host needs to rebuild the run's flow: where its code and artifacts are, its configs and --with."""

    token: str                      # the run's executor: one host per worker process and token
    flow_name: str
    flow_module: str                # "__main__" (the flow file was run), or the module the flow class lives in
    flow_file: str                  # the flow file's path inside the code snapshot
    code_key: str
    datastore_root: str
    s3_endpoint_url: str | None
    config_values: dict[str, Any] | None
    with_decorators: tuple          # `--with` StepDecorator objects


class HostError(Exception):
    """The host could not load the flow: its message says why, for the attempt's death reason."""


def main() -> None:
    """The host process: read the setup, load the flow, then serve task requests until stdin closes."""
    requests, replies = _protocol_channels()
    scratch = tempfile.mkdtemp(prefix="artiflow-host-")
    os.chdir(scratch)  # the tasks' working folder: what they write there goes when the host ends
    try:
        setup = requests.receive()
        work = load_work(setup)
    except BaseException as exc:  # noqa: BLE001 - whatever stops the flow from loading is the answer
        replies.send(("failed", _load_failure(exc)))
        shutil.rmtree(scratch, ignore_errors=True)
        os._exit(1)
    _ready_to_fork(work)
    replies.send(("ready", os.getpid()))
    Host(work, requests, replies).serve()
    shutil.rmtree(scratch, ignore_errors=True)
    os._exit(0)


def _ready_to_fork(work: TaskWork) -> None:
    """Make what every task would build for itself here once, and keep the garbage collector off it.

    The datastore's client (an S3 session: botocore's models) is made before the first fork, so each
    task only makes a connection. `gc.freeze` keeps the loaded modules out of every collection: a
    collection touches each object it scans, which would copy the host's pages shared with each
    running task (copy-on-write), at a cost that grows with what the flow imports.
    """
    import gc

    make_client = getattr(work.store.storage, "client", None)
    if callable(make_client):
        make_client()
    gc.collect()
    gc.freeze()


def _protocol_channels() -> tuple[Channel, Channel]:
    """Move the protocol off fds 0 and 1: stray prints of the host go to stderr, tasks read /dev/null."""
    requests, replies = Channel(os.dup(0)), Channel(os.dup(1))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    return requests, replies


def _load_failure(exc: BaseException) -> str:
    """Why the flow could not be loaded here, in words (the user's traceback when the flow file raised)."""
    from ...exceptions import ArtiflowException

    if isinstance(exc, HostError):
        return str(exc)
    if isinstance(exc, ArtiflowException):
        return exc.message
    from ...cli.main import user_traceback

    return user_traceback(exc, drop_own=True).rstrip()


# -- loading the flow ------------------------------------------------------------------------------------
def load_work(setup: HostSetup) -> TaskWork:
    """The run's TaskWork, built here from its code snapshot as the runner built it from the flow file."""
    if setup.s3_endpoint_url and not os.environ.get("ARTIFLOW_S3_ENDPOINT_URL"):
        os.environ["ARTIFLOW_S3_ENDPOINT_URL"] = setup.s3_endpoint_url  # the worker's own setting wins
    from ...datastore import open_store
    from ...graph import FlowGraph
    from ..work import TaskWork

    store = open_store(setup.datastore_root)
    folder = code_folder(store, setup.code_key)
    flow_cls = load_flow(folder, setup)
    graph = FlowGraph.from_flow(flow_cls)
    if setup.config_values is not None:
        from ...configs import apply_configs

        apply_configs(flow_cls, setup.config_values)
    return TaskWork.for_flow(flow_cls, graph, store, list(setup.with_decorators))


def code_cache_root() -> str:
    """Where extracted code snapshots are kept, one folder per snapshot key (ARTIFLOW_CODE_CACHE overrides it)."""
    return os.environ.get("ARTIFLOW_CODE_CACHE") or os.path.join(tempfile.gettempdir(), f"artiflow-code-{os.getuid()}")


def code_folder(store: Any, code_key: str) -> str:
    """The folder holding the snapshot's files: extracted from the datastore once, then reused by every run of it."""
    from ...lineage.code import load_code

    folder = os.path.join(code_cache_root(), code_key)
    if os.path.isdir(folder):
        return folder
    os.makedirs(code_cache_root(), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{code_key[:12]}-", dir=code_cache_root())
    load_code(store, code_key).extract(staging)
    try:
        os.rename(staging, folder)  # whole or not at all; another host may have just put the same files there
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


class _FlowStarted(BaseException):
    """Raised where the flow file calls `MyFlow()`: the host only wanted the file's definitions."""


@contextlib.contextmanager
def _flows_do_not_start() -> Iterator[None]:
    """While loading the file, `MyFlow()` under `if __name__ == "__main__"` stops the load instead of running a CLI."""
    from ...cli import flow_cli

    def stop_here(flow_cls: type) -> None:
        raise _FlowStarted()

    original = flow_cli.run_flow_cli
    flow_cli.run_flow_cli = stop_here
    try:
        yield
    finally:
        flow_cli.run_flow_cli = original


def load_flow(folder: str, setup: HostSetup) -> type:
    """Run the flow file as module `setup.flow_module` (usually `__main__`), as the runner did; its flow class."""
    from ...compat import install_metaflow_alias

    install_metaflow_alias()  # a flow written `from metaflow import ...` runs on artiflow here too
    path = os.path.join(folder, setup.flow_file)
    sys.path.insert(0, folder)
    sys.argv = [path]
    module = types.ModuleType(setup.flow_module)
    module.__file__ = path
    sys.modules[setup.flow_module] = module
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    with _flows_do_not_start():
        try:
            exec(code, module.__dict__)
        except _FlowStarted:
            pass
    flow_cls = module.__dict__.get(setup.flow_name)
    if not isinstance(flow_cls, type):
        raise HostError(f"the flow file {setup.flow_file} of the run's code snapshot {setup.code_key} defines no "
                        f"class {setup.flow_name}")
    return flow_cls


# -- serving tasks ---------------------------------------------------------------------------------------
class Host:
    """Forks a task per `run` request (LocalExecutor), streams its output, and sends its result when it ends."""

    def __init__(self, work: TaskWork, requests: Channel, replies: Channel) -> None:
        from .local import LocalExecutor

        self.requests = requests
        self.replies = replies
        self.executor = LocalExecutor(work, self._output, result_bytes=True, fork_server=True)  # results passed on as pickled
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.pids: dict[tuple[int, int], int] = {}   # (task id, attempt) → the task's process
        self.updated: dict[tuple[int, int, str], float] = {}  # when each stream's last update was sent
        self.lines: list[tuple] = []                          # output lines not sent yet
        self.last_task = time.monotonic()

    def serve(self) -> None:
        """Handle requests and report tasks as they end, until stdin closes, `exit`, or IDLE_SECONDS idle."""
        threading.Thread(target=self._read_requests, name="artiflow-host-requests", daemon=True).start()
        while True:
            if not self._handle_requests():
                break
            # while tasks run, wake often enough to send their lines soon after they are printed
            for finished in self.executor.wait(timeout=LINES_GAP_SECONDS if self.pids or self.lines else 5.0):
                self._report(finished)
            self._send_lines()
            if self.pids:
                self.last_task = time.monotonic()
            elif time.monotonic() - self.last_task > IDLE_SECONDS:
                break
        self._kill_all()

    def _read_requests(self) -> None:
        """A thread: each request into the inbox, and a byte to end the executor's wait at once."""
        while True:
            try:
                message = self.requests.receive()
            except (EOFError, OSError):
                message = None
            self.inbox.put(message)
            try:
                os.write(self.executor.wakeup_write, b"\0")
            except OSError:
                pass
            if message is None:
                return

    def _handle_requests(self) -> bool:
        """Start and stop what was asked; False once the host must end."""
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return True
            if message is None or message[0] == "exit":
                return False
            if message[0] == "run":
                spec: TaskSpec = pickle.loads(message[1])
                self.pids[(spec.task_id, spec.attempt)] = self.executor.submit(spec)
                self.last_task = time.monotonic()
            elif message[0] == "stop":
                pid = self.pids.get(message[1])
                if pid is not None:
                    self.executor.stop(pid, force=message[2])

    def _output(self, spec: TaskSpec, stream: str, line: str, update: bool = False) -> bool | None:
        """Send a line of a task's output to the worker (an update at most every UPDATE_GAP_SECONDS)."""
        if update:
            key = (spec.task_id, spec.attempt, stream)
            now = time.monotonic()
            if now - self.updated.get(key, 0.0) < UPDATE_GAP_SECONDS:
                return False
            self.updated[key] = now
        self.lines.append(((spec.task_id, spec.attempt), stream, line, update))
        return True

    def _send_lines(self) -> None:
        if self.lines:
            lines, self.lines = self.lines, []
            self._send(("lines", lines))

    def _report(self, finished: Any) -> None:
        spec = finished.spec
        ident = (spec.task_id, spec.attempt)
        self.pids.pop(ident, None)
        for stream in ("stdout", "stderr"):
            self.updated.pop((*ident, stream), None)
        self._send_lines()  # its last lines before its end
        result = finished.result  # the task's own pickle of its TaskResult (result_bytes), or None
        spilled = pickle.dumps(finished.metrics, protocol=5) if finished.metrics else None
        self._send(("done", ident, result, _bytes(finished.stdout), _bytes(finished.stderr), finished.death, spilled))

    def _send(self, message: Any) -> None:
        try:
            self.replies.send(message)
        except OSError:  # the worker is gone: the tasks are killed when the request pipe closes
            pass

    def _kill_all(self) -> None:
        """Kill every task still running and reap them (the host is ending)."""
        self.executor.stop_all(force=True)
        deadline = time.monotonic() + 5
        while len(self.executor) and time.monotonic() < deadline:
            for _ in self.executor.wait(timeout=0.2):
                pass


def _bytes(output: Any) -> bytes:
    return output.getvalue() if hasattr(output, "getvalue") else bytes(output)
