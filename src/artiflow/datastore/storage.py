"""Storage backends: where blob bytes live. Only this package knows the on-disk layout."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Protocol

from ..exceptions import ConfigError
from .chunks import stored_size
from .directio import policy_from_env, write_blob
from .files import ensure_dir, fsync_all, fsync_dir, open_temp, sweep_once
from .mapping import map_private

# Blobs at least this big are memory-mapped on read (no copy, no descriptor kept); smaller ones are
# read into a bytearray, which is cheaper for tiny files.
MMAP_MIN_BYTES = 1 << 20


class Storage(Protocol):
    """A flat key → bytes store; keys are content hashes, so a key is written at most once (unless found bad)."""

    def exists(self, key: str, size: int | None = None) -> bool: ...

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> None: ...

    def get(self, key: str) -> memoryview: ...

    def quarantine(self, key: str, is_bad: Callable[[memoryview], bool]) -> str | None: ...

    def quarantined_copies(self, key: str) -> list[str]: ...

    def batch(self) -> contextlib.AbstractContextManager[None]: ...

    def describe(self) -> str: ...


class LocalStorage:
    """Blobs in a local folder: `<root>/blobs/ab/cdef...`, written to `<root>/tmp/`, fsynced, then renamed.

    Large blobs may be written partly with direct I/O (see `directio`); reads go through the page cache.
    Blobs found corrupt are moved to `<root>/quarantine/`, never deleted.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"
        self.quarantined = self.root / "quarantine"
        self.direct_io = policy_from_env()
        self._dirs: set[Path] = set()  # folders known to exist (made durably) in this process
        self._batch: dict[str, str] | None = None  # key -> temp file, written in the open batch()
        self._batch_pid = 0  # the process whose batch it is (a forked task must not publish its parent's)
        sweep_once(self.root, [self.tmp])

    def describe(self) -> str:
        """Where the blobs are, for error messages."""
        return str(self.root)

    def path(self, key: str) -> Path:
        """The blob's file: two-character fan-out folders keep directories small."""
        return self.blobs / key[:2] / key[2:]

    def exists(self, key: str, size: int | None = None) -> bool:
        """Whether the blob is stored whole: its file exists (and has `size` bytes, when given)."""
        try:
            found = os.stat(self._where(key)).st_size
        except FileNotFoundError:
            return False
        return size is None or found == size

    def _where(self, key: str) -> Path | str:
        """The blob's file, or its temp file while this process's batch holds it back."""
        if self._batching() and key in self._batch:  # type: ignore[operator]
            return self._batch[key]  # type: ignore[index]
        return self.path(key)

    def _batching(self) -> bool:
        """Whether this process has a batch open (a forked task's copy of its parent's does not count)."""
        return self._batch is not None and self._batch_pid == os.getpid()

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> None:
        """Write the chunks one by one (no concatenation) to a temp file, fsync it, rename it into place.

        Inside `batch()` the fsync and the rename wait for the batch's end. A file already there with
        the wrong size (truncated, say) is moved to quarantine and replaced; one with the right size is
        kept (a changed byte is caught on read).
        """
        chunks = list(chunks)
        size = stored_size(chunks)
        if self.exists(key, size):
            return
        ensure_dir(self.tmp, self._dirs)
        fd, tmp = open_temp(self.tmp)
        try:
            try:
                write_blob(fd, tmp, chunks, self.direct_io.mode_for(size))
                if not self._batching():
                    os.fsync(fd)  # the bytes are on disk before the name is: never a short blob after a crash
            finally:
                os.close(fd)
            if self._batching():
                self._batch[key] = tmp  # type: ignore[index]
                return
            self._publish({key: tmp}, synced=True)
        except BaseException:
            _unlink_quietly(tmp)
            raise

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Gather the blobs written inside and make them durable together at the end (a task's artifacts).

        Their fsyncs then run in parallel, which the filesystem's journal groups into a few commits: on a
        busy disk 10-20x cheaper than one blob at a time. Until the end they are read from their temp files.
        """
        if self._batching():
            yield  # nested: the outer batch publishes
            return
        self._batch, self._batch_pid = {}, os.getpid()
        try:
            yield
        finally:
            written, self._batch = self._batch, None
            try:
                self._publish(written, synced=False)
            except BaseException:
                for tmp in written.values():
                    _unlink_quietly(tmp)
                raise

    def _publish(self, written: dict[str, str], synced: bool) -> None:
        """Make temp files durable (unless `synced`), rename them into place, then make the names durable."""
        if not written:
            return
        if not synced:
            fsync_all(list(written.values()))
        folders = []
        for key, tmp in written.items():
            target = self.path(key)
            ensure_dir(target.parent, self._dirs)
            self._keep_bad_copy(target, key)
            os.replace(tmp, target)  # atomic: readers see all of the blob or none of it
            folders.append(str(target.parent))
        fsync_all(sorted(set(folders)), folders=True)  # the new names survive a power loss too

    def get(self, key: str) -> memoryview:
        """The blob's bytes, writable and private: memory-mapped copy-on-write when large, else read.

        Raises FileNotFoundError when the blob is not stored. No descriptor stays open either way.
        """
        with open(self._where(key), "rb") as f:
            return _read_whole(f)

    def quarantine(self, key: str, is_bad: Callable[[memoryview], bool]) -> str | None:
        """Move the blob to `<root>/quarantine/` if the file there now is still bad; returns where it went.

        The file is checked again, and its identity compared after the move, so a good copy that a
        concurrent writer has just put in place is left alone (None is returned then).
        """
        target = self.path(key)
        try:
            with open(target, "rb") as f:
                identity = _identity(os.fstat(f.fileno()))
                if not is_bad(_read_whole(f)):
                    return None
        except FileNotFoundError:
            return None
        moved = self._quarantine_path(key)
        try:
            os.rename(target, moved)
        except FileNotFoundError:  # another reader moved it first
            return None
        if _identity(os.stat(moved)) != identity:  # a writer replaced it between the check and the move
            try:
                os.link(moved, target)
            except FileExistsError:
                pass
            os.unlink(moved)
            return None
        fsync_dir(self.quarantined)
        return str(moved)

    def quarantined_copies(self, key: str) -> list[str]:
        """Where the bad copies of a blob moved aside so far are, oldest first."""
        return sorted(str(p) for p in self.quarantined.glob(f"{key}.*"))

    def _keep_bad_copy(self, target: Path, key: str) -> None:
        """Before a blob file of the wrong size is replaced, link it into quarantine (it is kept, not lost)."""
        if not target.exists():
            return
        try:
            os.link(target, self._quarantine_path(key))
        except FileNotFoundError:  # replaced or moved meanwhile: nothing to keep
            pass

    def _quarantine_path(self, key: str) -> Path:
        """A name in the quarantine folder that no earlier quarantined copy of the blob has."""
        ensure_dir(self.quarantined, self._dirs)
        return self.quarantined / f"{key}.{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(3).hex()}"


def _unlink_quietly(path: str) -> None:
    """Remove a temp file that may be gone already."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _identity(st: os.stat_result) -> tuple[int, int]:
    """The (device, inode) pair naming one file whatever its path."""
    return st.st_dev, st.st_ino


def _read_whole(f: BinaryIO) -> memoryview:
    """An open blob file's bytes: a private map when large (the caller may close `f` at once), else read."""
    size = os.fstat(f.fileno()).st_size
    if size >= MMAP_MIN_BYTES:
        mapped = map_private(f.fileno(), size)
        if mapped is not None:
            return mapped
    return _read_all(f, size)


def _read_all(f: BinaryIO, size: int) -> memoryview:
    """Read a whole file into a writable buffer (arrays built on it are writeable, as from a map)."""
    buf = bytearray(size)
    view = memoryview(buf)
    done = 0
    while done < size:
        n = f.readinto(view[done:])
        if not n:
            break
        done += n
    return view[:done]


def open_storage(root: str) -> Storage:
    """The backend for a datastore root: a local path (S3 comes in a later release)."""
    if root.startswith("s3://"):
        raise ConfigError(
            f"The datastore root {root} is on S3, which this version of artiflow does not support yet. "
            f"Use a local folder: unset ARTIFLOW_DATASTORE_ROOT (and METAFLOW_DATASTORE), or set it to a path."
        )
    return LocalStorage(root)
