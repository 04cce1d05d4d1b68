"""Artifact previews: made when a task saves a value, bounded in size and time, stored with the metadata.

Unit tests of each kind on real pandas, numpy, pyarrow and PIL values and of the bounds (a huge, slow or
broken __repr__, a huge frame, a 3-D array, nan/inf, unicode, `<script>` kept as plain text); then a flow run
through the real CLI, its previews read back through the client and `MetadataStore.previews`, on SQLite and
PostgreSQL; gc deleting the previews no kept run uses; the migration of a version-4 database.
"""

from __future__ import annotations

import base64
import collections
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from conftest import REPO, ok, run_flow
from old_schema import database_at

from artiflow import Flow
from artiflow.datastore import preview_guard
from artiflow.datastore.preview import MAX_BYTES, PreviewCollector, encode, make_preview
from artiflow.datastore.preview_libs import STATS_EXACT

pytestmark = pytest.mark.both_backends

FLOW = "previews_flow.py"


def made(value, limit: float = 0.05) -> dict:
    """The preview of `value` as it is stored and read back (JSON text, decoded)."""
    text = encode(make_preview(value, limit))
    assert len(text.encode("utf-8")) <= MAX_BYTES
    found = json.loads(text)
    assert found["v"] == 1 and "\n" not in found["summary"] and len(found["summary"]) <= 120
    return found


class Slow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        time.sleep(self.seconds)
        return "Slow()"


class Spinning:
    def __repr__(self) -> str:
        while True:
            pass


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class Huge:
    def __repr__(self) -> str:
        return "z" * 50_000_000


