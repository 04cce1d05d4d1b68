"""Serializers: every built-in one round-trips exactly (values and types), plugins work, bad blobs fail clearly."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from artiflow.datastore import ArtifactRef, open_store, register_serializer, unregister_serializer
from artiflow.datastore import pickling
from artiflow.datastore.jsonser import JsonSerializer, is_json_native
from artiflow.datastore.pickling import PickleSerializer
from artiflow.datastore.serializers import serializer_for
from artiflow.exceptions import ArtifactError, SerializationError

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # big ints have long reprs


# ---- exact equality: same value AND same type, all the way down ------------------------------------

def same(a, b) -> bool:
    """Exact equality: types identical, floats bit-for-bit (NaN == NaN, -0.0 != 0.0), containers in order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(same(ka, kb) and same(va, vb)
                                        for (ka, va), (kb, vb) in zip(a.items(), b.items()))
    return a == b


def roundtrip(serializer, value):
    """dumps, join the chunks into a writable buffer (as storage returns), loads."""
    blob = bytearray(b"".join(bytes(memoryview(c)) for c in serializer.dumps(value)))
    return serializer.loads(memoryview(blob))


@pytest.fixture
def store(tmp_path):
    return open_store(str(tmp_path / "data"))


# ---- strategies -------------------------------------------------------------------------------------

texts = st.text(st.characters(categories=["Cs"]) | st.characters(), max_size=20)  # incl. lone surrogates
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan])
big_ints = st.integers() | st.integers(min_value=-(2 ** 3000), max_value=2 ** 3000)
json_leaves = st.none() | st.booleans() | big_ints | floats | texts
json_values = st.recursive(json_leaves, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(texts, kids, max_size=5),
                           max_leaves=30)
hashables = st.recursive(st.none() | st.booleans() | big_ints | texts | st.binary(max_size=20),
                         lambda kids: st.tuples(kids, kids) | st.frozensets(kids, max_size=4), max_leaves=10)
any_values = st.recursive(
    json_leaves | st.binary(max_size=50) | st.complex_numbers(allow_nan=False),
    lambda kids: (st.lists(kids, max_size=5) | st.tuples(kids, kids) | st.dictionaries(hashables, kids, max_size=5)
                  | st.sets(hashables, max_size=5) | st.frozensets(hashables, max_size=5)
                  | st.dictionaries(texts, kids, max_size=5)),
    max_leaves=30)


# ---- JSON -------------------------------------------------------------------------------------------

@SETTINGS
@given(json_values)
def test_json_round_trips_what_it_accepts_and_writes_strict_json(value):
    serializer = JsonSerializer()
    if not serializer.can_serialize(value):
        return
    blob = b"".join(serializer.dumps(value))
    json.loads(blob, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    blob.decode("ascii")
    assert same(roundtrip(serializer, value), value)


@pytest.mark.parametrize("value", [
    1.5, -0.0, 0, True, False, None, "", "é\ud800x", 2 ** 2000, -(2 ** 2000), [1, [2, {"a": None}]], {"k": [True, 1, 1.0]},
])
def test_json_takes_json_native_values(value, store):
    ref = store.save("v", value)
    assert ref.serializer == "json"
    assert same(store.load(ref), value)


@pytest.mark.parametrize("value", [
    (1, 2), {1: "a"}, {"a": (1,)}, math.nan, [math.inf], -math.inf, 2 ** 3000, b"x", [1] * 1001, [0.5] * 101,
    "x" * 1_000_001, {"a": {1, 2}},
])
def test_json_declines_what_it_cannot_round_trip_and_pickle_takes_it(value, store):
    assert not is_json_native(value)
    ref = store.save("v", value)
    assert ref.serializer == "pickle"
    assert same(store.load(ref), value)


def test_json_declines_subclasses_shared_and_cyclic_containers(store):
    class MyStr(str):
        pass

    shared = [1]
    cyclic: list = []
    cyclic.append(cyclic)
    for value in (MyStr("a"), {"a": MyStr("b")}, [shared, shared], cyclic):
        assert not is_json_native(value)
    loaded = store.load(store.save("v", [shared, shared]))
    assert loaded[0] is loaded[1]
    again = store.load(store.save("c", cyclic))
    assert again[0] is again


# ---- pickle -----------------------------------------------------------------------------------------

@SETTINGS
@given(any_values)
def test_pickle_round_trips_builtin_types(value):
    assert same(roundtrip(PickleSerializer(), value), value)


@SETTINGS
@given(any_values)
def test_store_round_trips_builtin_types_through_whichever_serializer(tmp_path, value):
    store = open_store(str(tmp_path / "hyp"))
    assert same(store.load(store.save("v", value)), value)


def test_sets_bytes_and_nested_tuples_round_trip(store):
    value = {"s": {1, "a", (2, b"x")}, "f": frozenset({-0.0}), "b": bytearray(b"\x00\xff"), "t": ((1,), [()])}
    loaded = store.load(store.save("v", value))
    assert same(loaded, value)


NUMPY_DTYPES = ["float64", "float32", "float16", "int8", "int64", "uint64", ">i4", "complex128", "bool",
                "datetime64[ns]", "timedelta64[s]", "<U5", "S3", [("x", "<f8"), ("n", "<i2")]]


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (7,), (40, 30), (3, 4, 50)], ids=str)
def test_numpy_arrays_round_trip(store, dtype, shape):
    raw = np.random.default_rng(1).integers(0, 255, size=int(np.prod(shape)) * np.dtype(dtype).itemsize, dtype=np.uint8)
    array = raw.view(dtype).reshape(shape) if raw.size else np.zeros(shape, dtype)
    for variant in (array, np.asfortranarray(array), array[::2] if array.ndim else array, array.T):
        loaded = store.load(store.save("a", variant))
        assert_same_array(loaded, variant)


