"""The content store on local disk: large arrays go to disk without copies and come back memory-mapped."""

from __future__ import annotations

import ctypes
import gc
import json
import mmap
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

from artiflow.datastore import open_store, register_serializer, unregister_serializer
from artiflow.datastore.storage import MMAP_MIN_BYTES
from artiflow.exceptions import SerializationError

MB = 1 << 20
SRC = Path(__file__).parent.parent / "src"


@pytest.fixture
def store(tmp_path):
    return open_store(str(tmp_path / "data"))


def blob_files(store) -> list[Path]:
    """Every file under the datastore root (blobs, and temp files in tmp/ if any are left)."""
    return [p for p in store.storage.root.rglob("*") if p.is_file()] if store.storage.root.exists() else []


def backing_mmap(array: np.ndarray) -> mmap.mmap | ctypes.Array | None:
    """The memory map an array's memory belongs to, following `.base` and memoryview `.obj` links.

    That is an mmap.mmap, or the ctypes region over a map made without keeping a descriptor open.
    """
    obj = array
    while obj is not None:
        if isinstance(obj, (mmap.mmap, ctypes.Array)):
            return obj
        obj = obj.obj if isinstance(obj, memoryview) else getattr(obj, "base", None)
    return None


@pytest.fixture(scope="module")
def big() -> np.ndarray:
    return np.random.default_rng(7).random(8 * MB).reshape(-1, 1024)  # 8 Mi float64: 64 MB


def test_a_64mb_array_round_trips_writeable_and_memory_mapped(store, big):
    ref = store.save("big", big)
    assert ref.serializer == "pickle" and ref.type == "numpy.ndarray" and ref.size >= big.nbytes
    loaded = store.load(ref)
    assert loaded.dtype == big.dtype and loaded.shape == big.shape and np.array_equal(loaded, big)
    assert loaded.flags.writeable and loaded.flags.c_contiguous
    mapped = backing_mmap(loaded)
    assert mapped is not None and len(mapped) == ref.size  # the array's memory is the blob's map, not a copy


def test_writing_to_a_loaded_array_never_changes_the_blob(store, big):
    ref = store.save("big", big)
    loaded = store.load(ref)
    loaded[:] = 0.0  # copy-on-write: private pages
    again = store.load(ref)  # verified against its hash on the way
    assert np.array_equal(again, big)


def test_the_map_lives_as_long_as_the_array_and_no_longer(store, big):
    ref = store.save("big", big)
    loaded = store.load(ref)
    gone = weakref.ref(backing_mmap(loaded))
    view = loaded[10:20]
    del loaded
    gc.collect()
    assert gone() is not None and np.array_equal(view, big[10:20])  # a slice still holds the map
    del view
    gc.collect()
    assert gone() is None  # unmapped once nothing uses it: no explicit close needed


def test_small_blobs_are_read_not_mapped_and_still_writeable(store):
    small = np.arange(1000, dtype=np.float64)
    ref = store.save("small", small)
    assert ref.size < MMAP_MIN_BYTES
    loaded = store.load(ref)
    assert backing_mmap(loaded) is None and loaded.flags.writeable and np.array_equal(loaded, small)


def test_identical_values_share_one_blob(store, big):
    first = store.save("a", big)
    second = store.save("b", big.copy())
    assert first.key == second.key
    assert len(blob_files(store)) == 1
    assert store.save("c", [1, 2]).key == store.save("d", [1, 2]).key


def test_writes_leave_no_temp_files(store, big):
    store.save("big", big)
    store.save("text", "hello")
    assert not [p for p in blob_files(store) if p.name.startswith(".tmp-")]


class Exploding:
    """A value only the failing test serializers accept."""


class FailsAtOnce:
    name = "test-fails-at-once"

    def can_serialize(self, value):
        return type(value) is Exploding

    def dumps(self, value):
        raise ValueError("cannot encode this")

    def loads(self, data):
        raise AssertionError("never written")


class FailsMidStream(FailsAtOnce):
    name = "test-fails-mid-stream"

    def dumps(self, value):
        yield b"x" * MB
        raise ValueError("broke after the first chunk")


@pytest.mark.parametrize("serializer", [FailsAtOnce(), FailsMidStream()], ids=["at-once", "mid-stream"])
def test_a_failing_serializer_leaves_nothing_behind(store, serializer):
    register_serializer(serializer, priority=1)
    try:
        with pytest.raises(SerializationError, match=r"Artifact 'boom'.*Exploding"):
            store.save("boom", Exploding())
    finally:
        unregister_serializer(serializer.name)
    assert blob_files(store) == []


def test_a_failing_write_removes_its_temp_file(store):
    def chunks():
        yield b"partial"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.storage.put("ab" + "0" * 30, chunks())
    assert blob_files(store) == []


SAVE_SCRIPT = """
import json, resource, sys
import numpy as np
from artiflow.datastore import open_store
store = open_store(sys.argv[1])
array = np.ones(64 << 17)  # 64 MB, touched
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ref = store.save("big", array)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
loaded = store.load(ref)
float(loaded.sum())
print(json.dumps({"grew_kb": after - before, "array_kb": array.nbytes // 1024}))
"""


def test_saving_a_large_array_does_not_copy_it_in_memory(tmp_path):
    env = {"PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", SAVE_SCRIPT, str(tmp_path / "data")], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout
    figures = json.loads(out)
    assert figures["grew_kb"] < figures["array_kb"] * 0.1, figures  # peak RSS while saving: the array, not a copy
