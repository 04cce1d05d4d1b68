"""File-system steps of a durable local datastore: folders made and synced, temp files named and swept.

A blob is written to `<root>/tmp/.tmp-<pid>-<random>`, fsynced, renamed into `<root>/blobs/`, and
the folder that gained the name is fsynced too: once `put` returns, the blob survives a power loss.
Temp files of writers that died (SIGKILL, a crash) are swept when a store is first opened in a
process, once they are older than ARTIFLOW_TEMP_GRACE_SECONDS and their writer is gone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..exceptions import ConfigError

TEMP_PREFIX = ".tmp-"
DEFAULT_TEMP_GRACE = 3600.0  # seconds; a live writer touches its temp file far more often than this
_swept: set[str] = set()  # roots swept by this process (forked tasks inherit it: one sweep per run)


def fsync_dir(path: Path | str) -> None:
    """Make the folder's entries (a rename into it, a new sub-folder) durable."""
    _fsync_path(str(path), True)


SERIAL_FSYNCS = 8  # up to this many paths are fsynced one after another (measured: 1,000 tasks 11.6 s -> 5.1 s)


def fsync_all(paths: list[str], folders: bool = False) -> None:
    """fsync every file (or folder), in parallel when there are several: the journal then commits them together."""
    if len(paths) <= SERIAL_FSYNCS:  # a task's few artifacts: threads would cost more than they save
        for path in paths:
            _fsync_path(path, folders)
        return
    from concurrent.futures import ThreadPoolExecutor  # only batches of several blobs need it

    with ThreadPoolExecutor(max_workers=min(16, len(paths))) as pool:
        list(pool.map(lambda path: _fsync_path(path, folders), paths))


def _fsync_path(path: str, folder: bool) -> None:
    """fsync one file or folder by path."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if folder else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path, known: set[Path]) -> None:
    """Make the folder (and its parents) if needed, durably; `known` caches folders already there.

    Folders get mode 0777 minus the umask, so a datastore shared through a group stays usable.
    """
    if path in known:
        return
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except FileNotFoundError:
        ensure_dir(path.parent, known)
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        else:
            fsync_dir(path.parent)
    else:
        fsync_dir(path.parent)
    known.add(path)


def open_temp(folder: Path) -> tuple[int, str]:
    """A new, empty temp file named after this process (so a sweep can tell a live writer), mode 0666 minus the umask."""
    while True:
        path = os.path.join(folder, f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), path
        except FileExistsError:  # 48 random bits: never in practice
            continue


def temp_grace_from_env() -> float:
    """ARTIFLOW_TEMP_GRACE_SECONDS: how old a temp file must be before a sweep may remove it."""
    raw = os.environ.get("ARTIFLOW_TEMP_GRACE_SECONDS") or str(DEFAULT_TEMP_GRACE)
    try:
        grace = float(raw)
        if not grace >= 0:
            raise ValueError
    except ValueError:
        raise ConfigError(f"ARTIFLOW_TEMP_GRACE_SECONDS={raw!r} is not a number of seconds (0 or more); "
                          f"unset it for the default ({DEFAULT_TEMP_GRACE:g}).") from None
    return grace


def sweep_once(root: Path, folders: list[Path]) -> None:
    """Sweep the temp files of dead writers from `folders`, the first time this process opens `root`."""
    key = str(root)
    if key in _swept:
        return
    _swept.add(key)
    grace = temp_grace_from_env()
    for folder in folders:
        sweep_temp(folder, grace)


def defer_sweep(root: Path | str) -> None:
    """Skip the sweep when this process opens `root`: the caller (gc) sweeps itself and reports what it removed."""
    _swept.add(str(Path(root)))


def sweep_temp(folder: Path, grace: float) -> list[str]:
    """Remove the temp files in `folder` untouched for `grace` seconds whose writer is not running; returns them."""
    return [path for path, _ in stale_temp_files(folder, grace, remove=True)]


def stale_temp_files(folder: Path, grace: float, remove: bool) -> list[tuple[str, int]]:
    """The temp files in `folder` untouched for `grace` seconds whose writer is not running, with their sizes.

    With `remove` they are deleted (those gone meanwhile, or another user's, are left out). A live writer
    is never hit: its file is newer than the grace period (it writes without pause), or, if it is
    stopped, its pid (in the name) still runs on this machine and the file is kept.
    """
    found: list[tuple[str, int]] = []
    cutoff = time.time() - grace
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return found
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if st.st_mtime > cutoff or _writer_alive(entry.name):
                continue
            if remove:
                os.unlink(entry.path)
            found.append((entry.path, st.st_size))
        except (FileNotFoundError, PermissionError):  # gone already, or another user's: theirs to sweep
            continue
    return found


def _writer_alive(name: str) -> bool:
    """Whether the pid in a temp file's name is a running process here (names of older versions have none)."""
    return pid_alive(name[len(TEMP_PREFIX):].partition("-")[0])


def pid_alive(pid_text: str) -> bool:
    """Whether `pid_text` (digits from a file name) is a running process on this machine; False if not digits."""
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OverflowError:  # digits beyond any pid
        return False
    return True
