"""The pickle serializer: protocol 5 with out-of-band buffers, framed so arrays are read back zero-copy.

Blob layout (all integers little-endian):

    header   magic b"AFPICKLE", u16 version (1), u16 flags (bit 0: stream is zlib-compressed),
             u32 buffer count N, u64 stored stream length, u64 raw (uncompressed) stream length
    table    N x (u64 offset from the blob start, u64 length), one per out-of-band buffer
    stream   the pickle stream (possibly compressed)
    buffers  each out-of-band buffer, zero-padded so it starts at a multiple of 64 bytes

A value with no large buffer and an incompressible (or small) stream is stored as a plain pickle, with
no header, so any tool can `pickle.load` it; blobs written before this format are plain pickles too.
The reader tells the two apart by the magic (a plain protocol-5 pickle starts with b"\\x80\\x05").
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
import zlib
from typing import Any

from .chunks import Chunks

MAGIC = b"AFPICKLE"
VERSION = 1
FLAG_ZLIB = 1
HEADER = struct.Struct("<8sHHIQQ")
ENTRY = struct.Struct("<QQ")
ALIGN = 64
OOB_MIN_BYTES = 1024  # smaller buffers stay in the stream: a table entry and padding would cost more
COMPRESS_MIN_BYTES = 1 << 20  # only streams this big are worth trying to compress
SAMPLE_BYTES = 64 << 10  # three samples of this size (start, middle, end) decide whether to compress
COMPRESS_RATIO = 0.7  # compress only if the samples shrink below this fraction
ZLIB_LEVEL = 1
_ZEROS = bytes(ALIGN)

Chunk = bytes | bytearray | memoryview


class PickleSerializer:
    """The default for any picklable value: pickle protocol 5, large buffers out-of-band."""

    name = "pickle"

    def can_serialize(self, value: Any) -> bool:
        """Pickle takes anything; failures surface in `dumps` with the artifact's name."""
        return True

    def dumps(self, value: Any) -> Chunks:
        """The blob as chunks: the header and stream, then views of the value's own buffers (no copies)."""
        buffers: list[memoryview] = []
        out = io.BytesIO()
        _Pickler(out, protocol=5, buffer_callback=_collector(buffers)).dump(value)
        stream = out.getvalue()
        stored, flags = maybe_compress(stream)
        if not buffers and not flags:
            return Chunks([stream])
        framed = frame(stored, len(stream), flags, buffers)
        return Chunks(framed, raw_size=len(stream) + sum(b.nbytes for b in buffers) if flags else None)

    def loads(self, data: memoryview) -> Any:
        """Read either format; out-of-band buffers are slices of `data` (a private map: no copy)."""
        if data[: len(MAGIC)] != MAGIC:
            return pickle.loads(data)
        stream, buffers = unframe(data)
        return pickle.loads(stream, buffers=buffers)


class _Pickler(pickle.Pickler):
    """A pickler that keeps numpy arrays exact where numpy's own pickling is not.

    numpy pickles a non-contiguous array in-band (a copy inside the stream) and brings a non-native
    byte order back as native (`>i4` as `int32`, `>M8` always). Such arrays are stored as their raw
    bytes (a uint8 array, out-of-band) plus dtype and shape, and viewed back without a copy.
    """

    def reducer_override(self, obj: Any) -> Any:
        """Reduce a non-contiguous or non-native-byte-order ndarray to `_view_as`; anything else as usual."""
        np = sys.modules.get("numpy")
        if np is None or type(obj) is not np.ndarray or obj.dtype.hasobject or not obj.dtype.itemsize:
            return NotImplemented
        contiguous = obj.flags.c_contiguous or obj.flags.f_contiguous
        if contiguous and obj.dtype.isnative:
            return NotImplemented
        fortran = obj.flags.f_contiguous and not obj.flags.c_contiguous
        raw = np.ascontiguousarray(obj) if not contiguous else obj
        flat = raw.reshape(-1, order="F" if fortran else "C").view(np.uint8)
        return _view_as, (flat, obj.dtype, obj.shape, fortran, obj.flags.writeable)


def _view_as(raw: Any, dtype: Any, shape: tuple, fortran: bool, writeable: bool) -> Any:
    """Rebuild an array pickled by `_Pickler` from its raw bytes: a view, not a copy.

    Stored blobs refer to this function by name: never rename or move it.
    """
    array = raw.view(dtype).reshape(shape, order="F" if fortran else "C")
    if not writeable:
        array.flags.writeable = False
    return array


def _collector(buffers: list[memoryview]):
    """A pickle buffer_callback: keep large contiguous buffers out-of-band, small ones in the stream."""

    def collect(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if raw.nbytes < OOB_MIN_BYTES:
            return True  # in-band
        buffers.append(raw)
        return False

    return collect


def maybe_compress(stream: bytes) -> tuple[bytes, int]:
    """Compress a large pickle stream with zlib level 1 when samples of it show it pays."""
    if len(stream) < COMPRESS_MIN_BYTES or not _sample_compresses(stream):
        return stream, 0
    packed = zlib.compress(stream, ZLIB_LEVEL)
    if len(packed) >= COMPRESS_RATIO * len(stream):
        return stream, 0
    return packed, FLAG_ZLIB


def _sample_compresses(stream: bytes) -> bool:
    """Whether three samples (start, middle, end) of the stream shrink below COMPRESS_RATIO."""
    view = memoryview(stream)
    mid = len(stream) // 2 - SAMPLE_BYTES // 2
    sample = b"".join((view[:SAMPLE_BYTES], view[mid : mid + SAMPLE_BYTES], view[-SAMPLE_BYTES:]))
    return len(zlib.compress(sample, ZLIB_LEVEL)) < COMPRESS_RATIO * len(sample)


def frame(stream: bytes, raw_len: int, flags: int, buffers: list[memoryview]) -> list[Chunk]:
    """Lay out header, table, stream and aligned buffers as a list of chunks (buffers not copied)."""
    offset = HEADER.size + ENTRY.size * len(buffers) + len(stream)
    entries, body = bytearray(), []
    for buf in buffers:
        pad = -offset % ALIGN
        if pad:
            body.append(_ZEROS[:pad])
        offset += pad
        entries += ENTRY.pack(offset, buf.nbytes)
        body.append(buf)
        offset += buf.nbytes
    header = HEADER.pack(MAGIC, VERSION, flags, len(buffers), len(stream), raw_len)
    return [header + entries + stream, *body] if len(stream) < (1 << 20) else [header + entries, stream, *body]


def unframe(data: memoryview) -> tuple[Chunk, list[memoryview]]:
    """Split a framed blob into its (decompressed) pickle stream and its buffer slices."""
    magic, version, flags, count, stored_len, raw_len = HEADER.unpack_from(data, 0)
    if version != VERSION:
        raise ValueError(f"pickle blob format version {version} is newer than this artiflow reads ({VERSION})")
    buffers = []
    for i in range(count):
        offset, length = ENTRY.unpack_from(data, HEADER.size + ENTRY.size * i)
        buffers.append(data[offset : offset + length])
    start = HEADER.size + ENTRY.size * count
    stream: Chunk = data[start : start + stored_len]
    if flags & FLAG_ZLIB:
        stream = zlib.decompress(stream, bufsize=raw_len)
    return stream, buffers
