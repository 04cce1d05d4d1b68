"""A task's stdout/stderr in the runner: kept byte-exact for storage, cut into lines for the live console.

Everything here costs time linear in what the task prints and memory bounded whatever it prints:
- `Spool` keeps a stream's bytes, in memory up to SPOOL_MEMORY_BYTES and beyond that in an
  unlinked temporary file, so a task printing gigabytes does not grow the runner.
- `LineView` turns the bytes into what the console shows: one call per line, a line longer than
  SHOWN_LINE_BYTES shown cut (the stored log keeps all of it), and `\\r` progress updates (tqdm)
  offered as updates of one line (the last of a chunk, at most every OFFER_GAP_SECONDS); the console
  decides how often to show them.
- `store_log` / `read_log`: the stored form. A log of up to LOG_PIECE_BYTES is one blob and its key;
  a longer one is stored as blobs of LOG_PIECE_BYTES each and recorded as `parts:<key> <key> ...`.
"""

from __future__ import annotations

import os
import time
import weakref
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

if TYPE_CHECKING:
    from ..datastore import ContentStore

SPOOL_MEMORY_BYTES = 1 << 20   # a stream's bytes kept in memory before they go to a temporary file
LOG_PIECE_BYTES = 4 << 20      # the largest blob of a stored log: what the runner holds in memory to store it
SHOWN_LINE_BYTES = 32 << 10    # the console shows this much of a longer line, then says how much it left out
PARTS = "parts:"               # the prefix of a log stored as several blobs
OFFER_GAP_SECONDS = 0.05       # a stream's updates are offered to the console at most this often

Show = Callable[[str, bool], "bool | None"]  # (text, is_update) → False when an update was not shown yet


class Spool:
    """All the bytes of one stream, byte-exact: in memory while small, then in an unlinked temporary file."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.fd: int | None = None
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes; a full buffer goes to the temporary file in one write (few, large writes)."""
        self.buffer += data
        self.size += len(data)
        if len(self.buffer) >= SPOOL_MEMORY_BYTES:
            self._spill()

    def __iadd__(self, data: bytes) -> Spool:
        """`finished.stderr += b"..."`: what the scheduler adds to a task's own output."""
        self.write(data)
        return self

    def __len__(self) -> int:
        return self.size

    def _spill(self) -> None:
        """Move the buffered bytes to the end of the temporary file (made on first use)."""
        if self.fd is None:
            import tempfile  # only a task that prints a lot pays for it

            fd, path = tempfile.mkstemp(prefix="artiflow-output-")
            os.unlink(path)  # gone when closed, even if the runner is killed
            self.fd = fd
            weakref.finalize(self, os.close, fd)
        view = memoryview(self.buffer)
        while view:
            view = view[os.write(self.fd, view):]
        self.buffer = bytearray()

    def pieces(self, size: int = LOG_PIECE_BYTES, start: int = 0) -> Iterator[bytes]:
        """The bytes from `start` in order, in pieces of `size` (the last may be shorter): never all in memory at once."""
        if self.fd is None:
            yield from _cut(bytes(self.buffer[start:]), size)
            return
        self._spill()
        offset = start
        while offset < self.size:
            piece = os.pread(self.fd, min(size, self.size - offset), offset)
            if not piece:
                raise OSError(f"the spooled task output ended at {offset} of {self.size} bytes")
            offset += len(piece)
            yield piece

    def getvalue(self) -> bytes:
        """All the bytes at once (for small streams and tests)."""
        return b"".join(self.pieces())


