"""`artiflow gc`: drops old runs but the protected ones, frees the blobs no kept run uses, and stays safe
beside a run in progress, a writer racing on one blob, and another gc."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from artiflow.cli.inspect import format_size
from artiflow.datastore import gc, open_store
from artiflow.datastore import storage as storage_module
from artiflow.datastore.storage import LocalStorage

from conftest import REPO, ok, run_flow

pytestmark = pytest.mark.both_backends  # once on SQLite, once on PostgreSQL (conftest.py)

DEAD_PID = 999_999_999  # above any pid_max: never a running process
DAY = 86400.0

GC_FLOW = '''
import os
import time
from pathlib import Path

from artiflow import FlowSpec, step

GATE = os.environ.get("GC_TEST_GATE")
if os.environ.get("GC_TEST_NO_TOUCH"):  # the protection off: a dedupe leaves the blob's mtime as it was
    from artiflow.datastore import storage
    storage._touch = lambda path: True
if GATE:  # the task stops right after it deduped against GC_TEST_KEY, before its artifacts are recorded
    from artiflow.datastore.storage import LocalStorage
    real_exists = LocalStorage.exists

    def gated_exists(self, key, size=None):
        found = real_exists(self, key, size)
        if key == os.environ["GC_TEST_KEY"] and not Path(GATE, "deduped").exists():
            Path(GATE, "deduped.tmp").write_text(str(found))
            os.replace(Path(GATE, "deduped.tmp"), Path(GATE, "deduped"))  # the test reads it once it exists
            deadline = time.time() + 60
            while not Path(GATE, "go").exists() and time.time() < deadline:
                time.sleep(0.02)
        return found

    LocalStorage.exists = gated_exists


class GcFlow(FlowSpec):
    @step
    def start(self):
        self.unique = os.environ.get("UNIQUE", "u")
        self.shared = "the same in every run"
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("FAIL_END"):
            raise RuntimeError("failing on purpose")
        self.done = self.unique + "!"


if __name__ == "__main__":
    GcFlow()
'''


# -- helpers ------------------------------------------------------------------------------------------
def flow_file(home: Path) -> Path:
    path = home / "gc_flow.py"
    if not path.exists():
        path.write_text(textwrap.dedent(GC_FLOW))
    return path


def run_gc_flow(home: Path, unique: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_flow(flow_file(home), *(args or ("run",)), env={"UNIQUE": unique, **(env or {})})


def cli_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def artiflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=cli_env(),
                          timeout=120)


def start_gc(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "artiflow", "gc", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env())


def data_root(home: Path) -> Path:
    return home / ".artiflow" / "data"


def blobs(home: Path) -> dict[str, tuple[int, float]]:
    """Every blob file: key -> (size, mtime)."""
    found = {}
    for path in (data_root(home) / "blobs").glob("*/*"):
        st = path.stat()
        found[path.parent.name + path.name] = (st.st_size, st.st_mtime)
    return found


def blob_path(home: Path, key: str) -> Path:
    return data_root(home) / "blobs" / key[:2] / key[2:]


def age_blobs(home: Path, days: float) -> None:
    """Make every blob look last used `days` ago (gc leaves recently used blobs alone)."""
    then = time.time() - days * DAY
    for path in (data_root(home) / "blobs").glob("*/*"):
        os.utime(path, (then, then))


def set_created_at(home: Path, run_id: int, when: float) -> None:
    """Backdate a run (no command does that): through the store's own write path, on either backend."""
    from artiflow.config import load_config
    from artiflow.metadata import open_metadata

    store = open_metadata(load_config().metadata_url)
    store._write([("UPDATE runs SET created_at = ? WHERE flow = 'GcFlow' AND run_id = ?", (when, run_id))])
    store.close()


def key_of(run_id: int, name: str = "unique", step: str = "start") -> str:
    from artiflow import Run

    return Run(f"GcFlow/{run_id}")[step].task[name].sha


def run_ids() -> list[int]:
    from artiflow import Flow

    return sorted(int(run.id) for run in Flow("GcFlow"))


