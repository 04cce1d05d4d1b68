"""Large blobs written with direct I/O: exact bytes at any size, a clean fallback, and clear setting errors."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from artiflow.datastore import directio, open_store
from artiflow.datastore.directio import BOUNCE_BYTES, DirectIOPolicy, policy_from_env, write_direct
from artiflow.exceptions import ConfigError

from conftest import REPO, ok, run_flow

MB = 1 << 20


@pytest.fixture
def direct_store(tmp_path, monkeypatch):
    """A store that writes every blob of 1 byte or more with direct I/O."""
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO", "on")
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO_MIN_BYTES", "1")
    return open_store(str(tmp_path / "data"))


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


@pytest.mark.parametrize("sizes", [
    [1],
    [4095, 1, 4097],
    [BOUNCE_BYTES],
    [BOUNCE_BYTES - 3, 7, BOUNCE_BYTES + 5],
    [123, 3 * BOUNCE_BYTES + 1],
])
def test_direct_writes_are_exact_at_unaligned_sizes_and_across_the_bounce_buffer(tmp_path, sizes):
    rng = np.random.default_rng(len(sizes))
    chunks = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    path = tmp_path / "blob"
    path.touch()
    assert write_direct(str(path), chunks) is True
    assert path.read_bytes() == b"".join(chunks)


def test_direct_writes_take_typed_memoryviews_without_a_copy_by_the_caller(tmp_path):
    values = np.arange(3 * MB + 17, dtype=np.float64)
    path = tmp_path / "blob"
    path.touch()
    assert write_direct(str(path), [b"head", memoryview(values)])
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
    leftovers = [p for p in direct_store.storage.blobs.rglob(".tmp-*")]
    assert leftovers == []


def test_small_blobs_and_off_never_use_direct_io(tmp_path, monkeypatch):
    opened = count_direct_opens(monkeypatch)
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO", "on")
    open_store(str(tmp_path / "a")).save("small", np.ones(1000))  # below the 64 MiB default
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO", "off")
    monkeypatch.setenv("ARTIFLOW_DIRECT_IO_MIN_BYTES", "1")
    open_store(str(tmp_path / "b")).save("any", np.ones(1000))
    assert opened == []


def test_auto_uses_direct_io_only_where_the_host_reclaims_free_memory(monkeypatch, tmp_path):
    features = tmp_path / "features"
    monkeypatch.setattr(directio, "_BALLOON_FEATURES", str(features))
    policy = DirectIOPolicy("auto", 10)
    for bits, expected in [("0110010100", True), ("0110000100", False)]:
        features.write_text(bits + "\n")
        directio.host_reclaims_free_memory.cache_clear()
        assert policy.applies_to(100) is expected
        assert policy.applies_to(5) is False  # below the threshold
    features.unlink()
    directio.host_reclaims_free_memory.cache_clear()
    assert directio.host_reclaims_free_memory() is False  # no balloon at all
    directio.host_reclaims_free_memory.cache_clear()


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
    real_write = os.write

    def write_then_fill_the_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(directio.os, "write", write_then_fill_the_disk)
    with pytest.raises(OSError, match="No space left"):
        direct_store.save("big", np.ones(3 * BOUNCE_BYTES // 8))
    assert [p for p in direct_store.storage.blobs.rglob("*") if p.is_file()] == []
