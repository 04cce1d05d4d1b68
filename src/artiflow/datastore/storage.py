"""Storage backends: where blob bytes live. Only this package knows the on-disk layout."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Iterator, NamedTuple, Protocol

from ..exceptions import ConfigError
from .chunks import stored_size
from .directio import policy_from_env, write_blob
from .files import ensure_dir, fsync_all, fsync_dir, open_temp, pid_alive, stale_temp_files, sweep_once
from .mapping import map_private

if TYPE_CHECKING:
    from ..config import Config

# Blobs at least this big are memory-mapped on read (no copy, no descriptor kept); smaller ones are
# read into a bytearray, which is cheaper for tiny files.
MMAP_MIN_BYTES = 1 << 20
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # a root starting so names a backend, not a folder
KEY_PATTERN = re.compile(r"[0-9a-f]{32}")  # an xxh3-128 hex digest: the only names gc considers blobs
# a blob used (read, deduped, written) this recently is not touched again: its mtime already keeps it from
# gc, whose margin (gc.MARGIN_SECONDS) is larger than this
RECENT_USE_SECONDS = 30.0
# errors of a touch on a store this process may read but not change: the blob then simply exists
READ_ONLY_ERRNOS = (errno.EPERM, errno.EACCES, errno.EROFS)


class BlobInfo(NamedTuple):
    """A stored blob as a listing sees it: its key, size in bytes and last-use time (mtime, epoch seconds)."""

    key: str
    size: int
    mtime: float


class Storage(Protocol):
    """A flat key → bytes store; keys are content hashes, so a key is written at most once (unless found bad)."""

    def exists(self, key: str, size: int | None = None) -> bool: ...

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> None: ...

    def get(self, key: str) -> memoryview: ...

    def quarantine(self, key: str, is_bad: Callable[[memoryview], bool]) -> str | None: ...

    def quarantined_copies(self, key: str) -> list[str]: ...

    def batch(self) -> contextlib.AbstractContextManager[None]: ...

    def describe(self) -> str: ...

    # -- garbage collection: datastore/gc.py decides what goes, these only move bytes safely. The contract
    # that makes gc safe beside writers and readers: `exists` and `get` mark a blob they find as used
    # (LocalStorage: its mtime, at most RECENT_USE_SECONDS old), and see a blob that `remove_if_unused`
    # has taken (or is taking) as absent. A backend that cannot keep it sets `supports_gc = False` (or
    # leaves it out) and may leave out the methods below but `iter_blobs`; gc then refuses it.
    supports_gc: bool

    def iter_blobs(self) -> Iterator[BlobInfo]: ...

    def remove_if_unused(self, key: str, cutoff: float) -> int | None: ...

    def restore_trash(self) -> int: ...

    def stale_temp_files(self, grace: float, remove: bool) -> list[tuple[str, int]]: ...


class LocalStorage:
    """Blobs in a local folder: `<root>/blobs/ab/cdef...`, written to `<root>/tmp/`, fsynced, then renamed.

    Large blobs may be written partly with direct I/O (see `directio`); reads go through the page cache.
    Blobs found corrupt are moved to `<root>/quarantine/`, never deleted. A blob's mtime is its last use:
    `exists` and `get` touch what they find, which is what lets gc (`remove_if_unused`) run beside them.
    """

    supports_gc = True

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"
        self.quarantined = self.root / "quarantine"
        self.trash = self.root / "trash"
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
        """Whether the blob is stored whole: its file exists (and has `size` bytes, when given).

        A blob found is marked as used (`_mark_used`), so a writer that dedupes against it keeps a
        concurrent gc from deleting it, and a blob gc has just taken counts as absent (it is written again).
        """
        st = _mark_used(self._where(key))
        return st is not None and (size is None or st.st_size == size)

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
        where = self._where(key)
        if _mark_used(where) is None:  # a reader that records what it read (a cache hit) keeps it from gc
            raise FileNotFoundError(errno.ENOENT, "The blob is not stored", str(where))
        with open(where, "rb") as f:
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

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob with its size and mtime, folder by folder (files not named by a key are skipped)."""
        for folder in _entries(self.blobs):
            if len(folder.name) != 2 or not folder.is_dir(follow_symlinks=False):
                continue
            for entry in _entries(Path(folder.path)):
                key = folder.name + entry.name
                if not KEY_PATTERN.fullmatch(key):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed since the folder was listed
                    continue
                yield BlobInfo(key, st.st_size, st.st_mtime)

    def remove_if_unused(self, key: str, cutoff: float) -> int | None:
        """Delete the blob unless it was used (touched or rewritten) at or after `cutoff`; the bytes freed, or None.

        The blob is first renamed into `<root>/trash/` (atomic: a writer's touch now finds it gone and writes
        it again), then its mtime is read there: a writer that touched it just before the rename gets it back.
        """
        target = self.path(key)
        held = self._trash_path(key)
        try:
            os.rename(target, held)
        except FileNotFoundError:  # gone already (another gc)
            return None
        try:
            st = os.stat(held)
            used = _used_since(st, cutoff)
        except BaseException:  # interrupted: never leave a blob in the trash
            self._put_back(held, target)
            raise
        if used:
            self._put_back(held, target)
            return None
        os.unlink(held)
        return st.st_size

    def restore_trash(self) -> int:
        """Put back the blobs a gc that died left in `<root>/trash/` (to be judged again); how many were restored.

        Entries of a gc still running (its pid is in the name) are its own business and left alone.
        """
        restored = 0
        for entry in _entries(self.trash):
            key, _, owner = entry.name.partition(".")
            if not KEY_PATTERN.fullmatch(key) or pid_alive(owner.partition("-")[0]):
                continue
            try:
                restored += self._put_back(entry.path, self.path(key))
            except FileNotFoundError:  # another gc restored it first
                continue
        return restored

    def stale_temp_files(self, grace: float, remove: bool) -> list[tuple[str, int]]:
        """Temp files of dead writers untouched for `grace` seconds (path, size): removed when `remove`."""
        return stale_temp_files(self.tmp, grace, remove)

    def _trash_path(self, key: str) -> Path:
        """A unique name in the trash folder, carrying this process's pid (so another gc can tell it is live)."""
        ensure_dir(self.trash, self._dirs)
        return self.trash / f"{key}.{os.getpid()}-{os.urandom(6).hex()}"

    def _put_back(self, held: Path | str, target: Path) -> int:
        """Move a blob from the trash back to its place unless a writer put a copy there meanwhile; 1 if moved."""
        ensure_dir(target.parent, self._dirs)
        try:
            os.link(held, target)  # never replaces: a copy a writer just stored stays
            restored = 1
        except FileExistsError:
            restored = 0
        os.unlink(held)
        if restored:
            fsync_dir(target.parent)
        return restored

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


