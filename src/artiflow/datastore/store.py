"""The content-addressed artifact store: values in, refs out; refs in, values out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..exceptions import ArtifactError, SerializationError
from .chunks import reported_size
from .keys import content_key, key_matches
from .serializers import serializer_for, serializer_named
from .storage import Storage, open_storage


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


class ContentStore:
    """Artifacts stored once per content, on any `Storage` backend."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def save(self, name: str, value: Any) -> ArtifactRef:
        """Serialize and store a value; the same bytes stored twice share one blob."""
        serializer = serializer_for(value)
        try:
            produced = serializer.dumps(value)
            chunks = produced if isinstance(produced, list) else list(produced)
        except Exception as exc:
            raise SerializationError(
                f"Artifact '{name}' cannot be stored: its value has type {type_name(value)}, which "
                f"{serializer.name} cannot serialize ({type(exc).__name__}: {exc}). Store a plain value "
                f"instead (e.g. list(...) of a generator), or keep it out of self by using a local variable."
            ) from exc
        key = self.put_bytes(chunks)
        return ArtifactRef(key, serializer.name, type_name(value), reported_size(chunks))

    def load(self, ref: ArtifactRef) -> Any:
        """Read an artifact back with the serializer that wrote it (large local blobs: memory-mapped)."""
        try:
            serializer = serializer_named(ref.serializer)
        except KeyError as exc:
            raise ArtifactError(f"Blob {ref.key} ({ref.type}): {exc.args[0]}") from None
        return serializer.loads(self.get_bytes(ref.key))

    def put_bytes(self, chunks: list[bytes | memoryview]) -> str:
        """Store bytes given as chunks; hashed first, so a blob that exists is not written again."""
        key = content_key(chunks)
        if not self.storage.exists(key):
            self.storage.put(key, chunks)
        return key

    def get_bytes(self, key: str) -> memoryview:
        """A blob's bytes, verified against its key (one xxh3 pass over the memory map)."""
        data = self.storage.get(key)
        if not key_matches(data, key):
            raise ArtifactError(
                f"Blob {key} in {self.storage.describe()} is corrupt: its content no longer matches its "
                f"hash. It was changed on disk after it was written."
            )
        return data


def open_store(datastore_root: str) -> ContentStore:
    """The content store for a datastore root (a local folder)."""
    return ContentStore(open_storage(datastore_root))
