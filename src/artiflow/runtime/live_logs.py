"""Logs of running tasks, stored as they grow, so a reader (the web UI) can tail them before the task ends.

A task that has run for QUIET_SECONDS has its new output stored every FLUSH_SECONDS (sooner once
FLUSH_BYTES are waiting, but at most every MIN_GAP_SECONDS) as a blob of its own, and its attempt's
log key recorded as the `parts:` list of the blobs so far (runtime/output.py). When the task ends, only
the output after the last flush is stored, and the final key lists every part. A task that ends within
QUIET_SECONDS (most tasks) costs nothing: its logs are stored once, when it ends, as before.

The output stored while a task runs is what the executor holds of it: the local executor's is the
task's bytes; the Dask executor's is its output lines as they came (the console's view of them).
So when the attempt ends, the parts are kept only if its final output begins with exactly their
bytes (checked by hash); otherwise its whole output is stored again, and the parts are left to gc.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import xxhash

from .output import PARTS, Spool, store_log

if TYPE_CHECKING:
    from ..datastore import ContentStore
    from ..metadata import MetadataStore
    from .spec import TaskSpec

QUIET_SECONDS = 1.0     # a task's output is stored while it runs only once it has run this long
FLUSH_SECONDS = 2.0     # new output waits at most this long to be stored
FLUSH_BYTES = 64 << 10  # this much new output is stored without waiting FLUSH_SECONDS
MIN_GAP_SECONDS = 0.5   # but never more often than this per task (a task printing fast makes few parts)
STREAMS = ("stdout", "stderr")

Live = tuple["TaskSpec", float, dict[str, Spool]]  # (a running attempt, when it started (monotonic), its streams)


@dataclass
class _Stored:
    """What is stored of one running attempt's streams: the blobs and how many bytes they hold."""

    keys: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in STREAMS})
    stored: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STREAMS})
    hashes: dict[str, Any] = field(default_factory=lambda: {s: xxhash.xxh3_64() for s in STREAMS})
    flushed_at: float = 0.0


class LiveLogs:
    """Stores the output of the runner's long-running tasks as it grows, and the final logs when they end."""

    def __init__(self, store: ContentStore, metadata: MetadataStore, flow: str, run_id: int) -> None:
        self.store = store
        self.metadata = metadata
        self.flow = flow
        self.run_id = run_id
        self.attempts: dict[tuple[int, int], _Stored] = {}

    def flush(self, running: Iterable[Live], now: float | None = None) -> None:
        """Store what each long-running task printed since the last time, when it is due."""
        now = time.monotonic() if now is None else now
        for spec, started, spools in running:
            if now - started < QUIET_SECONDS:
                continue
            state = self.attempts.setdefault((spec.task_id, spec.attempt), _Stored(flushed_at=started))
            waiting = max(len(spools[s]) - state.stored[s] for s in STREAMS)
            since = now - state.flushed_at
            if waiting and (since >= FLUSH_SECONDS or (waiting >= FLUSH_BYTES and since >= MIN_GAP_SECONDS)):
                self._store_new(spec, spools, state)
                state.flushed_at = now

    def seconds_to_flush(self, running: Iterable[Live], now: float | None = None) -> float | None:
        """How soon the next flush may be due (None: no task runs), for the runner's wait."""
        now = time.monotonic() if now is None else now
        times = []
        for spec, started, _ in running:
            state = self.attempts.get((spec.task_id, spec.attempt))
            due = started + QUIET_SECONDS if state is None else state.flushed_at + FLUSH_SECONDS
            times.append(max(0.0, due - now))
        return min(times) if times else None

    def final_key(self, spec: TaskSpec, stream: str, output: Spool | bytes) -> str | None:
        """Store the rest of an ended attempt's stream; the key listing all of it (None if it printed nothing)."""
        state = self.attempts.get((spec.task_id, spec.attempt))
        if state is None or not _begins_with(output, state.stored[stream], state.hashes[stream].digest()):
            return store_log(self.store, output)
        return store_log(self.store, output, state.stored[stream], state.keys[stream])

    def forget(self, spec: TaskSpec) -> None:
        """The attempt is recorded: drop what was kept of it."""
        self.attempts.pop((spec.task_id, spec.attempt), None)

    def _store_new(self, spec: TaskSpec, spools: dict[str, Spool], state: _Stored) -> None:
        for stream in STREAMS:
            spool, start = spools[stream], state.stored[stream]
            if len(spool) > start:
                for piece in spool.pieces(start=start):
                    state.keys[stream].append(self.store.put_bytes([piece]))
                    state.hashes[stream].update(piece)
                state.stored[stream] = len(spool)
        self.metadata.set_attempt_logs(self.flow, self.run_id, spec.step, spec.task_id, spec.attempt,
                                       _parts(state.keys["stdout"]), _parts(state.keys["stderr"]))


def _begins_with(output: Spool | bytes, size: int, digest: bytes) -> bool:
    """Whether the first `size` bytes of `output` hash to `digest` (what was stored of it while it ran)."""
    if len(output) < size:
        return False
    hasher, left = xxhash.xxh3_64(), size
    for piece in output.pieces() if isinstance(output, Spool) else [output]:
        if left <= 0:
            break
        hasher.update(memoryview(piece)[:left])
        left -= len(piece)
    return hasher.digest() == digest


def _parts(keys: list[str]) -> str | None:
    """A running attempt's log key: a `parts:` list even of one blob (the log may still grow)."""
    return PARTS + " ".join(keys) if keys else None