def assert_same_array(loaded: np.ndarray, original: np.ndarray) -> None:
    assert type(loaded) is type(original) and loaded.dtype == original.dtype and loaded.shape == original.shape
    assert loaded.tobytes() == original.tobytes()  # bit-exact, NaN payloads included
    assert loaded.flags.writeable
    if original.flags.f_contiguous and not original.flags.c_contiguous:
        assert loaded.flags.f_contiguous


@SETTINGS
@given(hnp.arrays(dtype=hnp.scalar_dtypes(), shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=40)))
def test_numpy_arrays_round_trip_property(array):
    assert_same_array(roundtrip(PickleSerializer(), array), array)


def test_numpy_object_dtype_and_readonly_arrays(store):
    objects = np.array([1, "a", None, (2, 3), [4.5]] * 300, dtype=object)
    loaded = store.load(store.save("o", objects))
    assert loaded.dtype == object and all(same(x, y) for x, y in zip(loaded, objects))
    frozen = np.arange(10_000.0)
    frozen.flags.writeable = False
    back = store.load(store.save("r", frozen))
    assert np.array_equal(back, frozen) and not back.flags.writeable


def test_large_buffers_go_out_of_band_aligned_and_small_ones_stay_in_band():
    value = {"big": np.arange(100_000, dtype=np.int32), "f": np.ones((300, 200), order="F"), "tiny": np.arange(3)}
    chunks = PickleSerializer().dumps(value)
    blob = memoryview(bytearray(b"".join(bytes(memoryview(c)) for c in chunks)))
    assert bytes(blob[:8]) == pickling.MAGIC
    _, _, flags, count, _, _ = pickling.HEADER.unpack_from(blob)
    assert count == 2 and flags == 0
    for i in range(count):
        offset, length = pickling.ENTRY.unpack_from(blob, pickling.HEADER.size + i * pickling.ENTRY.size)
        assert offset % pickling.ALIGN == 0 and length in (400_000, 480_000)
    loaded = PickleSerializer().loads(blob)
    assert all(np.array_equal(loaded[k], value[k]) for k in value)


def test_small_values_are_plain_pickles_readable_by_any_tool():
    chunks = PickleSerializer().dumps((1, "a"))
    assert pickle.loads(b"".join(chunks)) == (1, "a")


def test_large_compressible_stream_is_compressed_and_reported_at_full_size(store):
    value = [f"row-{i % 100}" for i in range(300_000)]
    ref = store.save("rows", value)
    blob_size = os.path.getsize(store.storage.path(ref.key))
    assert blob_size < ref.size / 3 and ref.size == len(pickle.dumps(value, protocol=5))
    assert same(store.load(ref), value)


def test_incompressible_data_and_out_of_band_buffers_are_not_compressed(store):
    noise = os.urandom(3 << 20)
    ref = store.save("noise", noise)
    assert os.path.getsize(store.storage.path(ref.key)) >= len(noise)
    assert store.load(ref) == noise
    zeros = {"z": np.zeros(1 << 20), "names": [f"name-{i % 10}" for i in range(200_000)]}
    ref = store.save("zeros", zeros)
    blob = store.get_bytes(ref.key)
    _, _, flags, count, _, _ = pickling.HEADER.unpack_from(blob)
    assert flags == pickling.FLAG_ZLIB and count == 1
    assert os.path.getsize(store.storage.path(ref.key)) > zeros["z"].nbytes  # the buffer is stored as is
    loaded = store.load(ref)
    assert np.array_equal(loaded["z"], zeros["z"]) and loaded["names"] == zeros["names"]


# ---- pandas -----------------------------------------------------------------------------------------

