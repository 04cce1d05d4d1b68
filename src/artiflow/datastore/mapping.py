"""Private memory maps of blob files that hold no file descriptor once made.

CPython's `mmap.mmap` keeps a dup of the file's descriptor for as long as the map lives (until 3.13's
`trackfd=False`), so a task holding 500 large artifacts held 500 descriptors and hit the limit.
Here the map is made with libc's mmap(2) through ctypes: the caller's descriptor is closed right
after, and the map is unmapped when the last view of it is garbage collected. Where that is not
possible (no libc, not Linux), the standard mmap is used as before.
"""

from __future__ import annotations

import mmap
import sys
import weakref
from typing import Any

_libc: Any = None  # loaded on first use: ctypes costs ~2 ms to import, and only large blobs need it


def map_private(fd: int, size: int) -> memoryview | None:
    """A writable copy-on-write view of the file's first `size` bytes, or None if the OS refuses.

    Nothing is read until touched; writes go to private pages, never to the file. The view keeps no
    descriptor open: `fd` may be closed as soon as this returns.
    """
    if sys.version_info >= (3, 13):
        try:
            mapped = mmap.mmap(fd, size, access=mmap.ACCESS_COPY, trackfd=False)  # type: ignore[call-arg]
        except OSError:
            return None
        _advise_huge(mapped)
        return memoryview(mapped)
    libc = _load_libc()
    if libc is None:
        return _map_with_dup(fd, size)
    import ctypes

    addr = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE, fd, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:  # MAP_FAILED: no memory, too many maps
        return None
    if hasattr(mmap, "MADV_HUGEPAGE"):
        # Blob bytes not yet in the page cache are then read in 2 MB folios: faster from disk, and
        # later readers of the blob map it with far fewer page faults (13 ms less per 512 MB).
        libc.madvise(addr, size, mmap.MADV_HUGEPAGE)  # may fail (no transparent huge pages): harmless
    region = (ctypes.c_ubyte * size).from_address(addr)
    unmap = weakref.finalize(region, libc.munmap, addr, size)
    unmap.atexit = False  # never unmap at exit: arrays on the map may still be used by exit handlers
    return memoryview(region).cast("B")


def _load_libc() -> Any:
    """libc's mmap, munmap and madvise with their C signatures; None where they cannot be had."""
    global _libc
    if _libc is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.mmap.restype = ctypes.c_void_p
            libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                  ctypes.c_int64]
            libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            _libc = libc if sys.platform.startswith("linux") and ctypes.sizeof(ctypes.c_void_p) == 8 else False
        except (ImportError, OSError, AttributeError):
            _libc = False
    return _libc or None


def _map_with_dup(fd: int, size: int) -> memoryview | None:
    """The standard library's map (it holds a dup of `fd` while it lives): the fallback."""
    try:
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
    except OSError:
        return None
    _advise_huge(mapped)
    return memoryview(mapped)


def _advise_huge(mapped: mmap.mmap) -> None:
    """Ask for transparent huge pages on the map, where the system has them."""
    try:
        mapped.madvise(mmap.MADV_HUGEPAGE)
    except (AttributeError, OSError):
        pass