def best_time(action, times: int = 3) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def wait_for_no_stuck_helpers(seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while preview_guard.stuck_helpers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert preview_guard.stuck_helpers() == 0


# -- builtin kinds ----------------------------------------------------------------------------------------------
def test_none_bools_and_numbers_keep_their_repr_nan_and_inf_included():
    assert made(None) == {"v": 1, "kind": "none", "summary": "None"}
    assert made(True) == {"v": 1, "kind": "bool", "summary": "True", "text": "True"}
    assert made(42) == {"v": 1, "kind": "number", "summary": "int: 42", "text": "42"}
    assert made(float("nan"))["text"] == "nan" and made(float("-inf"))["text"] == "-inf"
    assert made(1 + 2j)["text"] == "(1+2j)"
    assert made(np.float64(1.5)) == {"v": 1, "kind": "number", "summary": "numpy.float64: np.float64(1.5)",
                                     "text": "np.float64(1.5)"}
    assert made(np.bool_(False))["kind"] == "bool" and made(np.int32(7))["text"] == "np.int32(7)"
    huge = made(10 ** 5000)  # past Python's own limit on int -> str: its size instead of its digits
    assert huge["kind"] == "number" and huge["text"] == "<an int of 16,610 bits>"
    assert made(10 ** 3000)["text"] == ("1" + "0" * 1998)[:1999] + "…"


def test_text_keeps_its_first_2000_chars_as_plain_text_with_its_length():
    script = "<script>alert('x')</script> & <b>"
    assert made(script) == {"v": 1, "kind": "text", "summary": f"str, 33 chars: {script}", "text": script,
                            "length": 33}
    long = "é✓" * 5000
    found = made(long)
    assert found["text"] == long[:2000] and found["length"] == 10_000
    assert made("a\ud800b")["text"] == "a?b"  # a lone surrogate cannot be stored as UTF-8: replaced
    lines = made("first line\nsecond\tline")
    assert lines["text"] == "first line\nsecond\tline" and lines["summary"] == "str, 22 chars: first line second line"


def test_bytes_that_are_not_an_image_show_as_text_or_a_hex_dump():
    assert made(b"hello bytes") == {"v": 1, "kind": "text", "summary": "bytes, 11 bytes: hello bytes",
                                    "text": "hello bytes", "length": 11}
    dumped = made(bytes(range(256)) * 100)
    assert dumped["kind"] == "text" and dumped["length"] == 25_600
    assert dumped["text"].splitlines()[0] == ("000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  "
                                              "................")
    assert len(dumped["text"].splitlines()) == 24  # the first 384 bytes


def test_sequences_and_mappings_show_their_first_20_items_bounded():
    found = made(list(range(1000)))
    assert found["kind"] == "sequence" and found["type"] == "list" and found["length"] == 1000
    assert found["items"] == [str(i) for i in range(20)]
    assert found["summary"] == "list of 1,000 items: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, …"
    for value, name in ((("a", 1), "tuple"), ({3}, "set"), (frozenset({1}), "frozenset"),
                        (collections.deque([1, 2]), "deque")):
        assert made(value)["type"] == name
    nested = made([[list(range(100))] * 3, "x" * 1000])
    assert nested["items"][0] == "[[0, 1, 2, 3, 4, 5, 6, 7, ...], [0, 1, 2, 3, 4, 5, 6, 7, ...], [0, 1, 2, 3, 4, 5, 6, 7, ...]]"
    assert len(nested["items"][1]) <= 200
    mapping = made({"a": 1, "b": [1, 2], "<k>": "<v>"})
    assert mapping == {"v": 1, "kind": "mapping", "summary": "dict of 3 keys: 'a': 1, 'b': [1, 2], '<k>': '<v>'",
                       "type": "dict", "length": 3, "items": [["'a'", "1"], ["'b'", "[1, 2]"], ["'<k>'", "'<v>'"]]}
    assert made(collections.OrderedDict(x=1))["type"] == "collections.OrderedDict"


def test_a_huge_set_or_dict_is_not_sorted_to_be_shown():
    value = {"big": set(range(3_000_000)), 1: dict.fromkeys(range(1_000_000))}
    start = time.perf_counter()
    found = made(value)
    assert time.perf_counter() - start < 0.05
    assert found["items"][0][1].startswith("{0, 1, 2") and found["items"][0][1].endswith(", ...}")


def test_items_with_custom_reprs_are_shown_and_a_broken_one_is_named():
    found = made([Model(3), Broken(), 1])
    assert found["items"][0] == "Model(depth=3)" and found["items"][2] == "1"
    assert found["items"][1].endswith("test_previews.Broken: repr raised RuntimeError>")


class Model:
    def __init__(self, depth: int) -> None:
        self.depth = depth

    def __repr__(self) -> str:
        return f"Model(depth={self.depth})"


def test_an_object_shows_its_type_and_bounded_repr():
    found = made(Model(2))
    assert found["kind"] == "object" and found["text"] == "Model(depth=2)"
    assert found["type"].endswith("test_previews.Model") and found["summary"].endswith("Model: Model(depth=2)")
    Point = collections.namedtuple("Point", "x y")
    assert made(Point(1, 2))["text"] == "Point(x=1, y=2)"
    huge = made(Huge(), limit=5.0)  # a 50 MB repr: cut, never stored whole
    assert huge["kind"] == "object" and len(huge["text"]) == 2000


# -- the bounds: time, errors, size -------------------------------------------------------------------------------
def test_a_repr_that_raises_makes_an_unavailable_preview_saying_so():
    assert made(Broken()) == {"v": 1, "kind": "unavailable",
                              "summary": "no preview: repr raised RuntimeError: no repr for you",
                              "reason": "repr raised RuntimeError: no repr for you"}


class Exiting:
    def __repr__(self) -> str:
        raise SystemExit(3)


def test_a_repr_that_exits_is_an_error_like_any_other():
    assert made(Exiting())["reason"] == "making it raised RuntimeError: SystemExit was raised"


def test_a_slow_repr_is_cut_off_at_the_limit_and_its_helper_thread_is_let_go():
    start = time.perf_counter()
    found = made(Slow(1.0))
    took = time.perf_counter() - start
    assert found["kind"] == "unavailable" and found["reason"] == "making it took longer than 50 ms (a slow __repr__?)"
    assert took < 0.5
    assert made(Model(1))["text"] == "Model(depth=1)"  # the next preview gets a fresh helper at once
    wait_for_no_stuck_helpers()  # the sleeping one ends when its sleep does


def test_a_repr_spinning_forever_is_stopped_in_its_thread():
    assert made(Spinning())["kind"] == "unavailable"
    wait_for_no_stuck_helpers(5.0)  # the exception sent to it ended the Python loop


def test_too_many_stuck_reprs_are_refused_rather_than_piling_up_threads():
    wait_for_no_stuck_helpers()
    reasons = [made(Slow(1.5))["reason"] for _ in range(preview_guard.MAX_STUCK + 1)]
    assert reasons[:-1] == ["making it took longer than 50 ms (a slow __repr__?)"] * preview_guard.MAX_STUCK
    assert reasons[-1] == f"{preview_guard.MAX_STUCK} earlier previews are still stuck in slow code; this one was not tried"
    assert made(123)["text"] == "123"  # builtin values need no helper
    wait_for_no_stuck_helpers()
    assert made(Model(5))["text"] == "Model(depth=5)"


def test_the_time_limit_leaves_timeouts_alarm_alone_and_works_in_a_worker_thread():
    fired = []

    def on_alarm(signum, frame):
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, on_alarm)  # as @timeout arms it around a step
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        assert made(Slow(0.2))["kind"] == "unavailable"
        assert signal.getsignal(signal.SIGALRM) is on_alarm and 0 < signal.getitimer(signal.ITIMER_REAL)[0] < 0.3
        time.sleep(0.4)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    results = []
    worker = threading.Thread(target=lambda: results.extend([made(Slow(0.3)), made(Model(4))]))
    worker.start()
    worker.join(5)
    assert [r["kind"] for r in results] == ["unavailable", "object"]
    wait_for_no_stuck_helpers()