def test_pandas_frames_round_trip_exactly(store):
    n = 2_000
    frame = pd.DataFrame({
        "x": np.arange(n, dtype=np.float64),
        "cat": pd.Categorical(["a", "b", "c", "a"] * (n // 4)),
        "when": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris"),
        "s": [f"s{i}" for i in range(n)],
        "maybe": pd.array([1, None] * (n // 2), dtype="Int64"),
    }, index=pd.Index(np.arange(n) * 3, name="id"))
    ref = store.save("df", frame)
    assert ref.serializer == "pickle"
    loaded = store.load(ref)
    assert type(loaded) is pd.DataFrame
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True)
    series = frame["when"]
    pd.testing.assert_series_equal(store.load(store.save("s", series)), series, check_exact=True)


# ---- arrow ------------------------------------------------------------------------------------------

def arrow_table(pa, rows: int, chunks: int = 1):
    batch = pa.record_batch({
        "i": pa.array(range(rows), pa.int64()),
        "f": pa.array([None if i % 7 == 0 else i / 3 for i in range(rows)]),
        "s": pa.array([f"v{i}" for i in range(rows)]),
        "d": pa.array([f"k{i % 3}" for i in range(rows)]).dictionary_encode(),
        "b": pa.array([i % 2 == 0 for i in range(rows)]),
    }).replace_schema_metadata({"origin": "test"})
    return pa.Table.from_batches([batch] * chunks)


def test_arrow_tables_and_batches_round_trip_as_ipc_streams(store):
    pa = pytest.importorskip("pyarrow")
    for table in (arrow_table(pa, 0), arrow_table(pa, 10), arrow_table(pa, 5_000, chunks=3)):
        ref = store.save("t", table)
        assert ref.serializer == "arrow"
        loaded = store.load(ref)
        assert type(loaded) is pa.Table and loaded.equals(table, check_metadata=True)
        with pa.ipc.open_stream(str(store.storage.path(ref.key))) as reader:  # any Arrow tool reads the blob
            assert reader.read_all().equals(table)
    batch = arrow_table(pa, 100).to_batches()[0]
    ref = store.save("b", batch)
    assert ref.serializer == "arrow_batch"
    loaded = store.load(ref)
    assert type(loaded) is pa.RecordBatch and loaded.equals(batch, check_metadata=True)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.none() | st.integers(-(2 ** 63), 2 ** 63 - 1), st.none() | floats,
                          st.none() | st.text(max_size=20)),  # Arrow strings are UTF-8: no lone surrogates
                max_size=30))
def test_arrow_round_trip_property(tmp_path, rows):
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"i": pa.array([r[0] for r in rows], pa.int64()), "f": pa.array([r[1] for r in rows], pa.float64()),
                      "s": pa.array([r[2] for r in rows], pa.string())})
    store = open_store(str(tmp_path / "arrow"))
    loaded = store.load(store.save("t", table))
    assert loaded.schema == table.schema and same(loaded.to_pylist(), table.to_pylist())


def test_large_arrow_table_is_read_without_copying(store):
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"x": np.arange(4 << 20, dtype=np.float64)})  # 32 MB: memory-mapped on read
    ref = store.save("t", table)
    before = pa.total_allocated_bytes()
    loaded = store.load(ref)
    assert pa.total_allocated_bytes() - before < 1 << 20
    assert loaded.equals(table)


# ---- plugins ----------------------------------------------------------------------------------------

class Point:
    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y


class PointSerializer:
    name = "test-point"

    def can_serialize(self, value):
        return type(value) is Point

    def dumps(self, value):
        return [f"{value.x!r},{value.y!r}".encode()]

    def loads(self, data):
        x, y = bytes(data).decode().split(",")
        return Point(float(x), float(y))


def test_a_registered_serializer_is_chosen_recorded_and_needed_to_read(store):
    register_serializer(PointSerializer(), priority=10)
    try:
        ref = store.save("p", Point(1.5, -2.0))
        assert ref.serializer == "test-point" and ref.type.endswith("Point")
        loaded = store.load(ref)
        assert type(loaded) is Point and (loaded.x, loaded.y) == (1.5, -2.0)
        assert serializer_for(1).name == "json"
    finally:
        unregister_serializer("test-point")
    with pytest.raises(ArtifactError, match=r"test-point.*registered"):
        store.load(ref)
    assert serializer_for(Point(0, 0)).name == "pickle"


def test_legacy_plain_pickle_blobs_still_load(store):
    value = {"a": np.arange(5000), "b": (1, "x")}
    for protocol in (4, 5):
        key = store.put_bytes([pickle.dumps(value, protocol=protocol)])
        loaded = store.load(ArtifactRef(key, "pickle", "dict", 0))
        assert np.array_equal(loaded["a"], value["a"]) and loaded["b"] == value["b"]


@pytest.mark.parametrize("value", [np.arange(10), np.arange(1 << 19, dtype=np.float64), "text"], ids=["small", "mmap", "json"])
def test_a_corrupted_blob_raises_an_artifact_error_naming_its_key(store, value):
    ref = store.save("v", value)
    path = store.storage.path(ref.key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=ref.key):
        store.load(ref)


def test_an_unpicklable_value_raises_a_serialization_error_naming_artifact_and_type(store):
    with pytest.raises(SerializationError, match=r"Artifact 'gen'.*generator"):
        store.save("gen", (i for i in range(3)))
    with pytest.raises(SerializationError, match=r"Artifact 'fn'.*function"):
        store.save("fn", lambda: 1)


def test_the_plugin_example_in_the_docs_runs(tmp_path):
    doc = (Path(__file__).parent.parent / "docs" / "serializers.md").read_text()
    example = doc.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(example)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "src")}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "serializer='signal-v1'" in result.stdout
