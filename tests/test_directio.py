"""Large blobs written buffered or with direct I/O: exact bytes at any size and switch point, clean fallbacks, clear setting errors."""

from __future__ import annotations

import errno
import fcntl
import os

import numpy as np
import pytest

from artiflow.datastore import directio, open_store
from artiflow.datastore.directio import PIECE_BYTES, policy_from_env, write_blob
from artiflow.exceptions import ArtifactError, ConfigError

from conftest import REPO, ok, run_flow

MB = 1 << 20


@pytest.fixture
def direct_store(tmp_path, monkeypatch):
    """A store that writes every blob of 1 byte or more with direct I/O."""
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO", "on")
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO_MIN_BYTES", "1")
    return open_store(str(tmp_path / "data"))


def write_to(path: str, chunks, mode: str) -> int:
    """write_blob into a new file at `path`, as the storage does."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        return write_blob(fd, path, chunks, mode)
    finally:
        os.close(fd)


def count_direct_opens(monkeypatch, refuse: bool = False) -> list[str]:
    """Record (and optionally refuse with EINVAL, as tmpfs on older kernels does) every O_DIRECT open."""
    opened: list[str] = []
    real_open = os.open

    def spy(path, flags, *args, **kwargs):
        if flags & os.O_DIRECT:
            opened.append(str(path))
            if refuse:
                raise OSError(errno.EINVAL, "Invalid argument", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(directio.os, "open", spy)
    return opened


SIZES = [
    [1],
    [4095, 1, 4097],
    [PIECE_BYTES],
    [PIECE_BYTES - 3, 7, PIECE_BYTES + 5],
    [123, 3 * PIECE_BYTES + 1],
]


@pytest.mark.parametrize("mode", ["on", "auto", "off"])
@pytest.mark.parametrize("sizes", SIZES)
def test_large_writes_are_exact_at_unaligned_sizes_and_across_pieces(tmp_path, sizes, mode):
    rng = np.random.default_rng(len(sizes))
    chunks = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    path = tmp_path / "blob"
    path.touch()
    direct = write_to(str(path), chunks, mode)
    assert path.read_bytes() == b"".join(chunks)
    if mode != "auto":  # auto depends on how fast this machine's page cache is
        assert direct == (sum(sizes) if mode == "on" else 0)


GB = 1e9


def simulate_speeds(monkeypatch, page_cache_rate, disk_rate: float) -> None:
    """A virtual clock: buffered piece i takes its size / page_cache_rate(i) seconds, a direct one size / disk_rate."""
    now = [0.0]
    buffered_pieces = [0]
    real_write_all = directio._write_all

    def timed_write_all(fd, parts, offset):
        real_write_all(fd, parts, offset)
        size = sum(part.nbytes for part in parts)
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            now[0] += size / disk_rate
        else:
            now[0] += size / page_cache_rate(buffered_pieces[0])
            buffered_pieces[0] += 1

    monkeypatch.setattr(directio, "_write_all", timed_write_all)
    monkeypatch.setattr(directio.time, "perf_counter", lambda: now[0])


TOTAL = 4 + 4 * PIECE_BYTES + 100  # "head" + 4 full pieces + a short fifth


@pytest.mark.parametrize("page_cache_rate, disk_rate, direct_bytes", [
    (lambda i: 3 * GB, 1.7 * GB, 0),                                        # memory at hand: all buffered
    (lambda i: 0.4 * GB, 1.7 * GB, TOTAL - PIECE_BYTES),                    # slow from the start: the rest direct
    (lambda i: 3 * GB if i < 2 else 0.4 * GB, 1.7 * GB, TOTAL - 3 * PIECE_BYTES),  # slow after 2 pieces
    (lambda i: 0.4 * GB, 0.25 * GB, PIECE_BYTES),                           # the disk is slower still: back
], ids=["fast-cache", "slow-cache", "cache-slows-down", "slower-disk"])
def test_auto_writes_each_piece_the_faster_way(tmp_path, monkeypatch, page_cache_rate, disk_rate, direct_bytes):
    simulate_speeds(monkeypatch, page_cache_rate, disk_rate)
    data = np.random.default_rng(5).integers(0, 256, TOTAL - 4, dtype=np.uint8)
    path = tmp_path / "blob"
    path.touch()
    assert write_to(str(path), [b"head", memoryview(data)], "auto") == direct_bytes
    assert path.read_bytes() == b"head" + data.tobytes()


def test_short_writes_are_continued_where_they_stopped(tmp_path, monkeypatch):
    real_pwritev = os.pwritev

    def at_most_1000_bytes(fd, parts, offset):
        budget, taken = 1000, []
        for part in parts:
            if budget <= 0:
                break
            taken.append(part[:budget])
            budget -= min(budget, part.nbytes)
        return real_pwritev(fd, taken, offset)

    monkeypatch.setattr(directio.os, "pwritev", at_most_1000_bytes)
    chunks = [bytes([i % 256]) * (300 + i) for i in range(200)]
    path = tmp_path / "blob"
    path.touch()
    write_to(str(path), chunks, "off")
    assert path.read_bytes() == b"".join(chunks)


def test_large_writes_take_typed_memoryviews_without_a_copy_by_the_caller(tmp_path):
    values = np.arange(3 * MB + 17, dtype=np.float64)
    path = tmp_path / "blob"
    path.touch()
    assert write_to(str(path), [b"head", memoryview(values)], "on") == 4 + values.nbytes
    assert path.read_bytes() == b"head" + values.tobytes()


def test_a_large_array_saved_with_direct_io_loads_back_equal_and_hash_checked(direct_store, monkeypatch):
    opened = count_direct_opens(monkeypatch)
    big = np.random.default_rng(3).random(9 * MB // 8 + 5)
    ref = direct_store.save("big", big)
    assert len(opened) == 1  # the blob went through the direct path
    loaded = direct_store.load(ref)
    assert np.array_equal(loaded, big) and loaded.flags.writeable
    assert direct_store.storage.path(ref.key).stat().st_size == ref.size  # padding trimmed


def test_a_filesystem_that_refuses_direct_io_gets_an_ordinary_write(direct_store, monkeypatch):
    opened = count_direct_opens(monkeypatch, refuse=True)
    value = list(range(100_000))
    ref = direct_store.save("numbers", value)
    assert opened, "the direct path was not tried"
    assert direct_store.load(ref) == value
    leftovers = [p for p in direct_store.storage.root.rglob(".tmp-*")]
    assert leftovers == []


def test_a_device_that_rejects_the_alignment_gets_the_piece_buffered(tmp_path, monkeypatch):
    real_pwritev = os.pwritev
    rejected = []

    def coarse_device(fd, parts, offset):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            rejected.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwritev(fd, parts, offset)

    monkeypatch.setattr(directio.os, "pwritev", coarse_device)
    data = np.random.default_rng(9).integers(0, 256, 2 * PIECE_BYTES + 3, dtype=np.uint8)
    path = tmp_path / "blob"
    path.touch()
    assert write_to(str(path), [memoryview(data)], "on") == 0
    assert rejected == [0]  # tried once, then buffered for good
    assert path.read_bytes() == data.tobytes()


def test_small_blobs_and_off_never_use_direct_io(tmp_path, monkeypatch):
    opened = count_direct_opens(monkeypatch)
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO", "on")
    open_store(str(tmp_path / "a")).save("small", np.ones(1000))  # below the 64 MiB default
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO", "off")
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO_MIN_BYTES", "1")
    open_store(str(tmp_path / "b")).save("any", np.ones(1000))
    assert opened == []


@pytest.mark.parametrize("name, value, message", [
    ("ARTIFLOW_DIRECT_IO", "maybe", "ARTIFLOW_DIRECT_IO='maybe' is not one of auto, on, off"),
    ("ARTIFLOW_DIRECT_IO_MIN_BYTES", "64MB", "ARTIFLOW_DIRECT_IO_MIN_BYTES='64MB' is not a positive number"),
    ("ARTIFLOW_DIRECT_IO_MIN_BYTES", "0", "ARTIFLOW_DIRECT_IO_MIN_BYTES='0' is not a positive number"),
])
def test_bad_direct_io_settings_are_named(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        policy_from_env()


def test_a_bad_direct_io_setting_stops_a_run_before_it_starts(af_home):
    result = run_flow("hello_flow.py", "run", env={"ARTIFLOW_DIRECT_IO": "fast"})
    assert result.returncode != 0
    assert "ARTIFLOW_DIRECT_IO='fast' is not one of auto, on, off" in result.stderr
    assert "Traceback" not in result.stderr


BIG_FLOW_ENV = {"ARTIFLOW_DIRECT_IO": "on", "ARTIFLOW_DIRECT_IO_MIN_BYTES": str(MB)}


def test_a_flow_passes_a_direct_written_array_between_steps_and_to_the_client(af_home):
    ok(run_flow(REPO / "benchmarks" / "flows" / "bigarray.py", "run", "--mb", "24", launcher=True, env=BIG_FLOW_ENV))
    from artiflow import Flow

    run = Flow("BigArrayFlow").latest_run
    arr = run["start"].task.data.arr
    assert arr.shape == (24 * MB // 8,) and float(arr.sum()) == 24 * MB // 8
    assert run["end"].task.data.total == 24 * MB // 8


def test_a_failing_direct_write_raises_and_leaves_no_temp_file(direct_store, monkeypatch):
    calls = []
    real_pwritev = os.pwritev

    def write_then_fill_the_disk(fd, parts, offset):
        calls.append(offset)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwritev(fd, parts, offset)

    monkeypatch.setattr(directio.os, "pwritev", write_then_fill_the_disk)
    with pytest.raises(ArtifactError, match=r"Artifact 'big' \(\d+ bytes\) could not be stored .*: the disk is full "
                                            r"\(No space left on device\)\. Nothing half-written was kept"):
        direct_store.save("big", np.ones(3 * PIECE_BYTES // 8))
    assert [p for p in direct_store.storage.root.rglob("*") if p.is_file()] == []
