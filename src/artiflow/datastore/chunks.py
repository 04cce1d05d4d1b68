"""Blob chunks: the list a serializer returns (with its size before compression), and views over them."""

from __future__ import annotations

from typing import Iterable, Iterator

Chunk = bytes | bytearray | memoryview


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


def byte_view(chunk: Chunk) -> memoryview:
    """A flat view of the chunk's bytes whatever its item format (a float64 array's buffer, say)."""
    view = memoryview(chunk)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def fixed_pieces(views: list[memoryview], size: int) -> Iterator[list[memoryview]]:
    """Cut the concatenated views into pieces of `size` bytes (the last may be shorter), without copying."""
    piece: list[memoryview] = []
    room = size
    for view in views:
        offset = 0
        while offset < view.nbytes:
            n = min(room, view.nbytes - offset)
            piece.append(view[offset : offset + n])
            offset += n
            room -= n
            if room == 0:
                yield piece
                piece, room = [], size
    if piece:
        yield piece
