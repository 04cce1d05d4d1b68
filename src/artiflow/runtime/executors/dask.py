"""The Dask executor: attempts run on Dask workers as they would locally, each in a Dask task (short ones, several).

Driver side. Attempts are submitted as Dask tasks (unique keys, `pure=False`, no Dask retries), pinned
to a worker the driver picks (cluster.py), running `taskhost.run_attempts` there: the run's task host
on that worker forks each task with the flow's code already loaded. An attempt is a Dask task of its
own, except that short ones (of a step whose attempts so far took under SHORT_SECONDS) placed on a
worker together go as one Dask task per thread of it, run one after another, up to BATCH_SECONDS of
them: Dask's own cost per task is most of what a short attempt costs the cluster. The worker
sends Dask events on one topic: "start" when the attempt is handed to the host, its output lines, and
its outcome (a small one; for a large one, "result": it comes back as the task's result), those of one
turn of the worker's event loop in one Dask event (taskhost.RunHosting.emit). The client's
thread only queues what arrives and wakes `wait`, which does everything else in the scheduler's thread.

Dask's own messages are most of a small task's cost, and each stream sends at most one batch per few
ms (the client's every 10 ms), so the driver adds none it can spare: no callback per future (a Dask
task that ends without its events, having failed or been cancelled, is found by a scan every
SCAN_SECONDS), and the futures of ended attempts are released together, RELEASE_BATCH at a time or
after RELEASE_SECONDS, not each between one attempt's end and the next one's submission.

A worker that leaves while it runs an attempt (killed, its machine gone) fails that attempt: the
scheduler's @retry submits the next one, which goes to a live worker. Attempts it held that had
not started yet are placed again, unchanged.
"""

from __future__ import annotations

import os
import pickle
import queue
import select
import signal
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterator

from ...exceptions import ArtiflowException, ConfigError
from ..live_logs import STREAMS
from ..output import Spool
from ..spec import TaskSpec
from .base import Finished, OutputCallback, RunInfo
from .cluster import Placement, connect, disconnect, enforced, step_requests, wait_for_a_worker, worker_infos
from .hostproc import HostSetup
from .taskhost import STOPPED_EARLY, TOPIC, Outcome, run_attempts, shutdown_run, stop_attempts

NO_ADDRESS = ("--executor dask needs the address of a Dask scheduler: --dask-scheduler tcp://HOST:PORT, or "
              "ARTIFLOW_DASK_SCHEDULER=tcp://HOST:PORT (start one with `dask scheduler`, and workers with "
              "`dask worker tcp://HOST:PORT`).")
LOST = "the Dask worker {worker} running it was lost (killed, or its machine went away)"
CLOSE_SECONDS = 5.0   # how long the run's end waits for the workers to end its task hosts
SCAN_SECONDS = 1.0    # how often the futures of placed attempts are checked for a Dask task that failed
RELEASE_BATCH = 64    # the futures of ended attempts are released this many at once...
RELEASE_SECONDS = 0.5  # ...or once the oldest has waited this long
SHORT_SECONDS = 0.25   # a step whose attempts took less (a running mean) has its attempts batched...
BATCH_SECONDS = 0.5    # ...as many in one Dask task as should run in this long


@dataclass
class Attempt:
    """One attempt the executor holds: waiting to be placed, or placed on a worker (its current Dask future)."""

    spec: TaskSpec
    key: str               # the handle: stable while the attempt is placed again after a worker left
    spec_bytes: bytes
    need: dict[str, float]
    worker: str | None = None
    future: Any = None
    dispatches: int = 0
    started: bool = False
    started_at: float = 0.0                     # when its host said it started (monotonic)
    output: dict[str, Spool] | None = None      # its output lines so far, for live logs (runtime/live_logs.py)

    @property
    def ident(self) -> tuple[int, int]:
        return (self.spec.task_id, self.spec.attempt)