def freed_bytes(stdout: str) -> int:
    return int(re.search(r"unreferenced blobs?, (?:freed|freeing) [^(]+\((\d+) bytes\)", stdout)[1])


def assert_kept_runs_read_back() -> None:
    """Every artifact of every successful task of every remaining run loads (verified), and verify agrees."""
    from artiflow import Flow

    loaded = 0
    for run in Flow("GcFlow"):
        for step in run:
            for task in step:
                if task.successful:
                    for artifact in task.artifacts:
                        artifact.data
                        loaded += 1
    assert loaded > 0
    assert "No problems found." in ok(artiflow("verify")).stdout


def make_runs(home: Path, *uniques: str) -> None:
    for unique in uniques:
        ok(run_gc_flow(home, unique))


# -- what is dropped, what is freed ---------------------------------------------------------------------
def test_keep_last_drops_older_runs_and_frees_their_unique_blobs_but_not_shared_ones(af_home):
    make_runs(af_home, "first", "second", "third")
    gone = {key_of(1), key_of(2), key_of(1, "done", "end"), key_of(2, "done", "end")}
    shared, kept = key_of(3, "shared"), {key_of(3), key_of(3, "done", "end")}
    age_blobs(af_home, 2)
    before = blobs(af_home)

    out = ok(artiflow("gc", "--keep-last", "1")).stdout
    after = blobs(af_home)
    assert "Dropped 2 runs of GcFlow: 1, 2." in out
    assert run_ids() == [3]
    assert gone.isdisjoint(after) and shared in after and kept <= set(after)
    deleted = set(before) - set(after)
    assert deleted == gone  # the rest is shared with run 3 (code, environment, `shared`)
    assert "Deleted 4 unreferenced blobs, freed" in out and freed_bytes(out) == sum(before[k][0] for k in gone)
    freed = freed_bytes(out)
    assert f"Freed {format_size(freed)} ({freed} bytes) in total." in out  # no temp files: the blobs' bytes
    assert_kept_runs_read_back()
    from artiflow import Run

    assert Run("GcFlow/3")["end"].task.data.done == "third!"


def test_a_run_tagged_keep_and_the_origin_of_a_kept_resume_stay(af_home):
    ok(run_gc_flow(af_home, "precious", "run", "--tag", "keep"))
    ok(run_gc_flow(af_home, "plain"))
    assert run_gc_flow(af_home, "origin", env={"FAIL_END": "1"}).returncode == 1
    ok(run_gc_flow(af_home, "origin", "resume"))
    plain = key_of(2)
    age_blobs(af_home, 2)

    out = ok(artiflow("gc", "--keep-last", "1")).stdout
    assert "Dropped 1 run of GcFlow: 2." in out
    assert "Kept GcFlow/1: tagged keep." in out
    assert "Kept GcFlow/3: linked from run 4 (resumed, reused or cached from it)." in out
    assert run_ids() == [1, 3, 4] and not blob_path(af_home, plain).exists()
    from artiflow import Run

    assert Run("GcFlow/4")["start"].task.origin_pathspec == "GcFlow/3/start/1"
    assert Run("GcFlow/4")["end"].task.data.done == "origin!"
    assert_kept_runs_read_back()


def test_older_than_drops_the_runs_started_before_that_age(af_home):
    make_runs(af_home, "old", "new")
    set_created_at(af_home, 1, time.time() - 40 * DAY)
    old = key_of(1)
    age_blobs(af_home, 2)
    out = ok(artiflow("gc", "--older-than", "30d", "GcFlow")).stdout
    assert "Dropped 1 run of GcFlow: 1." in out and run_ids() == [2]
    assert not blob_path(af_home, old).exists()
    assert "No runs to drop in GcFlow." in ok(artiflow("gc", "--older-than", "2w")).stdout
    assert_kept_runs_read_back()


def test_recently_used_blobs_are_left_for_a_later_gc(af_home):
    make_runs(af_home, "first", "second")
    out = ok(artiflow("gc", "--keep-last", "1")).stdout  # blobs not aged: used within the margin
    assert "Dropped 1 run of GcFlow: 1." in out and "Deleted 0 unreferenced blobs" in out
    assert re.search(r"Left 2 unreferenced blobs used since \S+ \S+ \(a run may still be recording them\)", out)
    assert blob_path(af_home, key_of(2)).exists()