def test_a_task_spends_at_most_its_budget_on_previews():
    collector = PreviewCollector(budget=0.12)
    for i in range(5):
        collector.add(f"k{i}", Slow(0.3))
    collector.add("plain", 7)
    taken = {key: json.loads(text) for key, text in collector.take().items()}
    reasons = [taken[f"k{i}"]["reason"] for i in range(5)]
    assert reasons[0].startswith("making it took longer than")
    assert reasons[-1] == "the task spent its 0.12 s for previews on earlier artifacts"
    assert taken["plain"]["reason"] == "the task spent its 0.12 s for previews on earlier artifacts"
    assert collector.take() == {}
    wait_for_no_stuck_helpers()


def test_a_preview_over_96_kb_is_stored_as_unavailable_saying_its_size():
    found = json.loads(encode({"v": 1, "kind": "text", "summary": "big", "text": "x" * 100_000}))
    assert found["kind"] == "unavailable" and found["reason"].startswith("its preview would be 100,")
    assert found["reason"].endswith("bytes, over the 98,304 allowed")


def test_small_builtin_values_take_microseconds():
    for value in (7, "short text", [1, 2, 3], {"a": 1}):
        times = []
        for _ in range(2000):
            start = time.perf_counter()
            encode(make_preview(value))
            times.append(time.perf_counter() - start)
        assert statistics.median(times) < 30e-6, (value, statistics.median(times))


# -- library kinds ------------------------------------------------------------------------------------------------
def test_a_dataframe_shows_its_shape_first_columns_dtypes_and_first_rows():
    frame = pd.DataFrame({f"c{i}": range(100_000) for i in range(50)})
    frame["c1"] = "<i>" + frame["c1"].astype(str) + "</i>"
    made(pd.DataFrame({"warm": [1]}), limit=5.0)  # pandas' first indexing in a process costs more than the rest
    found = made(frame)  # made within the time limit: a frame's size does not matter
    assert found["kind"] == "frame" and found["type"] == "DataFrame" and found["shape"] == [100_000, 50]
    assert found["columns"] == [f"c{i}" for i in range(20)] and found["dtypes"][:2] == ["int64", "str"]
    assert found["rows"][0][:3] == ["0", "<i>0</i>", "0"] and len(found["rows"]) == 10
    assert found["index"] == [str(i) for i in range(10)]
    assert found["summary"] == "DataFrame 100,000 × 50: c0, c1, c2, c3, c4, c5, c6, c7, …"
    wide_cell = made(pd.DataFrame({"t": ["y" * 500], "o": [Model(1)]}))
    assert len(wide_cell["rows"][0][0]) == 50 and wide_cell["rows"][0][1] == "Model(depth=1)"


def test_a_series_is_a_frame_of_one_column_and_an_arrow_table_a_frame():
    series = made(pd.Series([1.5, 2.5], index=["a", "b"], name="price"))
    assert {k: series[k] for k in ("type", "shape", "columns", "dtypes", "rows", "index")} == {
        "type": "Series", "shape": [2, 1], "columns": ["price"], "dtypes": ["float64"], "rows": [["1.5"], ["2.5"]],
        "index": ["a", "b"]}
    table = made(pa.table({"n": list(range(30)), "s": ["<x>"] * 30}))
    assert table["type"] == "pyarrow.Table" and table["shape"] == [30, 2] and table["dtypes"] == ["int64", "string"]
    assert table["rows"][0] == ["0", "<x>"] and len(table["rows"]) == 10