class DaskExecutor:
    """Runs attempts on the workers of the Dask scheduler at `address`; `wait` yields them as they end."""

    def __init__(self, address: str | None, info: RunInfo, on_output: OutputCallback, wake_fd: int | None = None,
                 steps: set[str] | None = None) -> None:
        if not address:
            raise ConfigError(NO_ADDRESS)
        self.address = address
        self.on_output = on_output
        self.token = uuid.uuid4().hex
        self.setup = host_setup(info, self.token)
        self.client = connect(address)
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.read_fd, self.write_fd = os.pipe()
        for fd in (self.read_fd, self.write_fd):
            os.set_blocking(fd, False)
        self.wake_lock = threading.Lock()
        self.wake_fds = [self.write_fd] if wake_fd is None else [self.write_fd, wake_fd]
        self.previous_wakeup: int | None = None
        if wake_fd is None:  # alone, it is the loop's only wait: a signal must end it too
            self.previous_wakeup = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        self.client.subscribe_topic(TOPIC, self._on_task_event)
        self.client.subscribe_topic("all", self._on_cluster_event)  # workers joining and leaving
        workers = wait_for_a_worker(self.client, address)
        self.placement = Placement(workers)
        wanted = steps if steps is not None else {node.name for node in info.graph}
        self.requests = step_requests(info.step_decorators, wanted) if enforced(workers) else {}
        self.attempts: dict[str, Attempt] = {}
        self.pending: deque[Attempt] = deque()
        self.ended: list[Finished] = []          # attempts that ended without a Dask outcome (stopped, lost)
        self.waiting_noted: set[str] = set()
        self.ended_futures: dict[str, Any] = {}  # Dask key → future of ended attempts, released together
        self.release_due = 0.0                   # when those must go at the latest (monotonic)
        self.next_scan = _now() + SCAN_SECONDS
        self.durations: dict[str, float] = {}    # step → running mean of its attempts' durations here (s)

    def __len__(self) -> int:
        return len(self.attempts)

    # -- the client's thread: only queue and wake -------------------------------------------------------
    def _post(self, *items: tuple) -> None:
        for item in items:
            self.inbox.put(item)
        with self.wake_lock:  # never a write to a descriptor `close` has given back
            for fd in self.wake_fds:
                try:
                    os.write(fd, b"\0")
                except OSError:  # a full pipe already wakes the wait
                    pass

    def _on_task_event(self, event: tuple) -> None:
        message = event[1]  # ["events", run token, [[kind, attempt key, ...], ...]] (taskhost.RunHosting.emit)
        if isinstance(message, (list, tuple)) and len(message) > 2 and message[1] == self.token:
            self._post(*(tuple(item) for item in message[2]))

    def _on_cluster_event(self, event: tuple) -> None:
        message = event[1]
        if isinstance(message, dict) and message.get("action") in ("add-worker", "remove-worker"):
            self._post((message["action"], message.get("worker")))

    def _on_future_done(self, key: str, dispatch: int, future: Any) -> None:
        self._post(("future", key, dispatch))  # a large outcome's future: its result is fetched in `wait`

    # -- submitting ---------------------------------------------------------------------------------------
    def submit(self, spec: TaskSpec) -> str:
        """Queue one attempt; it is placed on a worker at the next `wait` (a @parallel gang all at once)."""
        if self.client.status != "running":
            raise ArtiflowException(f"The connection to the Dask scheduler at {self.address} was lost "
                                    f"(client status: {self.client.status}); no more tasks can be started.")
        key = f"{spec.step}/{spec.task_id}/{spec.attempt}"
        attempt = Attempt(spec, key, pickle.dumps(spec, protocol=5), self.requests.get(spec.step, {}))
        self.attempts[key] = attempt
        self.pending.append(attempt)
        return key

    def _dispatch(self) -> None:
        """Place what can be placed now, submitted together; the rest waits for a free thread (or a worker)."""
        if not self.pending:
            return
        self.placement.begin_round()
        waiting: deque[Attempt] = deque()
        placed: list[tuple[Attempt, str]] = []
        full: set[tuple] = set()  # needs no worker can take now: the attempts after with the same need wait too
        while self.pending:
            attempt = self.pending.popleft()
            if attempt.spec.parallel is not None:
                gang = [attempt]
                while self.pending and _same_gang(self.pending[0], attempt):
                    gang.append(self.pending.popleft())
                members = self._place_gang(gang)
                if members is None:  # it waits for free threads, and what came after it waits too
                    waiting.extend(gang)
                    waiting.extend(self.pending)
                    self.pending.clear()
                placed += members or []
                continue
            need = tuple(sorted(attempt.need.items()))
            worker = None if need in full else self.placement.pick(attempt.need)
            if worker is None:
                if need not in full:
                    full.add(need)
                    self._note_waiting(attempt)
                waiting.append(attempt)
            else:
                placed.append((attempt, worker))
        self.pending = waiting
        if placed:
            self._send(placed)

    def _place_gang(self, gang: list[Attempt]) -> list[tuple[Attempt, str]] | None:
        """All members of a @parallel gang on free threads at once, or none (None: they wait; a gang runs together)."""
        first = gang[0]
        size = first.spec.parallel.num_nodes
        slots = self.placement.threads_for(first.need)
        if slots < size:
            why = (f"its @parallel gang of {size} tasks must run at once, but the Dask cluster at {self.address} can "
                   f"run only {slots} such tasks at a time ({self.placement.describe()}). Add workers or threads "
                   f"(`dask worker {self.address} --nthreads N`), or lower num_parallel.")
            for member in gang:
                self._end_unplaced(member, why)
            return []
        placed: list[tuple[Attempt, str]] = []
        for member in gang:
            worker = self.placement.pick(member.need, factor=1)
            if worker is None:
                for done, where in placed:
                    self.placement.give_back(where, done.need)
                return None
            placed.append((member, worker))
        return placed

    def _note_waiting(self, attempt: Attempt) -> None:
        """Say once that an attempt waits because no live worker offers what it asks (not merely because all are busy)."""
        if attempt.key in self.waiting_noted or self.placement.able(attempt.need):
            return
        self.waiting_noted.add(attempt.key)
        asked = ", ".join(f"{k}={v:g}" for k, v in sorted(attempt.need.items()))
        what = f"that offers {asked}" if asked else "to join"
        self.on_output(attempt.spec, "stderr", f"Waiting for a Dask worker {what} ({self.address} has none "
                                               f"connected now).")

    def _send(self, placed: list[tuple[Attempt, str]]) -> None:
        """Submit the placed attempts: one `Client.map` per worker and need (one message to the scheduler each), of
        a Dask task per attempt, or per batch of short ones (`_batches`)."""
        groups: dict[tuple, list[Attempt]] = {}
        for attempt, worker in placed:
            attempt.worker = worker
            attempt.dispatches += 1
            attempt.started = False
            groups.setdefault((worker, tuple(sorted(attempt.need.items()))), []).append(attempt)
        for (worker, need), attempts in groups.items():
            batches = self._batches(worker, attempts)
            keys = [self._dask_key(batch) for batch in batches]
            items = [[(a.key, a.ident, a.spec_bytes) for a in batch] for batch in batches]
            futures = self.client.map(run_attempts, [self.setup] * len(batches), items, keys, key=keys, pure=False,
                                      workers=[worker], allow_other_workers=False, resources=dict(need) or None,
                                      retries=0)
            for batch, future in zip(batches, futures):
                for attempt in batch:
                    attempt.future = future

    def _batches(self, worker: str, attempts: list[Attempt]) -> list[list[Attempt]]:
        """The attempts as Dask tasks: each alone, but a short step's in at most one batch per thread of the worker."""
        slots = self.placement.workers.get(worker)
        threads = slots.nthreads if slots is not None else 1
        batches: list[list[Attempt]] = []
        short: dict[str, list[Attempt]] = {}
        for attempt in attempts:
            took = self.durations.get(attempt.spec.step)
            if attempt.spec.parallel is None and took is not None and took < SHORT_SECONDS:
                short.setdefault(attempt.spec.step, []).append(attempt)
            else:
                batches.append([attempt])
        for step, group in short.items():
            size = min(-(-len(group) // threads), max(1, int(BATCH_SECONDS / max(self.durations[step], 1e-3))))
            batches += [group[i:i + size] for i in range(0, len(group), size)]
        return batches

    def _dask_key(self, batch: list[Attempt]) -> str:
        spec = batch[0].spec
        more = f"-and-{len(batch) - 1}" if len(batch) > 1 else ""
        return (f"artiflow-{spec.flow_name}-{spec.run_id}-{spec.step}-{spec.task_id}-{spec.attempt}{more}-"
                f"{self.token[:8]}-{batch[0].dispatches}")

    # -- waiting --------------------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> Iterator[Finished]:
        """Place waiting attempts, then yield those that end within `timeout` (a signal ends the wait early)."""
        deadline = None if timeout is None else _now() + timeout
        while True:
            signalled = self._drain_wakeups()
            self._dispatch()
            ended = self._handle_inbox()
            ended += self._scan_futures()
            ended += self.ended
            self.ended = []
            self._release_futures()
            if ended:
                yield from ended
                return
            now = _now()
            remaining = None if deadline is None else deadline - now
            if signalled or (remaining is not None and remaining <= 0):
                return
            due = [self.next_scan - now] if self.attempts else []
            due += [self.release_due - now] if self.ended_futures else []
            if due:
                remaining = max(0.0, min(due if remaining is None else [remaining, *due]))
            select.select([self.read_fd], [], [], remaining)  # the client's wake-up byte, or a signal's

    def _drain_wakeups(self) -> bool:
        """Empty the wake-up pipe; True if a signal wrote to it (the client's thread writes zeros)."""
        signalled = False
        try:
            while data := os.read(self.read_fd, 512):
                signalled = signalled or any(data)
        except BlockingIOError:
            pass
        return signalled

    def _handle_inbox(self) -> list[Finished]:
        ended: list[Finished] = []
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return ended
            kind = item[0]
            if kind == "lines":
                attempt = self.attempts.get(item[1])
                for stream, text, update in item[2] if attempt is not None else ():
                    self.on_output(attempt.spec, stream, text, bool(update))
                    _keep_line(attempt, stream, text, bool(update))
            elif kind == "start":
                attempt = self.attempts.get(item[1])
                if attempt is not None and attempt.worker == item[2]:
                    attempt.started, attempt.started_at = True, time.monotonic()
            elif kind == "outcome":
                attempt = self.attempts.get(item[1])
                if attempt is not None and attempt.worker == item[2]:
                    ended.append(self._finish(attempt, pickle.loads(item[3])))
            elif kind == "result":  # a large outcome: fetched from its future once the client knows it ended
                attempt = self.attempts.get(item[1])
                if attempt is not None and attempt.worker == item[2] and attempt.future is not None:
                    attempt.future.add_done_callback(partial(self._on_future_done, attempt.key, attempt.dispatches))
            elif kind == "future":
                finished = self._future_done(item[1], item[2])
                if finished is not None:
                    ended.append(finished)
            elif kind == "remove-worker":
                self._release_futures(now=True)  # the scheduler would run again a held task whose result it lost
                ended += self._worker_lost(item[1])
            elif kind == "add-worker":
                self.placement.update(worker_infos(self.client))

    def live_output(self) -> Iterator[tuple[TaskSpec, float, dict[str, Spool]]]:
        """Each started attempt, when it started (monotonic) and its output as its lines came (runtime/live_logs.py:
        the lines as the console shows them, so the final log, which comes whole with the outcome, may differ)."""
        for attempt in self.attempts.values():
            if attempt.started and attempt.output is not None:
                yield attempt.spec, attempt.started_at, attempt.output

    def _scan_futures(self) -> list[Finished]:
        """Every SCAN_SECONDS: the attempts whose Dask task ended without their outcome (failed, cancelled)."""
        if _now() < self.next_scan:
            return []
        self.next_scan = _now() + SCAN_SECONDS
        ended = [(a.key, a.dispatches) for a in self.attempts.values() if a.future is not None and a.future.done()]
        if not ended:
            return []
        finished = self._handle_inbox()  # what the workers said before those tasks ended has arrived by now
        for key, dispatch in ended:
            attempt = self.attempts.get(key)
            if attempt is not None and attempt.future is not None:  # (a large outcome's "result" event may be late)
                finished += filter(None, [self._future_done(key, dispatch)])
        return finished

    def _future_done(self, key: str, dispatch: int) -> Finished | None:
        """A Dask task ended: its outcome if it did not come as an event (large), or why the Dask task failed."""
        attempt = self.attempts.get(key)
        if attempt is None or attempt.dispatches != dispatch or attempt.future is None:
            return None  # reported already (its outcome came as an event), or its worker left and it waits again
        future = attempt.future
        if future.status == "finished":
            outcome = (future.result() or {}).get(attempt.key)  # the batch's large outcomes, by attempt
            if isinstance(outcome, Outcome):
                return self._finish(attempt, outcome)
            return self._end(attempt, f"the Dask task on {attempt.worker} ended, but its result never came back")
        if future.status == "cancelled":
            return self._end(attempt, f"Dask cancelled the task on {attempt.worker} (the connection to the scheduler "
                                      f"at {self.address} was lost, or the scheduler dropped it)")
        error = future.exception()
        return self._end(attempt, f"the Dask task failed on {attempt.worker}: {type(error).__name__}: {error}")

    def _worker_lost(self, address: str | None) -> list[Finished]:
        """A worker left: its started attempts failed; those that had not started are placed again."""
        self.placement.remove(address)
        ended = []
        for attempt in list(self.attempts.values()):
            if attempt.worker != address or address is None:
                continue
            if attempt.future is not None:
                attempt.future.cancel()
            if attempt.started:
                ended.append(self._end(attempt, LOST.format(worker=address)))
            else:
                attempt.worker, attempt.future = None, None
                self.pending.appendleft(attempt)
        return ended

    def _finish(self, attempt: Attempt, outcome: Outcome) -> Finished:
        result = pickle.loads(outcome.result) if outcome.result is not None else None
        if attempt.started:
            self._note_duration(attempt.spec.step, time.monotonic() - attempt.started_at)
        death = f"{outcome.death} (on the Dask worker {outcome.worker})" if result is None and outcome.death else ""
        spilled = pickle.loads(outcome.metrics) if result is None and outcome.metrics else ()
        self._release(attempt)
        return Finished(attempt.spec, result, outcome.stdout, outcome.stderr, death, spilled)

    def _note_duration(self, step: str, took: float) -> None:
        """Keep a running mean of how long the step's attempts take (from their start events to their outcomes)."""
        mean = self.durations.get(step)
        self.durations[step] = took if mean is None else 0.8 * mean + 0.2 * took

    def _end(self, attempt: Attempt, why: str) -> Finished:
        self._release(attempt)
        return Finished(attempt.spec, None, b"", b"", why)

    def _end_unplaced(self, attempt: Attempt, why: str) -> None:
        self.attempts.pop(attempt.key, None)
        self.ended.append(Finished(attempt.spec, None, b"", b"", why))

    def _release(self, attempt: Attempt) -> None:
        self.attempts.pop(attempt.key, None)
        self.placement.give_back(attempt.worker, attempt.need)
        if attempt.future is not None:
            if not self.ended_futures:
                self.release_due = _now() + RELEASE_SECONDS
            self.ended_futures[attempt.future.key] = attempt.future  # (once for a batch's several attempts)
            attempt.future = None

    def _release_futures(self, now: bool = False) -> None:
        """Let go of ended attempts' futures (the client then releases their tasks on the scheduler), together."""
        if self.ended_futures and (now or len(self.ended_futures) >= RELEASE_BATCH or _now() >= self.release_due):
            self.ended_futures = {}

    # -- stopping -------------------------------------------------------------------------------------------
    def stop(self, handle: str, force: bool = True) -> None:
        """Signal the attempt's task (SIGKILL, or SIGTERM to ask) through its worker's host; one not placed just ends."""
        attempt = self.attempts.get(handle)
        if attempt is not None:
            self._stop([attempt], force)

    def stop_all(self, force: bool = False) -> None:
        self._stop(list(self.attempts.values()), force)

    def _stop(self, attempts: list[Attempt], force: bool) -> None:
        by_worker: dict[str, list] = {}
        for attempt in attempts:
            if attempt.worker is None:
                if attempt in self.pending:
                    self.pending.remove(attempt)
                self._end_unplaced(attempt, STOPPED_EARLY)
            else:
                by_worker.setdefault(attempt.worker, []).append((attempt.ident, force))
        for worker, stops in by_worker.items():  # in a thread: a round trip to the worker must not hold the loop
            threading.Thread(target=self._send_stops, args=(worker, stops), daemon=True).start()

    def _send_stops(self, worker: str, stops: list) -> None:
        try:
            self.client.run(stop_attempts, self.token, stops, workers=[worker], on_error="return")
        except Exception:  # noqa: BLE001 - a worker gone meanwhile: its attempts are reported as lost
            pass

    def close(self) -> None:
        """End the run's task hosts on every worker, disconnect, give back the signal wake-up."""
        self._release_futures(now=True)
        if self.client.status == "running":  # (a lost scheduler: the hosts end when idle, no one can reach them)
            shutdown = threading.Thread(target=self._shut_hosts, daemon=True)
            shutdown.start()
            shutdown.join(CLOSE_SECONDS)  # an unresponsive worker must not hold the run's end: its host ends when idle
        with self.wake_lock:
            self.wake_fds = []
        if self.previous_wakeup is not None:
            if signal.set_wakeup_fd(-1) != self.write_fd:
                signal.set_wakeup_fd(self.previous_wakeup)
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        disconnect(self.address)

    def _shut_hosts(self) -> None:
        for topic in (TOPIC, "all"):
            try:
                self.client.unsubscribe_topic(topic)
            except Exception:  # noqa: BLE001 - the connection is going away anyway
                pass
        try:
            self.client.run(shutdown_run, self.token, on_error="return")
        except Exception:  # noqa: BLE001 - hosts end by themselves when idle; nothing more to do here
            pass


def _keep_line(attempt: Attempt, stream: str, text: str, update: bool) -> None:
    """Add a line of an attempt's output to what live logs store of it while it runs."""
    if attempt.output is None:
        attempt.output = {name: Spool() for name in STREAMS}
    attempt.output[stream].write((text + ("\r" if update else "\n")).encode("utf-8", "surrogateescape"))


def _same_gang(attempt: Attempt, other: Attempt) -> bool:
    a, b = attempt.spec.parallel, other.spec.parallel
    return a is not None and b is not None and a.control_task_id == b.control_task_id


def _now() -> float:
    import time

    return time.monotonic()


def host_setup(info: RunInfo, token: str) -> HostSetup:
    """What every worker's task host needs to rebuild this run's flow (the code comes from its snapshot)."""
    from ...config import load_config
    from ...lineage.code import flow_file_of

    flow_cls = info.flow_cls
    flow_file = flow_file_of(flow_cls)
    if not info.code_key or flow_file is None:
        from .routing import NO_SNAPSHOT

        raise ConfigError(NO_SNAPSHOT.format(flow=flow_cls.__name__))
    config = load_config()
    return HostSetup(token=token, flow_name=flow_cls.__name__, flow_module=flow_cls.__module__,
                     flow_file=os.path.basename(flow_file), code_key=info.code_key,
                     datastore_root=config.datastore_root, s3_endpoint_url=config.s3_endpoint_url,
                     config_values=getattr(flow_cls, "_af_config_values", None),
                     with_decorators=tuple(info.with_decorators))


__all__ = ["DaskExecutor", "NO_ADDRESS"]
