"""The content-addressed artifact store: values in, refs out; refs in, values out."""

from __future__ import annotations

import contextlib
import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from ..exceptions import ArtifactError, SerializationError
from .chunks import reported_size, stored_size
from .keys import KeyCheck, content_key, key_matches
from .serializers import serializer_for, serializer_named
from .storage import Storage, open_storage

if TYPE_CHECKING:
    from ..config import Config
    from .preview import PreviewCollector


@dataclass(frozen=True)
class ArtifactRef:
    """Where an artifact's value lives and how to read it; cheap to copy and pass on."""

    key: str
    serializer: str
    type: str
    size: int


def type_name(value: Any) -> str:
    """The value's type as users write it: `int`, `numpy.ndarray`."""
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


class BlobError(ArtifactError):
    """A blob that cannot be served, missing or corrupt: names the blob and, when the reader said, the artifact."""

    def __init__(self, key: str, problem: str, message: str, artifact: str | None = None,
                 pathspec: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.problem = problem  # "missing" or "corrupt"
        self.artifact = artifact
        self.pathspec = pathspec


def _subject(key: str, artifact: str | None, pathspec: str | None) -> str:
    """How an error names what could not be read: the artifact and its task when known, and the blob."""
    if artifact is None:
        return f"Blob {key}"
    return f"Artifact '{artifact}'" + (f" in {pathspec}" if pathspec else "") + f": blob {key}"


REWRITE_HINT = ("Re-run or resume the step that produced it to write it again (a save of the same value "
                "rewrites the blob); `artiflow verify` lists every artifact that uses it.")


class ContentStore:
    """Artifacts stored once per content, on any `Storage` backend."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.previews: PreviewCollector | None = None  # when set, it gets every saved value (datastore/preview.py)

    def save(self, name: str, value: Any) -> ArtifactRef:
        """Serialize and store a value; the same bytes stored twice share one blob (and one preview, when collected)."""
        serializer = serializer_for(value)
        try:
            chunks = _chunks(serializer, value)
        except Exception as exc:
            raise SerializationError(
                f"Artifact '{name}' cannot be stored: its value has type {type_name(value)}, which "
                f"{serializer.name} cannot serialize ({type(exc).__name__}: {exc}). Store a plain value "
                f"instead (e.g. list(...) of a generator), or keep it out of self by using a local variable."
            ) from exc
        key = self.put_bytes(chunks, f"Artifact '{name}'")
        if self.previews is not None:
            self.previews.add(key, value)
        return ArtifactRef(key, serializer.name, type_name(value), reported_size(chunks))

    def collect_previews(self) -> None:
        """Make a preview of each value saved from now on (taken with take_previews)."""
        from .preview import PreviewCollector

        self.previews = PreviewCollector()

    def take_previews(self) -> dict[str, str]:
        """The previews of the values saved since the last take, by content key (JSON text each)."""
        return self.previews.take() if self.previews is not None else {}

    def key_of(self, value: Any) -> str:
        """The content key `value` would be stored under, without storing it."""
        return content_key(_chunks(serializer_for(value), value))

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Blobs saved inside are made durable together when it ends (a task's artifacts, before it reports)."""
        return self.storage.batch()

    def load(self, ref: ArtifactRef, artifact: str | None = None, pathspec: str | None = None) -> Any:
        """Read an artifact back with the serializer that wrote it (large local blobs: memory-mapped).

        `artifact` and `pathspec` (the reader's names for it) only serve the error when the blob is bad.
        """
        try:
            serializer = serializer_named(ref.serializer)
        except KeyError as exc:
            raise ArtifactError(f"{_subject(ref.key, artifact, pathspec)} ({ref.type}): {exc.args[0]}") from None
        return serializer.loads(self.get_bytes(ref.key, artifact, pathspec))

    def put_bytes(self, chunks: list[bytes | memoryview], what: str = "A blob") -> str:
        """Store bytes given as chunks, durably; hashed first, so a whole blob that exists is not written again.

        A failed write (a full disk) raises an ArtifactError about `what`; nothing half-written is left.
        """
        key = content_key(chunks)
        size = stored_size(chunks)
        if self._put_unasked(size) or not self.storage.exists(key, size):
            try:
                self.storage.put(key, chunks)
            except OSError as exc:
                raise ArtifactError(_write_failure(what, size, self.storage.describe(), exc)) from exc
        return key

    def _put_unasked(self, size: int) -> bool:
        """Whether to write a blob of `size` bytes without asking first if it is stored: a backend whose
        `cheaper_to_put(size)` says so (S3: a small PUT costs one request, as the HEAD it saves would)."""
        cheaper = getattr(self.storage, "cheaper_to_put", None)
        return cheaper is not None and cheaper(size)

    def get_bytes(self, key: str, artifact: str | None = None, pathspec: str | None = None) -> memoryview:
        """A blob's bytes, verified against its key (one xxh3 pass); a corrupt blob is quarantined, then reported."""
        try:
            data = self.storage.get(key)
        except FileNotFoundError:
            raise self._missing(key, artifact, pathspec) from None
        if key_matches(data, key):
            return data
        del data
        moved = self._move_aside(key)
        if moved is None and self.check(key) == "ok":  # a writer put a good copy in place meanwhile
            return self.storage.get(key)
        raise self._corrupt(key, artifact, pathspec, moved)

    def stream_bytes(self, key: str, artifact: str | None = None,
                     pathspec: str | None = None) -> tuple[int, Iterator[memoryview]]:
        """A blob's size and its bytes in pieces, for sending on (a download): from a store that reads in ranges
        (its optional `stream(key)`: S3), piece by piece with the key checked as they pass, so a corrupt blob
        raises BlobError instead of its last piece (and is quarantined); from any other, read whole and verified
        first."""
        streaming = getattr(self.storage, "stream", None)
        if streaming is None:
            data = self.get_bytes(key, artifact, pathspec)
            return data.nbytes, iter([data])
        try:
            size, pieces = streaming(key)
        except FileNotFoundError:
            raise self._missing(key, artifact, pathspec) from None
        return size, self._checked(key, size, pieces, artifact, pathspec)

    def _checked(self, key: str, size: int, pieces: Iterator[memoryview], artifact: str | None,
                 pathspec: str | None) -> Iterator[memoryview]:
        check = KeyCheck(size)
        held = None   # the last piece goes out only once the key matched: a corrupt blob never arrives whole
        for piece in pieces:
            check.update(piece)
            if held is not None:
                yield held
            held = piece
        if not check.matches(key):
            raise self._corrupt(key, artifact, pathspec, self._move_aside(key))
        if held is not None:
            yield held

    def _move_aside(self, key: str) -> str | OSError | None:
        """Quarantine a corrupt blob: where it went, None if what is stored now is good, or why it could not."""
        try:
            return self.quarantine(key)
        except OSError as exc:  # a read-only or another user's datastore
            return exc

    def _missing(self, key: str, artifact: str | None, pathspec: str | None) -> BlobError:
        copies = self.storage.quarantined_copies(key)
        why = (f"It was found corrupt and moved aside to {copies[-1]}." if copies else "It was deleted, or the "
               "datastore root points elsewhere (check ARTIFLOW_DATASTORE_ROOT).")
        return BlobError(key, "missing", f"{_subject(key, artifact, pathspec)} is missing from the datastore at "
                                         f"{self.storage.describe()}. {why} {REWRITE_HINT}", artifact, pathspec)

    def _corrupt(self, key: str, artifact: str | None, pathspec: str | None, moved: str | OSError | None) -> BlobError:
        """The error of a blob whose bytes no longer match its key; `moved`: where it was moved aside, or why not."""
        if isinstance(moved, OSError):  # a read-only or another user's datastore: reported all the same
            aside = f"It could not be moved aside ({moved.strerror or moved}); until it is, every read fails."
        else:
            aside = f"It was moved aside to {moved}, so it is never served again." if moved else ""
        return BlobError(key, "corrupt", (
            f"{_subject(key, artifact, pathspec)} in {self.storage.describe()} is corrupt: its content no longer "
            f"matches its hash (the file was changed or truncated on disk after it was written). {aside} "
            f"{REWRITE_HINT}"), artifact, pathspec)

    def check(self, key: str) -> str:
        """What the stored blob is, without changing anything: "ok", "missing" or "corrupt"."""
        try:
            data = self.storage.get(key)
        except FileNotFoundError:
            return "missing"
        return "ok" if key_matches(data, key) else "corrupt"

    def quarantine(self, key: str) -> str | None:
        """Move a corrupt blob aside (so the next save of its content writes it again); where it went, or None."""
        return self.storage.quarantine(key, lambda found: not key_matches(found, key))


    def resave(self, value: Any, key: str) -> bool:
        """Write `value` again as blob `key` if its bytes are exactly that blob's (a recovered value); whether it was."""
        chunks = _chunks(serializer_for(value), value)
        if content_key(chunks) != key:
            return False
        self.put_bytes(chunks)
        return True


def _chunks(serializer: Any, value: Any) -> list:
    """The value serialized, as the list of chunks a blob is written from."""
    produced = serializer.dumps(value)
    return produced if isinstance(produced, list) else list(produced)


def _write_failure(what: str, size: int, where: str, exc: OSError) -> str:
    """The message of a failed blob write: a full disk (or quota) said plainly, with what to do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        cause = "the disk is full" if exc.errno == errno.ENOSPC else "the disk quota is exceeded"
        return (f"{what} ({size} bytes) could not be stored in the datastore at {where}: {cause} ({exc.strerror}). "
                f"Nothing half-written was kept. Free some space (or set ARTIFLOW_DATASTORE_ROOT to a disk "
                f"with room), then resume the run (python FLOW.py resume).")
    return (f"{what} ({size} bytes) could not be stored in the datastore at {where}: "
            f"{exc.strerror or exc} ({type(exc).__name__}, errno {exc.errno}). Nothing half-written was kept. "
            f"Check that the folder is writable, then resume the run (python FLOW.py resume).")


def open_store(datastore_root: str, config: Config | None = None) -> ContentStore:
    """The content store for a datastore root: a local folder, `s3://bucket/prefix`, or a plug-in's URL
    (`config` gives backends their settings, e.g. the S3 endpoint; default: this process's environment)."""
    return ContentStore(open_storage(datastore_root, config))
