"""The datastore never serves or keeps a bad blob, survives a full disk, sweeps dead writers' temp files,
shares its files per the umask, writes durably, and holds no descriptor per memory-mapped artifact."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from artiflow.datastore import BlobError, directio, open_store
from artiflow.datastore.files import sweep_temp
from artiflow.datastore.storage import MMAP_MIN_BYTES
from artiflow.exceptions import ArtifactError, ConfigError

from conftest import REPO, ok, run_flow

FLOW = "reliability_flow.py"
DEAD_PID = 999_999_999  # above any pid_max: never a running process


def data_root(home: Path) -> Path:
    return home / ".artiflow" / "data"


def word_artifact(run_id: int = 1):
    from artiflow import Run

    return Run(f"ReliabilityFlow/{run_id}")["start"].task["word"]


def damage(path: Path, how: str) -> None:
    """Truncate the file, or flip one byte in its middle."""
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def artiflow_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=full_env,
                          timeout=120)


def quarantined(home: Path, key: str) -> list[Path]:
    return sorted((data_root(home) / "quarantine").glob(f"{key}.*"))


# -- a corrupt blob ---------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["truncated", "flipped"])
def test_a_damaged_blob_is_named_on_load_reported_by_verify_and_repaired_by_the_next_save(af_home, how):
    from artiflow.client import context

    ok(run_flow(FLOW, "run"))
    artifact = word_artifact()
    key, value = artifact.sha, artifact.data
    blob = data_root(af_home) / "blobs" / key[:2] / key[2:]
    damage(blob, how)
    context.clear_cache()

    report = artiflow_cli("verify", "ReliabilityFlow/1")
    assert report.returncode == 1, report.stdout + report.stderr
    assert f"corrupt  blob {key}\n" in report.stdout
    for step, task in (("start", 1), ("big", 2), ("end", 3)):  # word is passed on by reference: one blob, 3 uses
        assert f"    ReliabilityFlow/1/{step}/{task}/word\n" in report.stdout
    assert "1 bad blob: 1 corrupt." in report.stdout
    assert "Run `artiflow verify --repair ReliabilityFlow/1` to move the corrupt blobs aside" in report.stdout
    assert blob.exists()  # verify without --repair changes nothing

    with pytest.raises(BlobError) as caught:
        word_artifact().data
    error = caught.value
    assert (error.artifact, error.pathspec, error.key, error.problem) == ("word", "ReliabilityFlow/1/start/1", key,
                                                                          "corrupt")
    [moved] = quarantined(af_home, key)
    assert str(error) == (
        f"Artifact 'word' in ReliabilityFlow/1/start/1: blob {key} in {data_root(af_home)} is corrupt: its content "
        f"no longer matches its hash (the file was changed or truncated on disk after it was written). It was "
        f"moved aside to {moved}, so it is never served again. Re-run or resume the step that produced it to "
        f"write it again (a save of the same value rewrites the blob); `artiflow verify` lists every artifact "
        f"that uses it.")
    assert not blob.exists()
    context.clear_cache()
    with pytest.raises(BlobError) as caught:
        word_artifact().data
    assert str(caught.value) == (
        f"Artifact 'word' in ReliabilityFlow/1/start/1: blob {key} is missing from the datastore at "
        f"{data_root(af_home)}. It was found corrupt and moved aside to {moved}. Re-run or resume the step that "
        f"produced it to write it again (a save of the same value rewrites the blob); `artiflow verify` lists every "
        f"artifact that uses it.")

    ok(run_flow(FLOW, "run"))  # the same value saved again: the blob is written afresh
    context.clear_cache()
    assert word_artifact(1).data == value and word_artifact(2).sha == key
    assert artiflow_cli("verify").returncode == 0


def test_a_truncated_blob_is_replaced_by_the_next_save_even_unread(af_home):
    ok(run_flow(FLOW, "run"))
    key = word_artifact().sha
    blob = data_root(af_home) / "blobs" / key[:2] / key[2:]
    good = blob.read_bytes()
    damage(blob, "truncated")
    ok(run_flow(FLOW, "run"))  # exists() checks the size: the short file is not taken for the blob
    assert blob.read_bytes() == good
    [kept] = quarantined(af_home, key)  # the bad file is kept aside, not deleted
    assert kept.read_bytes() == good[: len(good) // 2]


def test_a_task_reading_a_corrupt_blob_fails_naming_the_artifact_its_task_and_the_blob(af_home):
    ok(run_flow(FLOW, "run"))
    key = word_artifact().sha
    damage(data_root(af_home) / "blobs" / key[:2] / key[2:], "flipped")
    failed = run_flow(FLOW, "resume", "end")
    assert failed.returncode != 0
    assert (f"Artifact error: Artifact 'word' in ReliabilityFlow/2/end/3: blob {key} in {data_root(af_home)} is "
            f"corrupt: its content no longer matches its hash") in failed.stdout + failed.stderr
    assert quarantined(af_home, key)
    ok(run_flow(FLOW, "run"))  # start runs again and rewrites the blob
    ok(run_flow(FLOW, "resume", "end", "--origin-run-id", "1"))


def test_verify_repair_quarantines_re_saves_what_the_run_recorded_and_says_what_is_left(af_home):
    ok(run_flow(FLOW, "run", "--mb", "1"))
    from artiflow import Run

    run = Run("ReliabilityFlow/1")
    name_key, mb_key, word_key = (run["start"].task[n].sha for n in ("name", "mb", "word"))
    for key in (name_key, mb_key, word_key):
        damage(data_root(af_home) / "blobs" / key[:2] / key[2:], "flipped")
    payload_key = run["big"].task["payload"].sha
    os.unlink(data_root(af_home) / "blobs" / payload_key[:2] / payload_key[2:])
    with pytest.raises(BlobError, match=rf"^Artifact 'payload' in ReliabilityFlow/1/big/2: blob {payload_key} is "
                                        rf"missing from the datastore at {data_root(af_home)}\. It was deleted, or the "
                                        r"datastore root points elsewhere \(check ARTIFLOW_DATASTORE_ROOT\)\. Re-run"):
        run["big"].task.data.payload

    fixed = artiflow_cli("verify", "--repair", "ReliabilityFlow")
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr
    out = fixed.stdout
    assert f"repaired  blob {name_key} (re-saved from the value run ReliabilityFlow/1 recorded for 'name')" in out
    assert f"repaired  blob {mb_key} (re-saved from the value run ReliabilityFlow/1 recorded for 'mb')" in out
    [moved] = quarantined(af_home, word_key)
    assert f"corrupt  blob {word_key} (moved aside to {moved})\n    ReliabilityFlow/1/start/1/word" in out
    assert f"missing  blob {payload_key}\n    ReliabilityFlow/1/big/2/payload" in out
    assert "4 bad blobs: 1 corrupt, 1 missing, 2 repaired." in out
    assert ("Their values cannot be read back from the datastore. Re-run the flow, or resume the run from the step "
            "that produced them") in out
    assert "--repair` to move" not in out

    again = artiflow_cli("verify", "ReliabilityFlow/1/start")
    assert again.returncode == 1
    assert f"missing  blob {word_key} (found corrupt earlier and moved aside to {moved})" in again.stdout
    assert payload_key not in again.stdout
    assert name_key not in again.stdout and mb_key not in again.stdout
    ok(run_flow(FLOW, "resume", "start", "--origin-run-id", "1"))  # deterministic steps rewrite both blobs
    assert artiflow_cli("verify", "ReliabilityFlow/1").stdout.endswith("No problems found.\n")


@pytest.mark.parametrize("args, message", [
    (["NoSuchFlow"], "Flow NoSuchFlow has no runs recorded in"),
    (["ReliabilityFlow/9"], "ReliabilityFlow has no run '9' (its latest runs: 1)."),
    (["ReliabilityFlow/x"], "ReliabilityFlow has no run 'x' (its latest runs: 1)."),
    (["A/1/b/2/c/d"], "Pathspec 'A/1/b/2/c/d' has 6 components; at most 5 are possible"),
])
def test_verify_refuses_a_pathspec_it_cannot_find(af_home, args, message):
    ok(run_flow(FLOW, "run"))
    result = artiflow_cli("verify", *args)
    assert result.returncode == 1 and "Invalid pathspec:" in result.stderr and message in result.stderr


def test_verify_of_an_empty_home_says_there_is_nothing(af_home):
    result = artiflow_cli("verify")
    assert result.returncode == 1
    assert "No runs are recorded in" in result.stderr and "there is nothing to verify" in result.stderr


# -- a full disk ------------------------------------------------------------------------------------
def test_a_full_disk_fails_the_task_saying_so_leaves_nothing_half_written_and_resume_works(af_home, small_disk):
    env = {"ARTIFLOW_DATASTORE_ROOT": str(small_disk / "data")}
    failed = run_flow(FLOW, "run", "--mb", "8", env=env)
    assert failed.returncode != 0
    assert re.search(r"\[ReliabilityFlow/1/big/2\] Artifact error: Artifact 'payload' \(83886\d\d bytes\) could not be "
                     rf"stored in the datastore at {small_disk / 'data'}: the disk is full \(No space left on device\)\. "
                     r"Nothing half-written was kept\. Free some space \(or set ARTIFLOW_DATASTORE_ROOT to a disk with "
                     r"room\), then resume the run \(python FLOW\.py resume\)\.\n", failed.stderr), failed.stderr
    assert not list(small_disk.rglob(".tmp-*"))
    assert artiflow_cli("verify", "ReliabilityFlow/1", env=env).returncode == 0  # every blob there is whole
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    ok(run_flow(FLOW, "resume", env=env))
    from artiflow import Run

    os.environ.update(env)
    try:
        assert len(Run("ReliabilityFlow/2")["big"].task.data.payload) == 8 << 20
    finally:
        del os.environ["ARTIFLOW_DATASTORE_ROOT"]


def test_a_simulated_full_disk_raises_a_clear_error_and_a_later_save_works(tmp_path, monkeypatch):
    store = open_store(str(tmp_path / "data"))
    real_pwritev = os.pwritev
    full = [True]

    def no_space(fd, parts, offset):
        if full[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwritev(fd, parts, offset)

    monkeypatch.setattr(directio.os, "pwritev", no_space)
    value = np.arange(1000)
    with pytest.raises(ArtifactError, match=r"^Artifact 'numbers' \(\d+ bytes\) could not be stored in the datastore "
                                            r"at .*: the disk is full \(No space left on device\)\."):
        store.save("numbers", value)
    assert [p for p in store.storage.root.rglob("*") if p.is_file()] == []
    full[0] = False
    assert np.array_equal(store.load(store.save("numbers", value)), value)


def test_another_write_error_is_named_with_its_cause(tmp_path, monkeypatch):
    store = open_store(str(tmp_path / "data"))
    monkeypatch.setattr(directio.os, "pwritev", lambda fd, parts, offset: (_ for _ in ()).throw(
        OSError(errno.EIO, os.strerror(errno.EIO))))
    with pytest.raises(ArtifactError, match=r"^A blob \(5 bytes\) could not be stored in the datastore at .*: "
                                            r"Input/output error \(OSError, errno 5\)\. Nothing half-written was kept"):
        store.put_bytes([b"hello"])


# -- descriptors ------------------------------------------------------------------------------------
def test_a_task_and_a_client_hold_500_large_artifacts_under_a_low_descriptor_limit(af_home):
    ok(run_flow("many_big_flow.py", "run", "--n", "500", "--nofile", "128", timeout=300))
    from artiflow import Run

    assert Run("ManyBigFlow/1")["read"].task.data.open_fds < 32  # not one per artifact held
    reader = f"""
