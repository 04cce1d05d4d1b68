"""Large blobs written at whichever is faster right now: the page cache or the disk itself.

A buffered write copies the blob into page-cache memory, which is the fastest way to disk while
that memory is at hand (3-4 GB/s here). On virtual machines whose balloon driver hands free memory
back to the host (virtio free page reporting: Firecracker and many cloud VMs), memory freed more
than ~2 s ago must be faulted back from the host first, and the same write crawls at ~0.4 GB/s
where the disk takes 1.7 GB/s. So a large blob is written through the page cache piece by piece,
and once a piece goes slower than MIN_BUFFERED_RATE, the rest goes straight to disk with O_DIRECT
(no new memory at all), unless the first direct piece turns out slower still (a network disk at
0.25 GB/s, say): then back to the page cache for good. Either way the bytes are the same; only
the speed differs.

ARTIFLOW_DIRECT_IO: auto (default, as above) | on (all direct) | off (all buffered).
ARTIFLOW_DIRECT_IO_MIN_BYTES: blobs smaller than this (default 64 MiB) are written buffered.
"""

from __future__ import annotations

import errno
import mmap
import os
import time
from dataclasses import dataclass
from typing import Iterable

from ..exceptions import ConfigError
from .chunks import Chunk, byte_view, fixed_pieces

ALIGN = 4096  # O_DIRECT needs buffer, size and offset aligned to the device block; 4 KiB covers them all
PIECE_BYTES = 8 << 20  # unit of the speed check, and size of the aligned bounce buffer for direct writes
MIN_BUFFERED_RATE = 1 << 30  # bytes/s: a buffered piece slower than this switches the rest to direct I/O
DEFAULT_MIN_BYTES = 64 << 20
IOV_MAX = os.sysconf("SC_IOV_MAX") if "SC_IOV_MAX" in os.sysconf_names else 1024
_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class DirectIOPolicy:
    """How blobs of at least `min_bytes` are written: `mode` is auto, on or off."""

    mode: str
    min_bytes: int

    def mode_for(self, size: int) -> str:
        """How to write a blob of this size: the policy's mode if it is large enough, else "off"."""
        return self.mode if size >= self.min_bytes else "off"


def policy_from_env() -> DirectIOPolicy:
    """Read ARTIFLOW_DIRECT_IO and ARTIFLOW_DIRECT_IO_MIN_BYTES (errors name the variable and the fix)."""
    mode = (os.environ.get("ARTIFLOW_DIRECT_IO") or "auto").strip().lower()
    if mode not in _MODES:
        raise ConfigError(f"ARTIFLOW_DIRECT_IO={mode!r} is not one of {', '.join(_MODES)}; "
                          f"unset it to let artiflow choose (auto).")
    raw_min = os.environ.get("ARTIFLOW_DIRECT_IO_MIN_BYTES") or str(DEFAULT_MIN_BYTES)
    try:
        min_bytes = int(raw_min)
        if min_bytes < 1:
            raise ValueError
    except ValueError:
        raise ConfigError(f"ARTIFLOW_DIRECT_IO_MIN_BYTES={raw_min!r} is not a positive number of bytes; "
                          f"unset it for the default ({DEFAULT_MIN_BYTES}).") from None
    return DirectIOPolicy(mode, min_bytes)


def write_blob(fd: int, path: str, chunks: Iterable[Chunk], mode: str) -> int:
    """Write the chunks into the new, empty file `fd` opened at `path` (every blob goes through here;
    mode "off" is a plain buffered write); returns how many bytes went past the page cache."""
    writer = _PieceWriter(path, fd, direct=mode == "on", may_switch=mode == "auto")
    try:
        for piece in fixed_pieces([byte_view(chunk) for chunk in chunks], PIECE_BYTES):
            writer.write(piece)
        if writer.direct_bytes:
            os.ftruncate(fd, writer.offset)  # a direct last piece was written padded to ALIGN
        return writer.direct_bytes
    finally:
        writer.close()


class _PieceWriter:
    """Writes consecutive pieces buffered until one is slow, then with O_DIRECT from that offset on."""

    def __init__(self, path: str, fd: int, direct: bool, may_switch: bool) -> None:
        self.path = path
        self.fd = fd
        self.offset = 0
        self.direct_bytes = 0
        self.direct_fd: int | None = None
        self.bounce: mmap.mmap | None = None
        self.want_direct = direct
        self.may_switch = may_switch  # auto: still deciding between the page cache and direct I/O
        self.slow_buffered_rate = 0.0  # bytes/s of the buffered piece that was too slow

    def write(self, piece: list[memoryview]) -> None:
        size = sum(part.nbytes for part in piece)
        seconds = self._write_direct(piece, size) if self.want_direct and self._open_direct() else None
        if seconds is not None:
            self.direct_bytes += size
            if self.may_switch:  # the first direct piece after a slow buffered one: keep the faster way
                self.want_direct = size >= self.slow_buffered_rate * seconds
                self.may_switch = False
        else:
            started = time.perf_counter()
            _write_all(self.fd, piece, self.offset)
            if self.may_switch and size == PIECE_BYTES:
                self.slow_buffered_rate = size / max(time.perf_counter() - started, 1e-9)
                self.want_direct = self.slow_buffered_rate < MIN_BUFFERED_RATE
        self.offset += size

    def close(self) -> None:
        """Release the direct descriptor and the bounce buffer, if they were made."""
        if self.direct_fd is not None:
            os.close(self.direct_fd)
        if self.bounce is not None:
            self.bounce.close()

    def _open_direct(self) -> bool:
        """The O_DIRECT descriptor (opened once); False, and buffered from now on, if the filesystem refuses."""
        if self.direct_fd is None:
            try:
                self.direct_fd = os.open(self.path, os.O_WRONLY | os.O_DIRECT)
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # tmpfs on older kernels, some network filesystems
                    raise
                self.want_direct = self.may_switch = False
                return False
            self.bounce = mmap.mmap(-1, PIECE_BYTES)  # anonymous maps are page-aligned
        return True

    def _write_direct(self, piece: list[memoryview], size: int) -> float | None:
        """Copy the piece into the aligned buffer (values' own memory rarely is) and write it, padded.

        Returns the seconds the write itself took (not the copy: the buffer's first fill may fault in
        fresh memory once); None, and buffered from now on, if the device wants a coarser alignment.
        """
        with memoryview(self.bounce) as buf:
            filled = 0
            for part in piece:
                buf[filled : filled + part.nbytes] = part
                filled += part.nbytes
            padded = -(-size // ALIGN) * ALIGN  # only the last piece can be short; write_blob trims it
            buf[size:padded] = bytes(padded - size)
            with buf[:padded] as block:
                started = time.perf_counter()
                try:
                    _write_all(self.direct_fd, [block], self.offset)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    self.want_direct = self.may_switch = False
                    return None
                return time.perf_counter() - started


def _write_all(fd: int, parts: list[memoryview], offset: int) -> None:
    """pwritev until every byte of `parts` is at `offset` and on (short writes are rare but legal).

    At most IOV_MAX parts go to one call: a piece can hold thousands of small out-of-band buffers.
    """
    parts = list(parts)
    first = 0
    while first < len(parts):
        done = os.pwritev(fd, parts[first : first + IOV_MAX], offset)
        offset += done
        while first < len(parts) and done >= parts[first].nbytes:
            done -= parts[first].nbytes
            first += 1
        if done:
            parts[first] = parts[first][done:]