def test_a_dry_run_says_what_would_go_and_changes_nothing(af_home):
    make_runs(af_home, "first", "second", "third")
    age_blobs(af_home, 2)
    tmp = data_root(af_home) / "tmp"
    stale = make_temp(tmp, f".tmp-{DEAD_PID}-dry", 7200)
    before = blobs(af_home)

    out = ok(artiflow("gc", "--keep-last", "1", "--dry-run")).stdout
    assert "Would drop 2 runs of GcFlow: 1, 2." in out and "Would delete 4 unreferenced blobs, freeing" in out
    assert "Would remove 1 stale temp file, 4 B (4 bytes)." in out and "Dry run: nothing was changed;" in out
    sizes = {key: size for key, (size, _) in blobs(af_home).items()}
    assert stale.exists() and sizes == {key: size for key, (size, _) in before.items()} and run_ids() == [1, 2, 3]
    assert not (data_root(af_home) / "trash").exists()

    real = ok(artiflow("gc", "--keep-last", "1")).stdout
    assert "Deleted 4 unreferenced blobs" in real and freed_bytes(real) == freed_bytes(out)


class Recorded:
    """A metadata store's blob references, as `blob_references` gives them."""

    def __init__(self, **kinds: set) -> None:
        from artiflow.metadata.records import BlobReferences

        self.refs = BlobReferences(**kinds)

    def blob_references(self, without: dict | None = None):
        return self.refs


def test_references_cover_every_log_part_card_blobs_and_the_files_of_code_snapshots(tmp_path):
    store = open_store(str(tmp_path / "data"))
    flow_code = store.put_bytes([b"print('the flow')"])
    manifest = store.put_bytes([json.dumps({"format": 1, "flow_file": "f.py", "files": {"f.py": flow_code}}).encode()])
    a, b, c, d, e, f, g = (ch * 32 for ch in "abcdef0")
    recorded = Recorded(artifact={a}, log={f"parts:{b} {c}", d}, code={manifest}, environment={e},
                        card={json.dumps({"key": f, "data_key": g, "size": 3}), json.dumps({"key": f}), "not json"})
    keys, problem = gc.referenced_keys(recorded, store.storage)
    assert problem is None and keys == {a, b, c, d, e, f, g, manifest, flow_code}


@pytest.mark.parametrize("manifest, why", [(b"{not json", "Expecting property name"),
                                           (b'{"format": 2, "files": {}}', "format 2, not 1")])
def test_an_unreadable_code_snapshot_deletes_no_blob_and_says_why(tmp_path, manifest, why):
    store = open_store(str(tmp_path / "data"))
    code = store.put_bytes([manifest])
    _, problem = gc.referenced_keys(Recorded(code={code}), store.storage)
    assert problem.startswith(f"the code snapshot blob {code} cannot be read (") and why in problem
    assert problem.endswith("so the blobs of the files it names are unknown; run `artiflow verify`, and upgrade "
                            "artiflow if the snapshot is newer")


# -- temp files and leftover trash -------------------------------------------------------------------------
def make_temp(folder: Path, name: str, age: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"half")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_stale_temp_files_are_removed_and_those_of_live_or_recent_writers_kept(af_home):
    make_runs(af_home, "only")
    tmp = data_root(af_home) / "tmp"
    stale = make_temp(tmp, f".tmp-{DEAD_PID}-old", 7200)
    live = make_temp(tmp, f".tmp-{os.getpid()}-live", 7200)
    recent = make_temp(tmp, f".tmp-{DEAD_PID}-new", 10)
    out = ok(artiflow("gc", "--keep-last", "1")).stdout
    assert "Removed 1 stale temp file, 4 B (4 bytes)." in out
    assert not stale.exists() and live.exists() and recent.exists()