import resource
resource.setrlimit(resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from artiflow import Run
data = Run("ManyBigFlow/1")["start"].task.data
held = [data[f"a{{i:03d}}"] for i in range(500)]
assert all(v.nbytes == {MMAP_MIN_BYTES} for v in held)
print(len(held), len(__import__("os").listdir("/proc/self/fd")))
"""
    result = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert result.returncode == 0, result.stderr
    held, fds = map(int, result.stdout.split())
    assert held == 500 and fds < 20


def test_a_mapped_blob_keeps_no_descriptor_and_is_unmapped_when_released(tmp_path):
    store = open_store(str(tmp_path / "data"))
    ref = store.save("big", np.arange(MMAP_MIN_BYTES // 4, dtype=np.int64))
    before = len(os.listdir("/proc/self/fd"))
    loaded = [store.load(ref) for _ in range(50)]
    assert len(os.listdir("/proc/self/fd")) == before
    maps = Path("/proc/self/maps").read_text().count(str(store.storage.path(ref.key)))
    assert maps >= 50
    del loaded
    import gc

    gc.collect()
    assert Path("/proc/self/maps").read_text().count(str(store.storage.path(ref.key))) == 0


# -- temp files of dead writers ---------------------------------------------------------------------
def make_temp(folder: Path, name: str, age: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"partial")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_old_temp_files_of_dead_writers_are_swept_when_a_store_opens_and_the_rest_kept(af_home):
    tmp = data_root(af_home) / "tmp"
    old_dead = make_temp(tmp, f".tmp-{DEAD_PID}-aaaa", 7200)
    legacy = make_temp(tmp, ".tmp-k3j2h1x9", 7200)  # a name of older versions, without a pid
    old_live = make_temp(tmp, f".tmp-{os.getpid()}-bbbb", 7200)  # a live (stopped) writer: never touched
    new_dead = make_temp(tmp, f".tmp-{DEAD_PID}-cccc", 60)
    other = make_temp(tmp, "notes.txt", 7200)
    ok(run_flow("hello_flow.py", "run"))
    assert not old_dead.exists() and not legacy.exists()
    assert old_live.exists() and new_dead.exists() and other.exists()

    ok(run_flow("hello_flow.py", "run", env={"ARTIFLOW_TEMP_GRACE_SECONDS": "30"}))
    assert not new_dead.exists() and old_live.exists()


def test_a_sweep_runs_once_per_process_and_root(tmp_path, monkeypatch):
    from artiflow.datastore import files

    monkeypatch.setattr(files, "_swept", set())
    old = make_temp(tmp_path / "data" / "tmp", f".tmp-{DEAD_PID}-a", 7200)
    open_store(str(tmp_path / "data"))
    assert not old.exists()
    again = make_temp(tmp_path / "data" / "tmp", f".tmp-{DEAD_PID}-b", 7200)
    open_store(str(tmp_path / "data"))
    assert again.exists()  # swept at the first open only
    assert sweep_temp(tmp_path / "data" / "tmp", 3600) == [str(again)]


@pytest.mark.parametrize("value", ["soon", "-5"])
def test_a_bad_grace_period_is_refused_naming_the_variable(tmp_path, monkeypatch, value):
    from artiflow.datastore import files

    monkeypatch.setattr(files, "_swept", set())
    monkeypatch.setenv("ARTIFLOW_TEMP_GRACE_SECONDS", value)
    with pytest.raises(ConfigError, match=rf"^ARTIFLOW_TEMP_GRACE_SECONDS='{value}' is not a number of seconds "
                                          r"\(0 or more\); unset it for the default \(3600\)\.$"):
        open_store(str(tmp_path / "data"))


def test_a_killed_writer_leaves_its_temp_file_only_in_tmp(tmp_path):
    code = f"""
import os, numpy as np
from artiflow.datastore import directio, open_store
store = open_store({str(tmp_path / 'data')!r})
real = os.pwritev
def die(fd, parts, offset):
    real(fd, parts, offset)
    os.kill(os.getpid(), 9)
directio.os.pwritev = die
store.save("x", np.arange(10))
"""
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert result.returncode == -9
    [left] = list((tmp_path / "data").rglob(".tmp-*"))
    assert left.parent == tmp_path / "data" / "tmp"
    assert not [p for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()]


# -- permissions ------------------------------------------------------------------------------------
@pytest.mark.parametrize("umask, readable", [(0o022, True), (0o077, False)])
def test_datastore_files_follow_the_umask(af_home, umask, readable):
    previous = os.umask(umask)
    try:
        ok(run_flow(FLOW, "run", "--mb", "2"))
        key = word_artifact().sha
        damage(data_root(af_home) / "blobs" / key[:2] / key[2:], "truncated")
        ok(run_flow(FLOW, "run"))  # makes quarantine/ too
    finally:
        os.umask(previous)
    paths = [data_root(af_home), *data_root(af_home).rglob("*")]
    assert {p.name for p in paths} >= {"blobs", "tmp", "quarantine"}
    for path in paths:
        mode = path.stat().st_mode & 0o777
        want = 0o755 if path.is_dir() else 0o644
        if readable:
            assert mode == want, f"{path}: {oct(mode)}"
        else:
            assert mode & 0o077 == 0, f"{path}: {oct(mode)}"


# -- durability -------------------------------------------------------------------------------------
def test_a_blob_is_fsynced_before_its_rename_and_its_folder_after(tmp_path, monkeypatch):
    store = open_store(str(tmp_path / "data"))
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    key = store.save("x", "some text").key
    target = str(store.storage.path(key))
    renamed = events.index(("rename", target))
    assert [e for e in events[:renamed] if e[0] == "fsync" and Path(e[1]).parent == store.storage.tmp]
    assert ("fsync", str(Path(target).parent)) in events[renamed + 1:]
    assert ("fsync", str(store.storage.blobs)) in events  # the new fan-out folder's name is durable too
    events.clear()
    store.save("y", "some text")
    assert events == []  # a blob already stored costs no write and no fsync


def test_a_batch_publishes_its_blobs_together_each_fsynced_before_it_appears(tmp_path, monkeypatch):
    store = open_store(str(tmp_path / "data"))
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda src, dst: (events.append(("rename", str(src))), real_replace(src, dst))[1])
    values = [f"value {i}" for i in range(5)] + [np.arange(MMAP_MIN_BYTES // 8)]
    with store.batch():
        refs = [store.save(f"v{i}", v) for i, v in enumerate(values)]
        assert store.save("again", values[0]).key == refs[0].key  # found in the batch: not written twice
        assert not [p for p in store.storage.blobs.rglob("*") if p.is_file()]  # nothing visible yet
        assert store.load(refs[0]) == values[0] and np.array_equal(store.load(refs[-1]), values[-1])
        assert not [e for e in events if e[0] == "rename" or Path(e[1]).parent == store.storage.tmp]  # all deferred
    renames = [i for i, e in enumerate(events) if e[0] == "rename"]
    temps = {e[1] for e in events[: renames[0]] if e[0] == "fsync"}
    assert len(renames) == len(values) and {events[i][1] for i in renames} <= temps  # each fsynced before it appears
    assert store.load(refs[0]) == values[0] and not list(store.storage.tmp.iterdir())
