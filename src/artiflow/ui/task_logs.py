"""A task attempt's stdout/stderr from a byte offset: what the task page shows and tails while the attempt runs.

`GET /api/logs/{flow}/{run}/{step}/{task}?stream=stdout|stderr&attempt=N&offset=K` answers JSON
`{text, offset, size, done, stored}`: the text from byte K (at most CHUNK_BYTES of it, cut at a
character boundary), the offset to ask from next, and whether the attempt has ended (nothing more
will come). A log is one blob or a `parts:` list of blobs (runtime/output.py); a part before the
offset is read only to learn its length, one part at a time, so memory stays bounded.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..runtime.output import log_blob_keys
from .app import reader
from .task_lookup import find_attempt, find_task, query_choice, query_int

if TYPE_CHECKING:
    from ..datastore import ContentStore
    from ..metadata.records import AttemptRecord

STREAMS = ("stdout", "stderr")
CHUNK_BYTES = 256 << 10  # the most text one answer carries; the page asks again from the next offset
PAGE_BYTES = 256 << 10   # what the task page shows at first (the tail beyond it is fetched on demand)


@dataclass
class LogSlice:
    """Text of a log from `start`, the offset after it, the log's size so far, and whether it can still grow."""

    text: str
    start: int
    offset: int
    size: int
    done: bool
    stored: bool  # False while a running attempt has stored nothing yet (its output is kept until it ends)

    def to_json(self) -> dict:
        return {"text": self.text, "start": self.start, "offset": self.offset, "size": self.size,
                "done": self.done, "stored": self.stored}


def attempt_done(attempt: AttemptRecord | None) -> bool:
    """Whether an attempt has ended (its logs are complete); a task with no attempt yet is not done."""
    return attempt is not None and (attempt.finished_at is not None or attempt.status != "running")


def log_key(attempt: AttemptRecord | None, stream: str) -> str | None:
    """The recorded log key of one stream of an attempt."""
    if attempt is None:
        return None
    return attempt.stdout_key if stream == "stdout" else attempt.stderr_key


def read_slice(store: ContentStore, attempt: AttemptRecord | None, stream: str, offset: int,
               limit: int = CHUNK_BYTES) -> LogSlice:
    """At most `limit` bytes of the stream from `offset`, decoded (a character cut at the end waits for next time)."""
    key = log_key(attempt, stream)
    done = attempt_done(attempt)
    data, size = _bytes_from(store, key, offset, limit)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(data, final=False)
    pending = len(decoder.getstate()[0])
    at_end = offset + len(data) >= size
    if pending and (done and at_end):  # the log ends inside a character: show the replacement
        text += decoder.decode(b"", final=True)
        pending = 0
    start = min(offset, size)
    return LogSlice(text, start, start + len(data) - pending, size, done and at_end, key is not None)


def _bytes_from(store: ContentStore, key: str | None, offset: int, limit: int) -> tuple[bytes, int]:
    """(up to `limit` bytes from `offset`, the log's total size)."""
    taken = bytearray()
    size = 0
    for blob in _blobs(store, key):
        length = len(blob)
        lo, hi = max(offset - size, 0), min(offset + limit - size, length)
        if lo < hi:
            taken += blob[lo:hi]
        size += length
    return bytes(taken), size


def _blobs(store: ContentStore, key: str | None) -> Iterator[memoryview]:
    """The blobs of a log in order, read one at a time (verified against their keys, as every read is)."""
    for part in log_blob_keys(key):
        yield store.get_bytes(part)


def logs_api(request: Request) -> JSONResponse:
    """The JSON of one log stream of an attempt from an offset (the page polls it while the attempt runs)."""
    params = request.path_params
    stream = query_choice(request, "stream", STREAMS)
    number = query_int(request, "attempt")
    offset = query_int(request, "offset", 0)
    with reader(request)() as ctx:
        found = find_task(ctx, params["flow"], params["run_id"], params["step"], params["task_id"])
        attempts = ctx.meta.attempts(*found.key)
        attempt = find_attempt(found, attempts, number)
        piece = read_slice(found.ctx.store, attempt, stream, offset or 0)
    return JSONResponse({**piece.to_json(), "stream": stream,
                         "attempt": attempt.attempt if attempt is not None else None})


def routes() -> list[Route]:
    return [Route("/api/logs/{flow}/{run_id}/{step}/{task_id}", logs_api)]
