"""Storage backends: where blob bytes live. Only this package knows the on-disk layout."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Protocol

from ..exceptions import ArtifactError, CommandError


class Storage(Protocol):
    """A flat key → bytes store; keys are content hashes, so a key is written at most once."""

    def exists(self, key: str) -> bool: ...

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> None: ...

    def get(self, key: str) -> memoryview: ...

    def describe(self) -> str: ...


class LocalStorage:
    """Blobs in a local folder: `<root>/blobs/ab/cdef...`, written to a temp file then renamed."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"

    def describe(self) -> str:
        return str(self.root)

    def path(self, key: str) -> Path:
        return self.blobs / key[:2] / key[2:]

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> None:
        target = self.path(key)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(tmp, target)  # atomic: readers see all of the blob or none of it
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def get(self, key: str) -> memoryview:
        try:
            with open(self.path(key), "rb") as f:
                return memoryview(f.read())
        except FileNotFoundError:
            raise ArtifactError(
                f"Blob {key} is missing from the datastore at {self.root}. The artifact's bytes were "
                f"deleted or the datastore root points elsewhere (check ARTIFLOW_DATASTORE_ROOT)."
            ) from None


def open_storage(root: str) -> Storage:
    """The backend for a datastore root: a local path (S3 comes in a later release)."""
    if root.startswith("s3://"):
        raise CommandError(
            f"The datastore root {root} is on S3, which this version of artiflow does not support yet. "
            f"Use a local folder (unset ARTIFLOW_DATASTORE_ROOT, or pass --datastore=local)."
        )
    return LocalStorage(root)