def test_an_array_shows_shape_dtype_stats_and_numpys_summarised_print():
    cube = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    cube[0, 0, 0], cube[2, 3, 4] = np.nan, np.inf
    found = made(cube)
    assert found["kind"] == "array" and found["shape"] == [3, 4, 5] and found["dtype"] == "float64"
    assert (found["min"], found["max"], found["nan_count"], found["stats"]) == (1.0, "inf", 1, "exact")
    assert found["mean"] == "inf" and found["head"].startswith("[[[nan  1.  2.  3.  4.]")
    ints = made(np.arange(10, dtype=np.int32))
    assert (ints["min"], ints["max"], ints["mean"], ints["nan_count"]) == (0, 9, 4.5, 0)
    strings = made(np.array(["<a>", "b"]))
    assert strings["min"] is None and strings["stats"] == "none: not a numeric array" and strings["head"] == "['<a>' 'b']"
    assert made(np.array([], dtype=float))["stats"] == "none: empty"
    assert made(np.array([object()]))["kind"] == "array"
    assert made(np.full(3, np.nan))["nan_count"] == 3


def test_a_big_array_gets_stats_from_a_sample_cheaply_and_a_big_strided_one_none():
    big = np.arange(STATS_EXACT * 4, dtype=np.float64)
    found = made(big)
    assert found["stats"] == f"sample: 100 evenly spaced runs of 10,000 of the {STATS_EXACT * 4:,} elements"
    assert len(found["head"]) < 200
    # cheaper than one pass over the array (the best of three of each, so that the machine's load matters less)
    assert best_time(lambda: made(big)) < best_time(lambda: big.min())
    assert found["min"] == 0.0 and found["max"] == float(big.size - 1)  # the first and the last runs are in it
    strided = made(np.zeros((2, STATS_EXACT + 1)).T)
    assert strided["stats"].startswith("skipped: a non-contiguous array") and strided["min"] is None


def test_an_image_becomes_a_png_thumbnail_of_at_most_256_px_and_64_kb():
    found = made(Image.new("RGB", (1024, 768), (10, 200, 30)), limit=5.0)  # content here; time: test_a_slow_repr
    assert (found["kind"], found["mime"], found["width"], found["height"]) == ("image", "image/png", 1024, 768)
    thumb = Image.open(io.BytesIO(base64.b64decode(found["data"])))
    assert thumb.size == (256, 192) and thumb.format == "PNG"
    noise = Image.frombytes("RGBA", (1024, 1024), os.urandom(1024 * 1024 * 4))
    noisy = made(noise, limit=5.0)
    data = base64.b64decode(noisy["data"])
    assert len(data) <= 64 * 1024 and max(Image.open(io.BytesIO(data)).size) < 256  # halved until it fits
    cmyk = made(Image.new("CMYK", (10, 10)), limit=5.0)
    assert Image.open(io.BytesIO(base64.b64decode(cmyk["data"]))).mode == "RGB"
    png = io.BytesIO()
    Image.new("L", (32, 16)).save(png, format="PNG")
    as_bytes = made(png.getvalue(), limit=5.0)
    assert (as_bytes["kind"], as_bytes["width"], as_bytes["height"]) == ("image", 32, 16)
    fake = made(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, limit=5.0)
    assert fake["kind"] == "binary" and fake["mime"] == "image/png" and fake["size"] == 108


