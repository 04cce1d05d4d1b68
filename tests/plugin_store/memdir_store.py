"""A small third-party storage backend, as a separate package would ship one: `memdir:///path` keeps blobs
as files of one folder. Registered through the `artiflow.storage` entry point in the dist-info beside it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

from artiflow.datastore.storage import BlobInfo

OPENED: list[str] = []  # roots opened in this process (a test checks the factory was used)


class MemDirStorage:
    """Blobs as `<folder>/<key>`, written to a temp file and renamed (atomic); bad ones renamed `<key>.bad`."""

    supports_gc = False

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        return f"memdir://{self.folder}"

    def exists(self, key: str, size: int | None = None) -> bool:
        try:
            found = (self.folder / key).stat().st_size
        except FileNotFoundError:
            return False
        return size is None or found == size

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, self.folder / key)

    def get(self, key: str) -> memoryview:
        return memoryview(bytearray((self.folder / key).read_bytes()))  # FileNotFoundError when absent

    def quarantine(self, key: str, is_bad: Callable[[memoryview], bool]) -> str | None:
        try:
            if not is_bad(self.get(key)):
                return None
        except FileNotFoundError:
            return None
        aside = self.folder / f"{key}.bad"
        os.replace(self.folder / key, aside)
        return str(aside)

    def quarantined_copies(self, key: str) -> list[str]:
        return sorted(str(p) for p in self.folder.glob(f"{key}.bad"))

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def iter_blobs(self) -> Iterator[BlobInfo]:
        for path in self.folder.iterdir():
            if not path.name.startswith(".") and "." not in path.name:
                st = path.stat()
                yield BlobInfo(path.name, st.st_size, st.st_mtime)


def open_memdir(root: str, config: object) -> MemDirStorage:
    """The entry point's factory: `memdir:///some/folder` -> the folder."""
    OPENED.append(root)
    return MemDirStorage(root.removeprefix("memdir://"))


class NotAStorage:
    """What a broken plug-in might return: it lacks most Storage methods."""

    def describe(self) -> str:
        return "nothing"


def open_broken(root: str, config: object) -> NotAStorage:
    return NotAStorage()