def test_blobs_a_dead_gc_left_in_the_trash_are_put_back_and_judged_again(af_home):
    make_runs(af_home, "first", "second")
    needed, unneeded = key_of(2), key_of(1)
    age_blobs(af_home, 2)
    trash = data_root(af_home) / "trash"
    trash.mkdir()
    os.rename(blob_path(af_home, needed), trash / f"{needed}.{DEAD_PID}-aaaa")  # a gc killed mid-way
    ok(artiflow("gc", "--keep-last", "2"))  # drops nothing, but puts the blob back first
    assert blob_path(af_home, needed).exists() and not list(trash.iterdir())

    os.rename(blob_path(af_home, unneeded), trash / f"{unneeded}.{DEAD_PID}-bbbb")
    out = ok(artiflow("gc", "--keep-last", "1")).stdout
    assert "Put back 1 blob that a gc which died left in the trash." in out
    assert not blob_path(af_home, unneeded).exists() and not list(trash.iterdir())
    assert_kept_runs_read_back()


# -- user mistakes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    ([], r"artiflow gc needs exactly one of --keep-last N and --older-than AGE \(neither was given\): "
         r"--keep-last 10 keeps the newest 10 runs of each flow"),
    (["--keep-last", "2", "--older-than", "3d"], r"exactly one of --keep-last N and --older-than AGE \(both was given"),
    (["--older-than", "30x"], r"--older-than '30x' is not an age artiflow gc understands: give a whole number and a "
                              r"unit: 90m, 12h, 30d or 2w \(s, m, h, d, w: seconds to weeks\), more than 0"),
    (["--older-than", "0d"], r"--older-than '0d' is not an age"),
    (["--keep-last", "0"], r"--keep-last 0 would keep no run: give 1 or more"),
    (["--keep-last", "-3"], r"--keep-last -3 would keep no run: give 1 or more"),
    (["--keep-last", "1", "NoSuchFlow"], r"No flow 'NoSuchFlow' has runs recorded in (\S+metadata.db|postgresql://\S+)\. Flows there: "
                                         r"GcFlow\. Give one of them, or leave FLOW out to collect every flow\."),
])
def test_mistakes_are_refused_with_what_to_do(af_home, args, message):
    make_runs(af_home, "only")
    result = artiflow("gc", *args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert run_ids() == [1]


def test_gc_where_nothing_was_ever_run_says_so(af_home):
    result = artiflow("gc", "--keep-last", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "No runs are recorded in " in result.stderr and "there is nothing to collect" in result.stderr


# -- concurrency: a run in progress -----------------------------------------------------------------------
@pytest.mark.parametrize("protected", [True, False], ids=["touch-on-dedupe", "protection-off"])
def test_a_run_in_progress_that_dedupes_against_a_dropped_runs_blob_loses_nothing(af_home, protected):
    """Run 3 saves a value equal to dropped run 1's artifact (dedupe: no write) and gc runs before run 3
    records it. The touch in `exists` keeps the blob; with the touch switched off the blob is lost."""
    make_runs(af_home, "same", "other")
    target = key_of(1)
    age_blobs(af_home, 5)
    set_created_at(af_home, 1, time.time() - 4 * DAY)
    gate = af_home / "gate"
    gate.mkdir()
    env = {**cli_env(), "UNIQUE": "same", "GC_TEST_GATE": str(gate), "GC_TEST_KEY": target,
           **({} if protected else {"GC_TEST_NO_TOUCH": "1"})}
    runner = subprocess.Popen([sys.executable, str(flow_file(af_home)), "run"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 60
        while not (gate / "deduped").exists() and time.time() < deadline and runner.poll() is None:
            time.sleep(0.02)
        assert (gate / "deduped").read_text() == "True"  # the writer found the blob and skipped writing it
        set_created_at(af_home, 3, time.time() - 3 * DAY)  # in progress, and "old": dropped but for the guard
        out = ok(artiflow("gc", "--older-than", "1d")).stdout
    finally:
        (gate / "go").write_text("")
        stdout, stderr = runner.communicate(timeout=60)
    assert "Dropped 1 run of GcFlow: 1." in out and "Kept GcFlow/3: in progress." in out
    assert run_ids() == [2, 3]
    if protected:
        assert runner.returncode == 0, stderr
        from artiflow import Run

        assert Run("GcFlow/3")["end"].task.data.done == "same!"
        assert_kept_runs_read_back()
    else:  # the test depends on the protection: without it the run's next step finds the value gone
        assert runner.returncode == 1 and not blob_path(af_home, target).exists()
        assert f"Artifact 'unique' in GcFlow/3/end/2: blob {target} is missing from the datastore" in stderr


def run_record(run_id: int, status: str, lost: bool, created_at: float, heartbeat_at: float):
    from artiflow.metadata.records import RunRecord

    return RunRecord("F", run_id, "tester", status, created_at, None, heartbeat_at, {}, None, {}, None, None, None,
                     lost=lost)


def test_the_cutoff_is_before_the_oldest_run_that_may_still_write():
    now = 1_000_000.0
    running = run_record(1, "running", False, now - 500, now)
    silent = run_record(2, "failed", True, now - 900, now - 3600)
    dead = run_record(3, "failed", True, now - 5 * DAY, now - 4 * DAY)
    finished = run_record(4, "succeeded", False, now - 9 * DAY, now - 9 * DAY)
    writers = [("F", run) for run in (running, silent, dead, finished) if gc.may_still_write(run, now)]
    assert writers == [("F", running), ("F", silent)]  # a runner silent for an hour may be suspended
    assert gc.blob_cutoff(now, writers, margin=60) == now - 960
    assert gc.blob_cutoff(now, [], margin=60) == now - 60
    assert gc.MARGIN_SECONDS > storage_module.RECENT_USE_SECONDS  # a blob used without a touch stays safe


def test_a_resume_that_starts_from_a_run_while_gc_drops_it_holds_the_blobs_back(af_home, monkeypatch):
    make_runs(af_home, "first", "second")
    first = key_of(1)
    age_blobs(af_home, 2)
    from artiflow.client.context import get_context

    context = get_context()
    meta, real_delete = context.meta, context.meta.delete_runs

    def delete_while_a_resume_starts(flow, run_ids):
        real_delete(flow, run_ids)
        meta.new_run("GcFlow", "tester", [], {}, origin_run_id=1)  # it read run 1 just before the delete

    monkeypatch.setattr(meta, "delete_runs", delete_while_a_resume_starts)
    outcome = gc.collect(meta, context.store.storage, ["GcFlow"], gc.Policy(keep_last=1))
    assert outcome.plan.drop == {"GcFlow": [1]} and outcome.blobs_deleted == 0
    assert outcome.held_back.startswith("run GcFlow/3 started during gc from dropped run 1; the blobs of the dropped "
                                        "runs are left for the next gc")
    assert blob_path(af_home, first).exists()
    from artiflow.cli.gc import storage_lines

    assert storage_lines(outcome)[0].startswith("Deleted no blob: run GcFlow/3 started during gc from dropped run 1")


# -- concurrency: a writer and gc racing on one blob (deterministic, on LocalStorage) ----------------------
CONTENT = b"an old blob no record names"
USES = {  # what a run does with a blob it is about to record by reference
    "dedupe": lambda store, key: store.put_bytes([CONTENT]) == key,  # a task saving an equal value
    "read": lambda store, key: store.check(key) == "ok",  # the step cache verifying a candidate's blob
}


def old_unreferenced_blob(tmp_path: Path):
    store = open_store(str(tmp_path / "data"))
    key = store.put_bytes([CONTENT])
    path = store.storage.path(key)
    os.utime(path, (time.time() - DAY, time.time() - DAY))
    return store, key, time.time() - 60


def listed_as_old(storage: LocalStorage, key: str, cutoff: float) -> bool:
    return any(b.key == key and b.mtime < cutoff for b in storage.iter_blobs())


@pytest.mark.parametrize("use", USES)
def test_a_use_between_the_listing_and_the_rename_keeps_the_blob(tmp_path, use):
    store, key, cutoff = old_unreferenced_blob(tmp_path)
    assert listed_as_old(store.storage, key, cutoff)  # gc lists it: old and unreferenced
    assert USES[use](store, key)  # a run uses it (and touches it)
    assert store.storage.remove_if_unused(key, cutoff) is None  # gc's rename + recheck sees the touch
    assert bytes(store.get_bytes(key)) == CONTENT
    assert not list((tmp_path / "data" / "trash").iterdir())


@pytest.mark.parametrize("use, found", [("dedupe", True), ("read", False)])
def test_a_use_after_the_rename_finds_the_blob_gone(tmp_path, monkeypatch, use, found):
    """A writer then writes it again; a cache lookup sees it missing (a miss): nothing records a lost blob."""
    store, key, cutoff = old_unreferenced_blob(tmp_path)
    real_rename = os.rename
    seen = []

    def rename_then_use(src, dst):
        real_rename(src, dst)
        if "trash" in str(dst):  # gc has just moved the blob aside: a run comes now
            seen.append(USES[use](store, key))

    monkeypatch.setattr(os, "rename", rename_then_use)
    assert listed_as_old(store.storage, key, cutoff)
    assert store.storage.remove_if_unused(key, cutoff) is not None  # the old copy was deleted
    assert seen == [found] and (store.check(key) == "ok") == found  # a dedupe wrote it again; a read missed


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize("protection", ["_touch", "_used_since"])
def test_without_the_touch_or_the_recheck_the_racing_run_would_lose_its_blob(tmp_path, monkeypatch, protection, use):
    """The first race with one protection switched off: the blob is lost, so the tests above depend on it."""
    off = {"_touch": lambda path: True, "_used_since": lambda st, cutoff: False}[protection]
    monkeypatch.setattr(storage_module, protection, off)
    store, key, cutoff = old_unreferenced_blob(tmp_path)
    assert listed_as_old(store.storage, key, cutoff)
    assert USES[use](store, key)  # the run believes the blob is stored
    store.storage.remove_if_unused(key, cutoff)
    assert store.check(key) == "missing"


# -- concurrency: two gc processes -----------------------------------------------------------------------
def test_two_gc_processes_at_once_both_succeed_and_kept_runs_read_back(af_home):
    make_runs(af_home, "one", "two", "three", "four")
    gone = {key_of(run_id) for run_id in (1, 2, 3)}
    age_blobs(af_home, 2)
    first, second = start_gc("--keep-last", "1"), start_gc("--keep-last", "1")
    outs = [proc.communicate(timeout=120) for proc in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    dropped = "".join(out for out, _ in outs)
    assert dropped.count("Dropped 3 runs of GcFlow: 1, 2, 3.") == 1  # one after the other, by the lock
    assert run_ids() == [4] and gone.isdisjoint(blobs(af_home))
    assert_kept_runs_read_back()


def test_a_second_gc_waits_for_the_first_and_says_so(af_home):
    make_runs(af_home, "one", "two")
    storage = LocalStorage(data_root(af_home))
    with gc.exclusive(gc.lock_path(storage), on_wait=lambda pid: None):
        waiting = start_gc("--keep-last", "1")
        line = waiting.stdout.readline()
        assert line == f"Waiting for another artiflow gc (pid {os.getpid()}) to finish...\n"
        assert waiting.poll() is None  # still waiting while the lock is held
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "Dropped 1 run of GcFlow: 1." in out


def test_two_collections_without_the_lock_delete_each_unused_blob_once_and_keep_the_rest(tmp_path):
    """Two gc passes at once on one store (threads, no lock): the trash step alone keeps them apart."""
    store = open_store(str(tmp_path / "data"))
    unused = {store.put_bytes([f"unused {i}".encode()]) for i in range(300)}
    used = {store.put_bytes([f"used {i}".encode()]) for i in range(100)}
    then = time.time() - DAY
    for key in unused | used:
        os.utime(store.storage.path(key), (then, then))
    outcome = gc.Outcome(gc.Plan({}, [], []), dry_run=False, cutoff=time.time() - 60)
    twin = gc.Outcome(gc.Plan({}, [], []), dry_run=False, cutoff=outcome.cutoff)
    passes = [threading.Thread(target=gc.sweep_blobs, args=(store.storage, used, o)) for o in (outcome, twin)]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join()
    assert outcome.blobs_deleted + twin.blobs_deleted == len(unused)
    assert {b.key for b in store.storage.iter_blobs()} == used
    assert all(store.check(key) == "ok" for key in used)
