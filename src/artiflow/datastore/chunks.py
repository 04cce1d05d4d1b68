"""The chunk list a serializer returns, optionally saying how big the value is before compression."""

from __future__ import annotations

from typing import Iterable


class Chunks(list):
    """Blob chunks plus `raw_size`: the serialized size before compression (what `ArtifactRef.size` reports)."""

    def __init__(self, chunks: Iterable[bytes | bytearray | memoryview], raw_size: int | None = None) -> None:
        super().__init__(chunks)
        self.raw_size = raw_size


def stored_size(chunks: Iterable[bytes | bytearray | memoryview]) -> int:
    """Total bytes of the chunks, whatever their item format."""
    return sum(memoryview(chunk).nbytes for chunk in chunks)


def reported_size(chunks: list) -> int:
    """The size recorded on the artifact: the uncompressed size when the serializer says it, else the stored size."""
    raw = getattr(chunks, "raw_size", None)
    return raw if raw is not None else stored_size(chunks)
