"""The Arrow serializers: pyarrow Tables and RecordBatches as Arrow IPC streams (any Arrow tool reads them).

pyarrow is never imported by artiflow to decide: a value can only be a pyarrow object if the user's
code already imported pyarrow, so `can_serialize` looks in `sys.modules`. Reading imports it lazily.
"""

from __future__ import annotations

import sys
from typing import Any

from ..exceptions import ArtifactError

SMALL_WRITE_BYTES = 4096  # the IPC writer's small metadata writes are coalesced into one chunk


class ArrowSerializer:
    """An Arrow IPC stream of a Table ("arrow") or of one RecordBatch ("arrow_batch").

    Writing keeps the table's own buffers as chunks (no copy); reading wraps the blob's bytes (a
    memory map for large local blobs), so columns are read zero-copy.
    """

    def __init__(self, name: str, class_name: str) -> None:
        """`class_name` is the pyarrow class this instance takes: "Table" or "RecordBatch"."""
        self.name = name
        self.class_name = class_name

    def can_serialize(self, value: Any) -> bool:
        """Whether the value is exactly a pyarrow Table (or RecordBatch); never imports pyarrow."""
        pa = sys.modules.get("pyarrow")
        return pa is not None and type(value) is getattr(pa, self.class_name, None)

    def dumps(self, value: Any) -> list[bytes | memoryview]:
        """The IPC stream as chunks: coalesced metadata bytes and views of the value's buffers."""
        pa = _pyarrow()
        sink = _ChunkSink()
        with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), value.schema) as writer:
            writer.write(value)
        return sink.finish()

    def loads(self, data: memoryview) -> Any:
        """Open the IPC stream over the blob's bytes without copying them."""
        pa = _pyarrow()
        reader = pa.ipc.open_stream(pa.py_buffer(data))
        if self.class_name == "Table":
            return reader.read_all()
        return reader.read_next_batch()


class _ChunkSink:
    """A write-only file for pyarrow that keeps what it is given instead of copying it."""

    def __init__(self) -> None:
        self.chunks: list[bytes | memoryview] = []
        self.pending = bytearray()
        self.closed = False

    def write(self, data: Any) -> int:
        """Keep a view of large writes (pyarrow's own buffers); gather small ones."""
        view = memoryview(data)
        if view.nbytes < SMALL_WRITE_BYTES:
            self.pending += view
        else:
            self._flush_pending()
            self.chunks.append(view)  # a view of pyarrow's buffer: keeps it alive, copies nothing
        return view.nbytes

    def _flush_pending(self) -> None:
        """Turn the gathered small writes into one chunk."""
        if self.pending:
            self.chunks.append(bytes(self.pending))
            self.pending = bytearray()

    def flush(self) -> None:
        """Nothing to flush: chunks are kept, not written."""

    def close(self) -> None:
        """Mark closed, as pyarrow expects of a file."""
        self.closed = True

    def finish(self) -> list[bytes | memoryview]:
        """All chunks written, in order."""
        self._flush_pending()
        return self.chunks


def _pyarrow() -> Any:
    """Import pyarrow on first use, with a clear error when it is missing."""
    try:
        import pyarrow
        import pyarrow.ipc  # noqa: F401
    except ImportError:
        raise ArtifactError(
            "This artifact is an Arrow table and reading it needs pyarrow, which is not installed. "
            "Install it (pip install 'artiflow[data]' or pip install pyarrow)."
        ) from None
    return pyarrow
