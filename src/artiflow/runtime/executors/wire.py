"""Messages between a Dask worker and its task host: pickled objects, each framed by its length, over a pipe.

Both ends are artiflow in the same environment, so pickle is safe here: nothing else writes these pipes.
"""

from __future__ import annotations

import os
import pickle
import struct
import threading
from typing import Any

HEADER = struct.Struct("!Q")


class Channel:
    """One direction of a pipe: `send` from any thread (whole messages, never interleaved), `receive` from one."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, message: Any) -> None:
        """Write one message; OSError (EPIPE) if the other end is gone."""
        data = pickle.dumps(message, protocol=5)
        with self.lock:
            _write_all(self.fd, HEADER.pack(len(data)) + data)

    def receive(self) -> Any:
        """The next message, or EOFError once the other end has closed the pipe."""
        (size,) = HEADER.unpack(_read_exactly(self.fd, HEADER.size))
        return pickle.loads(_read_exactly(self.fd, size))

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int) -> bytes:
    parts, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other end closed the pipe")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)