def _mark_used(path: Path | str) -> os.stat_result | None:
    """Stat a blob and, unless it was used in the last RECENT_USE_SECONDS, touch it (mtime = now); None if gone.

    After a touch the blob is stat'ed again: that proves the touched file was still in place after the
    touch, so a gc that moves it aside later sees the new mtime (and puts it back).
    """
    try:
        st = os.stat(path)
        if st.st_mtime >= time.time() - RECENT_USE_SECONDS:
            return st
        return os.stat(path) if _touch(path) else None
    except FileNotFoundError:
        return None


def _touch(path: Path | str) -> bool:
    """Set the file's mtime to now (it is in use); False if it is gone. A read-only store: it just exists."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno not in READ_ONLY_ERRNOS:
            raise
    return True


def _used_since(st: os.stat_result, cutoff: float) -> bool:
    """Whether a blob's mtime says a writer touched or wrote it at or after `cutoff`."""
    return st.st_mtime >= cutoff


def _entries(folder: Path) -> list[os.DirEntry]:
    """The entries of a folder, or none when it does not exist (yet)."""
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except (FileNotFoundError, NotADirectoryError):
        return []


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


def open_storage(root: str, config: Config | None = None) -> Storage:
    """The backend for a datastore root: a folder path or `file://` URL is local; `s3://` and any other scheme go
    through the storage registry (built-in S3, or a package's entry point), given `config` (default: the env's)."""
    if root.startswith("file://"):
        return LocalStorage(local_path_of(root))
    if not URL_SCHEME.match(root):
        return LocalStorage(root)
    from .registry import open_registered

    return open_registered(root, config)


def local_path_of(url: str) -> str:
    """The folder a `file://` root names (`file:///data/af` -> `/data/af`); only local hosts are accepted."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(f"The datastore root {url} names the host '{parts.netloc}'; a file:// root must be on this "
                          f"machine: file:///absolute/path (three slashes), or just the path.")
    return unquote(parts.path)