def _cut(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def store_log(store: ContentStore, output: Spool | bytes, stored: int = 0, keys: Sequence[str] = ()) -> str | None:
    """Store a stream's bytes; the key to record for them (None when the task printed nothing).

    `keys` are blobs already holding its first `stored` bytes (stored while the task ran): only the rest is stored.
    """
    if not output:
        return None
    pieces = output.pieces(start=stored) if isinstance(output, Spool) else _cut(bytes(output)[stored:], LOG_PIECE_BYTES)
    keys = [*keys, *(store.put_bytes([piece]) for piece in pieces)]
    return log_key(keys)


def log_key(keys: Sequence[str]) -> str | None:
    """The recorded key of a log stored as these blobs, in order: the one key, or a `parts:` list."""
    if not keys:
        return None
    return keys[0] if len(keys) == 1 else PARTS + " ".join(keys)


def read_log(store: ContentStore, key: str | None) -> bytes:
    """The bytes of a stored log, whether one blob or several (`parts:`)."""
    if not key:
        return b""
    if key.startswith(PARTS):
        return b"".join([store.get_bytes(part) for part in log_blob_keys(key)])
    return bytes(store.get_bytes(key))


def log_blob_keys(raw: str | None) -> list[str]:
    """The blob keys a recorded log key names: itself, or each part of a `parts:` log (gc keeps them all)."""
    if not raw:
        return []
    return raw[len(PARTS):].split() if raw.startswith(PARTS) else [raw]


class LineView:
    """Cuts one stream into what the console shows: lines, and `\\r` updates of the line being written.

    A `\\r` ends an update and the text after it replaces it (as on a terminal). Of the updates in one
    chunk only the last is offered: the others were superseded before they could be seen. An update
    the console did not show yet (`show` returned False), or that came less than OFFER_GAP_SECONDS after
    the last offer, stays `waiting` to be offered again.
    """

    __slots__ = ("show", "text", "left_out", "update", "waiting", "offered_at")

    def __init__(self, show: Show) -> None:
        self.show = show
        self.text = bytearray()   # the line's bytes since its last \r, up to SHOWN_LINE_BYTES
        self.left_out = 0         # bytes of it beyond that
        self.update = b""         # the line's latest complete, non-empty \r update
        self.waiting = False      # that update was not shown yet
        self.offered_at = 0.0     # when an update was last offered

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes read from the stream; show the lines they end and offer their last update."""
        if b"\n" not in chunk and b"\r" not in chunk:  # the middle of a long line: nothing to split
            self._extend(chunk)
            return
        lines = chunk.split(b"\n")
        last = lines.pop()
        for piece in lines:
            self._add(piece)
            self.end_line()
        if self._add(last):
            self.waiting = True
            if time.monotonic() - self.offered_at >= OFFER_GAP_SECONDS:
                self.offer()

    def offer(self) -> None:
        """Offer the latest update to the console (again, if it was not shown)."""
        self.offered_at = time.monotonic()
        self.waiting = self.show(_decode(self.update), True) is False

    def end_line(self) -> None:
        """The line ended with a newline: show its final text (its last update if nothing followed that)."""
        final = bytes(self.text) if (self.text or not self.update) else self.update
        cut = f" [... {self.left_out:,} more bytes of this line not shown; `logs` prints all]" if self.left_out else ""
        self.show(_decode(final) + cut, False)
        self.text = bytearray()
        self.left_out = 0
        self.update = b""
        self.waiting = False

    def close(self) -> None:
        """The stream ended: show the line it left unfinished, if any."""
        if self.text or self.left_out or self.update:
            self.end_line()

    def _add(self, piece: bytes) -> bool:
        """Add a piece of the current line; True if it completed a new non-empty update (it holds a \\r)."""
        cr = piece.rfind(b"\r")
        if cr < 0:
            self._extend(piece)
            return False
        end, found = cr, False
        while not found:  # the last non-empty update that this piece completes
            start = piece.rfind(b"\r", 0, end)
            if start < 0:
                self._extend(piece[:end])
                found = bool(self.text)
                if found:
                    self.update = bytes(self.text)
                break
            if start + 1 < end:
                self.update, found = piece[start + 1:end][:SHOWN_LINE_BYTES], True
            end = start
        self.text = bytearray()
        self.left_out = 0
        self._extend(piece[cr + 1:])
        return found

    def _extend(self, data: bytes) -> None:
        room = SHOWN_LINE_BYTES - len(self.text)
        if len(data) <= room:
            self.text += data
        else:
            self.text += data[:room]
            self.left_out += len(data) - room


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")
