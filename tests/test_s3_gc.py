"""`artiflow gc` on an S3 datastore (moto_server): unused blobs go to a trash first, a later gc deletes them (in
DeleteObjects batches), and a run that relied on a blob while it went to the trash still reads it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from conftest import REPO, ok, run_flow  # noqa: E402
from s3_server import FaultProxy, s3_client, s3_env  # noqa: E402

MARGIN = 1  # ARTIFLOW_S3_GC_MARGIN_SECONDS of these tests: S3 times are whole seconds, so wait 2 s to be older
MiB = 1 << 20

GC_FLOW = '''
import os
import time
from pathlib import Path

from artiflow import FlowSpec, step

GATE = os.environ.get("GC_TEST_GATE")
if GATE:  # the task stops right after it stored GC_TEST_KEY, before its artifacts are recorded
    from artiflow.datastore.s3 import S3Storage
    real_put = S3Storage.put

    def gated_put(self, key, chunks):
        real_put(self, key, chunks)
        if key == os.environ["GC_TEST_KEY"] and not Path(GATE, "stored").exists():
            Path(GATE, "stored").write_text("")
            deadline = time.time() + 60
            while not Path(GATE, "go").exists() and time.time() < deadline:
                time.sleep(0.02)

    S3Storage.put = gated_put


class GcFlow(FlowSpec):
    @step
    def start(self):
        self.unique = os.environ.get("UNIQUE", "u")
        self.shared = "the same in every run"
        self.next(self.end)

    @step
    def end(self):
        if not os.environ.get("END_READS_NOTHING"):
            self.done = self.unique + "!"


if __name__ == "__main__":
    GcFlow()
'''


@pytest.fixture
def on_s3(af_home, s3_session_bucket, monkeypatch):
    """This process and its flows on a fresh prefix of a fresh bucket, gc margin 1 s: (endpoint, bucket, prefix)."""
    endpoint, _ = s3_session_bucket
    bucket = f"gc-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    for name, value in s3_env(endpoint, f"s3://{bucket}/af", ARTIFLOW_S3_GC_MARGIN_SECONDS=str(MARGIN)).items():
        monkeypatch.setenv(name, value)
    return endpoint, bucket, "af"


def flow_file(home: Path) -> Path:
    path = home / "gc_flow.py"
    if not path.exists():
        path.write_text(textwrap.dedent(GC_FLOW))
    return path


def make_runs(home: Path, *uniques: str) -> None:
    for unique in uniques:
        ok(run_flow(flow_file(home), "run", env={"UNIQUE": unique}))


def artiflow(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
            **(env or {})}
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=full,
                          timeout=120)


def names(on_s3, kind: str) -> dict[str, str]:
    """The objects under `<prefix>/<kind>/`: blob key -> object name."""
    endpoint, bucket, prefix = on_s3
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{kind}/")
    found = {}
    for item in listing.get("Contents", []):
        rest = item["Key"][len(f"{prefix}/{kind}/"):]
        found[rest.replace("/", "", 1).partition(".")[0]] = item["Key"]
    return found


def key_of(run_id: int, name: str = "unique", step: str = "start") -> str:
    from artiflow import Run

    return Run(f"GcFlow/{run_id}")[step].task[name].sha


def run_ids() -> list[int]:
    from artiflow import Flow

    return sorted(int(run.id) for run in Flow("GcFlow"))


def wait_out_the_margin() -> None:
    time.sleep(MARGIN + 1.1)


def assert_kept_runs_read_back() -> None:
    from artiflow import Flow

    for run in Flow("GcFlow"):
        for step in run:
            for task in step:
                for artifact in task.artifacts:
                    artifact.data
    assert "No problems found." in ok(artiflow("verify")).stdout


# -- what goes, and when -------------------------------------------------------------------------------------
def test_gc_moves_unused_blobs_to_the_trash_and_the_next_gc_deletes_them(on_s3, af_home):
    make_runs(af_home, "first", "second", "third")
    gone = {key_of(1), key_of(2), key_of(1, "done", "end"), key_of(2, "done", "end")}
    kept = {key_of(3), key_of(3, "shared"), key_of(3, "done", "end")}
    wait_out_the_margin()

    out = ok(artiflow("gc", "--keep-last", "1")).stdout
    assert "Dropped 2 runs of GcFlow: 1, 2." in out
    assert "Deleted 0 blobs an earlier gc moved to the trash, freed 0 B (0 bytes)." in out
    moved = int(re.search(r"Moved (\d+) unreferenced blobs?, .* to the trash \(s3://[\w-]+/af/trash/\): a gc run "
                          r"1 s or more from now deletes those that no run records by then\.", out)[1])
    assert moved >= len(gone)  # also the dropped runs' code snapshots and logs, if not shared
    assert gone <= set(names(on_s3, "trash")) and gone.isdisjoint(names(on_s3, "blobs"))
    assert kept <= set(names(on_s3, "blobs"))
    assert run_ids() == [3]
    assert_kept_runs_read_back()

    wait_out_the_margin()
    again = ok(artiflow("gc", "--keep-last", "1")).stdout
    assert "No runs to drop in GcFlow." in again
    freed = re.search(r"Deleted (\d+) blobs? an earlier gc moved to the trash, freed .*\((\d+) bytes\)\.", again)
    assert int(freed[1]) == moved and int(freed[2]) > 0
    assert "Moved 0 unreferenced blobs, 0 B (0 bytes), to the trash" in again
    assert not names(on_s3, "trash")
    assert_kept_runs_read_back()


def test_a_gc_right_after_the_runs_keeps_everything_recent(on_s3, af_home, monkeypatch):
    monkeypatch.delenv("ARTIFLOW_S3_GC_MARGIN_SECONDS")  # the default: 20 minutes
    make_runs(af_home, "first", "second")
    out = ok(artiflow("gc", "--keep-last", "1")).stdout
    assert "Moved 0 unreferenced blobs, 0 B (0 bytes), to the trash" in out and "20 min or more from now" in out
    assert re.search(r"Left \d+ unreferenced blobs? used since", out)
    assert key_of(2) in names(on_s3, "blobs") and not names(on_s3, "trash")


def test_a_dry_run_says_what_would_go_and_changes_nothing(on_s3, af_home):
    make_runs(af_home, "first", "second")
    wait_out_the_margin()
    blobs_before = names(on_s3, "blobs")
    out = ok(artiflow("gc", "--keep-last", "1", "--dry-run")).stdout
    assert "Would drop 1 run of GcFlow: 1." in out
    assert re.search(r"Would move [1-9]\d* unreferenced blobs?, .* to the trash", out)
    assert "Dry run: nothing was changed" in out
    assert names(on_s3, "blobs") == blobs_before and not names(on_s3, "trash") and run_ids() == [1, 2]


def test_trash_entries_a_record_names_again_are_put_back_and_the_rest_wait_for_the_cutoff(on_s3):
    from artiflow.datastore import open_store
    from artiflow.datastore.storage import BlobInfo

    store = open_store(os.environ["ARTIFLOW_DATASTORE_ROOT"])
    storage = store.storage
    wanted, unwanted = store.put_bytes([b"recorded later"]), store.put_bytes([b"nobody's"])
    blobs = {blob.key: blob for blob in storage.iter_blobs()}
    assert storage.set_aside([blobs[wanted], blobs[unwanted]]) == (2, len(b"recorded later") + len(b"nobody's"))
    assert set(names(on_s3, "trash")) == {wanted, unwanted} and not names(on_s3, "blobs")

    settled = storage.settle_trash({wanted}, cutoff=time.time() - 3600)  # entries newer than the cutoff stay
    assert (settled.restored, settled.deleted, settled.waiting) == (1, 0, 1)
    assert set(names(on_s3, "blobs")) == {wanted} and set(names(on_s3, "trash")) == {unwanted}

    dry = storage.settle_trash(set(), cutoff=time.time() + 3600, dry_run=True)
    assert (dry.deleted, dry.freed) == (1, len(b"nobody's")) and set(names(on_s3, "trash")) == {unwanted}
    settled = storage.settle_trash(set(), cutoff=time.time() + 3600)
    assert (settled.deleted, settled.freed) == (1, len(b"nobody's")) and not names(on_s3, "trash")
    assert storage.set_aside([BlobInfo(unwanted, 8, 0.0)]) == (0, 0)  # gone already: skipped


def test_a_blob_read_from_the_trash_is_verified_and_put_back(on_s3):
    from artiflow.datastore import BlobError, open_store

    store = open_store(os.environ["ARTIFLOW_DATASTORE_ROOT"])
    key = store.put_bytes([b"still needed"])
    bad = store.put_bytes([b"will be damaged"])
    store.storage.set_aside(list(store.storage.iter_blobs()))
    assert bytes(store.get_bytes(key)) == b"still needed"
    assert key in names(on_s3, "blobs") and key not in names(on_s3, "trash")
    endpoint, bucket, _ = on_s3
    s3_client(endpoint).put_object(Bucket=bucket, Key=names(on_s3, "trash")[bad], Body=b"damaged")
    with pytest.raises(BlobError, match=f"Blob {bad} in s3://{bucket}/af is corrupt"):
        store.get_bytes(bad)


def test_deletes_go_in_batches(on_s3, monkeypatch):
    from dataclasses import replace

    from artiflow.config import load_config
    from artiflow.datastore import open_store, s3gc

    monkeypatch.setattr(s3gc, "DELETE_BATCH", 10)  # S3's limit is 1000 a request: the same code, fewer blobs
    endpoint, bucket, _ = on_s3
    store = open_store(os.environ["ARTIFLOW_DATASTORE_ROOT"])
    for i in range(25):
        store.put_bytes([b"blob %d" % i])
    with FaultProxy(endpoint, ["pass"]) as proxy:
        config = replace(load_config(), s3_endpoint_url=proxy.endpoint)
        storage = open_store(os.environ["ARTIFLOW_DATASTORE_ROOT"], config).storage
        assert storage.set_aside(storage.iter_blobs())[0] == 25
        assert storage.settle_trash(set(), cutoff=time.time() + 3600).deleted == 25
    deletes = [head for head in proxy.heads if head.split(b"\r\n")[0].startswith(b"POST") and b"?delete" in head]
    assert len(deletes) == 6  # 10 + 10 + 5 originals, then as many trash entries
    assert not names(on_s3, "blobs") and not names(on_s3, "trash")


# -- a run relying on a blob while gc moves it ---------------------------------------------------------------
@pytest.mark.parametrize("reader", ["its next step", "nobody until the next gc"])
def test_a_run_that_stores_a_dropped_runs_blob_while_gc_moves_it_loses_nothing(on_s3, af_home, reader):
    """Run 3 stores the same value as dropped run 1 (a PUT of the same key) after gc listed the blobs and before
    gc moves them: the blob goes to the trash although run 3 relies on it. Run 3's next step still reads it (from
    the runner's S3 broker, which keeps what it wrote; a task without one reads it from the trash:
    test_a_blob_read_from_the_trash_is_verified_and_put_back), and the next gc puts it back, since run 3
    recorded it."""
    from artiflow.client.context import get_context
    from artiflow.datastore import gc

    make_runs(af_home, "same", "other")
    target = key_of(1)
    wait_out_the_margin()
    gate = af_home / "gate"
    gate.mkdir()
    env = {"UNIQUE": "same", "GC_TEST_GATE": str(gate), "GC_TEST_KEY": target,
           **({"END_READS_NOTHING": "1"} if reader != "its next step" else {})}
    context = get_context()
    storage = context.store.storage
    real_set_aside, runner = storage.set_aside, []

    def set_aside_after_the_put(unused):
        listed = list(unused)  # gc has listed the blobs: now run 3 starts and stores `unique`
        assert target in [blob.key for blob in listed]  # dropped run 1's, old: to be moved to the trash
        runner.append(threading.Thread(target=lambda: runner.append(run_flow(flow_file(af_home), "run", env=env))))
        runner[0].start()
        deadline = time.time() + 60
        while not (gate / "stored").exists() and time.time() < deadline:
            time.sleep(0.02)
        return real_set_aside(listed)

    storage.set_aside = set_aside_after_the_put
    outcome = gc.collect(context.meta, storage, ["GcFlow"], gc.Policy(keep_last=1))
    (gate / "go").write_text("")
    runner[0].join(timeout=60)
    assert outcome.plan.drop == {"GcFlow": [1]} and outcome.blobs_set_aside >= 1
    ok(runner[1])
    from artiflow import Run

    if reader == "its next step":  # read from the runner's broker, which holds what run 3's start wrote
        assert Run("GcFlow/3")["end"].task.data.done == "same!"
    assert target not in names(on_s3, "blobs") and target in names(on_s3, "trash")
    wait_out_the_margin()
    out = ok(artiflow("gc", "--keep-last", "2")).stdout
    # and, when run 3's end ran, its "same!" too: dropped run 1 had stored it, so it went to the trash as well
    back = "1 blob" if reader != "its next step" else "2 blobs"
    assert f"Put back {back} from the trash (a run recorded them after an earlier gc had moved them there)." in out
    assert target in names(on_s3, "blobs") and target not in names(on_s3, "trash")
    assert Run("GcFlow/3")["start"].task.data.unique == "same"
    assert_kept_runs_read_back()


def test_two_gcs_at_once_both_succeed_and_kept_runs_read_back(on_s3, af_home):
    make_runs(af_home, "one", "two", "three")
    wait_out_the_margin()
    procs = [subprocess.Popen([sys.executable, "-m", "artiflow", "gc", "--keep-last", "1"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO / "src")}) for _ in range(2)]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outs
    assert run_ids() == [3]
    assert {key_of(3), key_of(3, "shared")} <= set(names(on_s3, "blobs"))
    assert_kept_runs_read_back()


# -- unfinished uploads, settings ----------------------------------------------------------------------------
def test_unfinished_multipart_uploads_past_the_grace_are_aborted(on_s3, af_home):
    endpoint, bucket, prefix = on_s3
    make_runs(af_home, "one")
    client = s3_client(endpoint)
    upload = client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/blobs/ab/{'c' * 30}")
    client.upload_part(Bucket=bucket, Key=f"{prefix}/blobs/ab/{'c' * 30}", UploadId=upload["UploadId"],
                       PartNumber=1, Body=b"x" * (5 * MiB))
    # moto says every upload was initiated in 2010: a grace of over 300 years keeps it, an hour does not
    kept = ok(artiflow("gc", "--keep-last", "1", env={"ARTIFLOW_TEMP_GRACE_SECONDS": "1e10"})).stdout
    assert "Removed 0 unfinished multipart uploads, 0 B (0 bytes)." in kept
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    dry = ok(artiflow("gc", "--keep-last", "1", "--dry-run")).stdout
    assert "Would remove 1 unfinished multipart upload, 5.2 MB (5242880 bytes)." in dry
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    out = ok(artiflow("gc", "--keep-last", "1")).stdout  # the default grace, an hour
    assert "Removed 1 unfinished multipart upload, 5.2 MB (5242880 bytes)." in out
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_bad_gc_margin_is_refused_naming_the_variable(on_s3, af_home, value):
    make_runs(af_home, "one")
    result = artiflow("gc", "--keep-last", "1", env={"ARTIFLOW_S3_GC_MARGIN_SECONDS": value})
    assert result.returncode == 1
    assert f"ARTIFLOW_S3_GC_MARGIN_SECONDS='{value}' is not a positive whole number; unset it for the default " \
           f"(1200)." in result.stderr
    assert "Traceback" not in result.stderr
