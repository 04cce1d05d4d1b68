"""Content keys: the same bytes get the same key however they are chunked; large blobs hash in pieces."""

from __future__ import annotations

import numpy as np
import pytest

from artiflow.datastore import ArtifactRef, open_store
from artiflow.datastore.keys import PIECE_BYTES, TREE_MIN_BYTES, KeyCheck, content_key, flat_key, key_matches
from artiflow.exceptions import ArtifactError


@pytest.fixture(scope="module")
def blob() -> bytes:
    """Random bytes a little over 3 pieces, so the last piece is short."""
    return np.random.default_rng(11).integers(0, 256, 3 * PIECE_BYTES + 12345, dtype=np.uint8).tobytes()


@pytest.mark.parametrize("cuts", [
    [],
    [1],
    [PIECE_BYTES],
    [PIECE_BYTES - 1, PIECE_BYTES + 1],
    [5, 2 * PIECE_BYTES + 7, 3 * PIECE_BYTES + 12000],
])
def test_a_large_key_does_not_depend_on_how_the_bytes_are_chunked(blob, cuts):
    view = memoryview(blob)
    edges = [0, *cuts, len(blob)]
    chunks = [view[a:b] for a, b in zip(edges, edges[1:])]
    assert content_key(chunks) == content_key([blob])


def test_typed_buffers_hash_as_their_bytes():
    values = np.arange(TREE_MIN_BYTES // 8 + 3, dtype=np.float64)
    assert content_key([memoryview(values)]) == content_key([values.tobytes()])


def test_small_blobs_keep_the_flat_key_and_large_ones_use_pieces():
    small = b"x" * (TREE_MIN_BYTES - 1)
    large = b"x" * TREE_MIN_BYTES
    assert content_key([small]) == flat_key([small])
    assert content_key([large]) != flat_key([large])


def test_every_piece_counts(blob):
    reference = content_key([blob])
    for position in (0, PIECE_BYTES - 1, PIECE_BYTES, 2 * PIECE_BYTES + 5, len(blob) - 1):
        changed = bytearray(blob)
        changed[position] ^= 1
        assert content_key([changed]) != reference, position
    assert content_key([blob + b"\0"]) != reference  # the size is part of the key


def checked_in_pieces(data: bytes, step: int, key: str) -> bool:
    """Whether KeyCheck, fed `data` `step` bytes at a time, says it is what `key` names."""
    check = KeyCheck(len(data))
    for start in range(0, len(data), step):
        check.update(memoryview(data)[start:start + step])
    return check.matches(key)


@pytest.mark.parametrize("size", [0, 1, TREE_MIN_BYTES - 1, TREE_MIN_BYTES, 2 * PIECE_BYTES + 1, 3 * PIECE_BYTES])
@pytest.mark.parametrize("step", [1 << 20, PIECE_BYTES, 5 * (1 << 20) + 3])
def test_a_key_checked_as_the_bytes_stream_past_is_the_key_of_the_whole(blob, size, step):
    data = (blob * 2)[:size]
    assert checked_in_pieces(data, step, content_key([data]))
    if size:
        changed = bytearray(data)
        changed[size // 2] ^= 1
        assert not checked_in_pieces(bytes(changed), step, content_key([data]))
        assert not checked_in_pieces(data[:-1], step, content_key([data]))   # one byte short


def test_a_streamed_check_accepts_the_flat_key_of_an_earlier_version_s_large_blob(blob):
    assert checked_in_pieces(blob, 7 << 20, flat_key([blob]))
    assert not checked_in_pieces(blob, 7 << 20, flat_key([blob[:-1]]))


def test_large_blobs_keyed_flat_by_earlier_versions_still_verify(tmp_path, blob):
    store = open_store(str(tmp_path / "data"))
    legacy = flat_key([blob])
    store.storage.put(legacy, [blob])
    assert key_matches(blob, legacy)
    assert bytes(store.get_bytes(legacy)) == blob


def test_a_corrupted_large_blob_is_caught_on_read(tmp_path):
    store = open_store(str(tmp_path / "data"))
    ref = store.save("big", np.ones(TREE_MIN_BYTES // 8 * 2))
    path = store.storage.path(ref.key)
    with open(path, "r+b") as f:
        f.seek(TREE_MIN_BYTES + 3)
        f.write(b"\x07")
    with pytest.raises(ArtifactError, match=f"Blob {ref.key} .* is corrupt"):
        store.load(ArtifactRef(ref.key, ref.serializer, ref.type, ref.size))