def test_without_pillow_loaded_image_bytes_pass_as_they_are_or_as_binary(tmp_path):
    small, big, jpeg = tmp_path / "small.png", tmp_path / "big.gif", tmp_path / "small.jpg"
    Image.new("RGB", (40, 30), (1, 2, 3)).save(small)
    Image.frombytes("L", (300, 300), os.urandom(90_000)).save(big)
    Image.new("RGB", (64, 48)).save(jpeg, quality=80)
    script = f"""
import json, sys
from artiflow.datastore.preview import make_preview
found = [make_preview(open(p, 'rb').read()) for p in ({str(small)!r}, {str(big)!r}, {str(jpeg)!r})]
found.append(make_preview([1, {{'a': (2, 3)}}]))
print(json.dumps([found, sorted(m for m in ('PIL', 'numpy', 'pandas', 'pyarrow') if m in sys.modules)]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")}, check=True).stdout
    (png, gif, jpg, plain), loaded = json.loads(out)
    assert loaded == []  # previews never import pandas, numpy, pyarrow or PIL
    assert (png["kind"], png["width"], png["height"]) == ("image", 40, 30)
    assert base64.b64decode(png["data"]) == small.read_bytes()
    assert (gif["kind"], gif["mime"], gif["size"]) == ("binary", "image/gif", big.stat().st_size)
    assert (jpg["kind"], jpg["mime"], jpg["width"], jpg["height"]) == ("image", "image/jpeg", 64, 48)
    assert plain["items"] == ["1", "{'a': (2, 3)}"]


# -- end to end: a real run, read back through the client and the metadata store ---------------------------------
@pytest.fixture
def previews_run(af_home):
    started = time.monotonic()
    ok(run_flow(FLOW, "run", "--label", "<i>x</i>"))
    return Flow("PreviewsFlow").latest_run, time.monotonic() - started


def test_a_run_stores_a_preview_of_each_artifact_read_back_through_the_client(previews_run):
    run, took = previews_run
    assert took < 25  # the 30 s __repr__ did not hold the task up
    start = run["start"].task
    kinds = {name: start[name].preview["kind"] for name in (
        "nothing", "flag", "count", "ratio", "text", "items", "table", "frame", "series", "cube", "picture", "png",
        "model", "sleepy", "broken", "huge", "label", "rate")}
    assert kinds == {"nothing": "none", "flag": "bool", "count": "number", "ratio": "number", "text": "text",
                     "items": "sequence", "table": "mapping", "frame": "frame", "series": "frame", "cube": "array",
                     "picture": "image", "png": "image", "model": "object", "sleepy": "unavailable",
                     "broken": "unavailable", "huge": "object", "label": "text", "rate": "number"}
    assert start["text"].preview["text"] == "<script>alert('x')</script> héllo ✓"
    assert start["label"].preview["text"] == "<i>x</i>"  # a parameter's preview
    assert start["frame"].preview["shape"] == [1000, 2] and start["cube"].preview["nan_count"] == 1
    assert start["sleepy"].preview["reason"] == "making it took longer than 50 ms (a slow __repr__?)"
    assert start["broken"].preview["reason"] == "repr raised ValueError: this repr is broken"
    assert len(start["huge"].preview["text"]) == 2000
    assert start["model"].preview["text"] == "Model(depth=3)"
    each = list(run["each"])
    assert sorted(t["square"].preview["text"] for t in each) == ["1", "4", "9"]
    assert all(t["model"].preview["text"] == "Model(depth=3)" for t in each)  # passed on by reference: same key
    assert run["join"].task["squares"].preview["items"] == ["1", "4", "9"]
    assert run["end"].task["same_count"].preview == start["count"].preview  # same content, same preview


def test_metadata_store_previews_reads_many_keys_at_once_and_leaves_out_unknown_ones(previews_run):
    from artiflow.client.context import get_context

    run, _ = previews_run
    meta = get_context().meta
    refs = meta.artifacts("PreviewsFlow", int(run.id), "start", int(run["start"].task.id))
    keys = [ref.key for ref in refs.values()]
    found = meta.previews(keys + ["no-such-key"])
    assert set(found) == set(keys) and "no-such-key" not in found
    assert found[refs["picture"].key]["width"] == 300
    rows = meta._query("SELECT COUNT(*) FROM artifact_previews WHERE key = ?", (refs["count"].key,))
    assert rows == [(1,)]  # start's count and end's same_count: one row


def test_previews_are_written_insert_or_ignore_and_read_in_chunks(af_home):
    from artiflow.client.context import get_context

    meta = get_context().meta
    previews = {f"key{i}": json.dumps({"v": 1, "kind": "number", "summary": str(i), "text": str(i)})
                for i in range(5000)}
    with meta.batch():
        meta.add_previews(previews)
        meta.add_previews({"key1": json.dumps({"v": 1, "kind": "none", "summary": "None"})})
    found = meta.previews([f"key{i}" for i in range(5003)])
    assert len(found) == 5000 and found["key4999"]["text"] == "4999"
    assert found["key1"]["kind"] == "number"  # the first preview of a key stays
    assert meta.previews([]) == {}


def gc(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "artiflow", "gc", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_gc_deletes_the_previews_of_dropped_runs_but_those_a_kept_run_shares(af_home):
    from artiflow.client.context import get_context

    ok(run_flow("params_flow.py", "run", "--alpha", "0.1", "--needed", "1"))
    ok(run_flow("params_flow.py", "run", "--alpha", "0.2", "--needed", "1"))
    meta = get_context().meta
    old_run, new_run = [r.run_id for r in meta.runs("ParamsFlow")][::-1]
    old_keys = {ref.key for refs in meta.artifacts_of_run("ParamsFlow", old_run).values() for ref in refs.values()}
    new_keys = {ref.key for refs in meta.artifacts_of_run("ParamsFlow", new_run).values() for ref in refs.values()}
    assert old_keys - new_keys and old_keys & new_keys
    assert set(meta.previews(old_keys | new_keys)) == old_keys | new_keys
    dry = ok(gc("--keep-last", "1", "--dry-run")).stdout
    assert f"Would delete {len(old_keys - new_keys)} artifact previews no kept run uses." in dry
    assert set(meta.previews(old_keys)) == old_keys
    out = ok(gc("--keep-last", "1")).stdout
    assert f"Deleted {len(old_keys - new_keys)} artifact previews no kept run uses." in out
    assert set(meta.previews(old_keys | new_keys)) == new_keys
    assert "artifact preview" not in ok(gc("--keep-last", "1")).stdout  # nothing left to sweep


def test_a_version_4_database_gets_the_previews_table_and_keeps_its_runs(af_home):
    from artiflow.client.context import get_context
    from artiflow.metadata import schema

    database_at(get_context().meta, 4, [
        "INSERT INTO tasks (flow, run_id, step, task_id, status, attempt, created_at, finished_at) "
        "VALUES ('OldFlow', 1, 'start', 1, 'succeeded', 0, 1.0, 2.0)",
        "INSERT INTO artifacts (flow, run_id, step, task_id, name, key, serializer, type, size) "
        "VALUES ('OldFlow', 1, 'start', 1, 'x', 'oldkey', 'pickle', 'int', 5)"])
    ok(run_flow("hello_flow.py", "run"))  # the runner migrates the database, then records the previews
    meta = get_context().meta
    assert meta.schema_version() == schema.LATEST
    assert [m.version for m in schema.MIGRATIONS if m.version >= 5][0] == 5
    latest = Flow("HelloFlow").latest_run
    end = latest["end"].task
    assert all(artifact.preview is not None for artifact in end)
    old = Flow("OldFlow")["1"]["start"].task["x"]
    assert old.preview is None  # saved before previews: none, and reading says so without failing



# -- on a Dask cluster with an S3 datastore: previews come back from the workers in the task results --------------
try:
    from test_dask import cluster, endpoint, flow_file, on_dask, on_s3
except pytest.skip.Exception as missing:  # distributed, boto3 or moto is not installed
    on_dask, NO_DASK = None, str(missing)
else:
    NO_DASK = ""
    DASK_FIXTURES = (cluster, endpoint, on_s3)  # what on_dask needs, found by pytest in this module

DASK_FLOW = """
from artiflow import FlowSpec, step

class Slow:
    def __repr__(self):
        import time
        time.sleep(20)
        return "Slow()"

class DaskPreviewsFlow(FlowSpec):
    @step
    def start(self):
        self.items = ["<a>", "b", "c"]
        self.slow = Slow()
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.upper = self.input.upper()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.uppers = {i.input: i.upper for i in inputs}
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    DaskPreviewsFlow()
"""


@pytest.mark.skipif(on_dask is None, reason=f"needs distributed, boto3 and moto: {NO_DASK}")
def test_on_dask_the_workers_make_the_previews_and_they_come_back_with_the_results(on_dask, af_home):
    path = flow_file(af_home, DASK_FLOW)
    ok(run_flow(path, "run", "--executor", "dask"))
    run = Flow("DaskPreviewsFlow").latest_run
    assert run["start"].task["items"].preview["items"] == ["'<a>'", "'b'", "'c'"]
    assert run["start"].task["slow"].preview["kind"] == "unavailable"
    assert sorted(t["upper"].preview["text"] for t in run["each"]) == ["<A>", "B", "C"]
    assert run["join"].task["uppers"].preview["summary"] == "dict of 3 keys: '<a>': '<A>', 'b': 'B', 'c': 'C'"
