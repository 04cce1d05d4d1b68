"""The datastore root is recorded with each run: a reader elsewhere (another ARTIFLOW_ROOT, no datastore setting)
that shares only the metadata database reads an S3 run's artifacts, logs, cards and code from the recorded root,
with its own endpoint and credentials. Runs recorded before the root was kept read as before."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from conftest import REPO, ok, run_flow  # noqa: E402
from s3_server import CREDENTIALS, s3_client, s3_env  # noqa: E402

ROOT_FLOW = """
import os
from artiflow import FlowSpec, card, step

class RootFlow(FlowSpec):
    @card
    @step
    def start(self):
        self.message = "read from the recorded root"
        print("a logged line")
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("FAIL_END"):
            raise RuntimeError("failing on purpose")

if __name__ == "__main__":
    RootFlow()
"""

READER = """
import json
from artiflow import Flow, namespace
from artiflow.cards import get_cards

namespace(None)
run = Flow("RootFlow").latest_run
task = run["start"].task
print(json.dumps({"message": task.data.message, "stdout": task.stdout, "card": get_cards(task)[0].get(),
                  "code": run.code.flowspec, "python": run.environment["python"]}))
"""
SETTINGS = ("ARTIFLOW_DATASTORE_ROOT", "METAFLOW_DATASTORE", "METAFLOW_DATATOOLS_S3ROOT", "ARTIFLOW_ROOT",
            "ARTIFLOW_METADATA_URL", "ARTIFLOW_S3_ENDPOINT_URL")


@pytest.fixture
def bucket(s3_session_bucket):
    endpoint, _ = s3_session_bucket
    name = f"root-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return endpoint, name


@pytest.fixture
def shared(af_home) -> str:
    """The metadata database both machines use (on PostgreSQL for a team; a shared SQLite file here)."""
    return f"sqlite:///{af_home / 'shared' / 'metadata.db'}"


def flow_file(home: Path) -> Path:
    path = home / "writer" / "root_flow.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(ROOT_FLOW))
    return path


def write(home: Path, metadata_url: str, *args: str, **env: str) -> None:
    """Run the flow as the writing machine: its own ARTIFLOW_ROOT, the shared metadata."""
    ok(run_flow(flow_file(home), *args, "run", env={"ARTIFLOW_ROOT": str(home / "writer" / ".artiflow"),
                                                    "ARTIFLOW_METADATA_URL": metadata_url, **env}))


def read(home: Path, metadata_url: str, **env: str) -> subprocess.CompletedProcess:
    """Read the latest run as another machine: another ARTIFLOW_ROOT and folder, no datastore setting."""
    folder = home / f"reader-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    base = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    full = {**base, "PYTHONPATH": str(REPO / "src"), "ARTIFLOW_ROOT": str(folder / ".artiflow"),
            "ARTIFLOW_METADATA_URL": metadata_url, **env}
    return subprocess.run([sys.executable, "-c", READER], capture_output=True, text=True, env=full, cwd=folder,
                          timeout=120)


def reader_access(endpoint: str) -> dict[str, str]:
    """What the reading machine has of its own: credentials and the endpoint, the boto3 way."""
    return {**CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "ARTIFLOW_S3_ENDPOINT_URL": endpoint}


def assert_read_back(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["message"] == "read from the recorded root"
    assert "a logged line" in seen["stdout"]
    assert "<html" in seen["card"].lower()
    assert "class RootFlow" in seen["code"] and seen["python"]


def recorded_roots(metadata_url: str) -> list:
    with sqlite3.connect(metadata_url.removeprefix("sqlite:///")) as conn:
        return [row[0] for row in conn.execute("SELECT datastore_root FROM runs ORDER BY run_id")]


def test_a_reader_elsewhere_reads_an_s3_run_from_the_root_recorded_with_it(af_home, bucket, shared):
    endpoint, name = bucket
    write(af_home, shared, **s3_env(endpoint, f"s3://{name}/team/"))
    assert recorded_roots(shared) == [f"s3://{name}/team"]
    assert_read_back(read(af_home, shared, **reader_access(endpoint)))


def test_the_recorded_root_wins_over_the_readers_own_setting(af_home, bucket, shared):
    endpoint, name = bucket
    write(af_home, shared, **s3_env(endpoint, f"s3://{name}/team"))
    elsewhere = {"ARTIFLOW_DATASTORE_ROOT": str(af_home / "reader-own-data")}
    assert_read_back(read(af_home, shared, **reader_access(endpoint), **elsewhere))


def test_the_endpoint_and_credentials_are_the_readers(af_home, bucket, shared):
    endpoint, name = bucket
    write(af_home, shared, **s3_env(endpoint, f"s3://{name}/team"))
    result = read(af_home, shared, **{**reader_access(endpoint), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert result.returncode == 1
    assert f"No usable AWS credentials for the S3 datastore at s3://{name}/team" in result.stderr


def test_datastore_s3_on_the_command_line_is_recorded_too(af_home, bucket, shared):
    endpoint, name = bucket
    access = reader_access(endpoint)
    write(af_home, shared, "--datastore", "s3", "--datastore-root", f"s3://{name}/flag", **access)
    assert recorded_roots(shared) == [f"s3://{name}/flag"]
    assert_read_back(read(af_home, shared, **access))


def test_a_relative_local_root_is_recorded_as_an_absolute_path(af_home, shared):
    write(af_home, shared, "--datastore-root", "relative-blobs")
    (root,) = recorded_roots(shared)
    assert os.path.isabs(root) and Path(root).name == "relative-blobs"
    assert_read_back(read(af_home, shared))


def test_a_run_recorded_before_the_root_was_kept_reads_from_the_readers_setting(af_home, shared):
    write(af_home, shared)
    data = af_home / "writer" / ".artiflow" / "data"
    with sqlite3.connect(shared.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE runs SET datastore_root = NULL")  # as an earlier artiflow left it
    missing = read(af_home, shared)
    assert missing.returncode == 1 and "is missing from the datastore at" in missing.stderr
    assert "check ARTIFLOW_DATASTORE_ROOT" in missing.stderr
    assert_read_back(read(af_home, shared, ARTIFLOW_DATASTORE_ROOT=str(data)))


def test_a_recorded_local_folder_this_machine_lacks_falls_back_to_the_readers_setting(af_home, shared):
    write(af_home, shared)
    moved = af_home / "moved-data"
    shutil.move(af_home / "writer" / ".artiflow" / "data", moved)  # the project moved (or: another machine)
    assert_read_back(read(af_home, shared, ARTIFLOW_DATASTORE_ROOT=str(moved)))


def test_a_resume_into_another_datastore_is_refused_naming_the_runs_one(af_home, bucket, shared):
    endpoint, name = bucket
    on_s3 = s3_env(endpoint, f"s3://{name}/team")
    env = {"ARTIFLOW_ROOT": str(af_home / "writer" / ".artiflow"), "ARTIFLOW_METADATA_URL": shared}
    path = flow_file(af_home)
    assert run_flow(path, "run", env={**env, **on_s3, "FAIL_END": "1"}).returncode == 1
    local = {**on_s3, "ARTIFLOW_DATASTORE_ROOT": ""}
    refused = run_flow(path, "resume", env={**env, **local})
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert (f"Run RootFlow/1 stored its artifacts in the datastore at s3://{name}/team, and this resume would store "
            f"its own at {af_home / 'writer' / '.artiflow' / 'data'}: the tasks it reuses would not be found there. "
            f"Resume with that datastore: --datastore-root s3://{name}/team") in refused.stderr
    resumed = ok(run_flow(path, "--datastore-root", f"s3://{name}/team", "resume", env={**env, **local}))
    assert "Resuming RootFlow/1 as run RootFlow/2" in resumed.stdout + resumed.stderr
    assert recorded_roots(shared) == [f"s3://{name}/team"] * 2


def artiflow_reader(home: Path, metadata_url: str, *args: str) -> subprocess.CompletedProcess:
    """`artiflow ARGS` as a third machine: its own ARTIFLOW_ROOT, no datastore setting, the shared metadata."""
    folder = home / f"cli-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    base = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    env = {**base, "PYTHONPATH": str(REPO / "src"), "ARTIFLOW_ROOT": str(folder / ".artiflow"),
           "ARTIFLOW_METADATA_URL": metadata_url}
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=env,
                          cwd=folder, timeout=120)


def test_verify_and_diff_read_each_run_from_its_own_recorded_datastore(af_home, shared):
    first, second = af_home / "blobs-one", af_home / "blobs-two"
    write(af_home, shared, "--datastore-root", str(first))
    write(af_home, shared, "--datastore-root", str(second))
    assert recorded_roots(shared) == [str(first), str(second)]

    checked = artiflow_reader(af_home, shared, "verify", "RootFlow")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"in the 2 datastores they were stored in ({first}, {second})" in checked.stdout

    compared = artiflow_reader(af_home, shared, "diff", "RootFlow/1", "RootFlow/2")
    assert compared.returncode == 0, compared.stderr
    assert "Code: the same (1 file)" in compared.stdout, compared.stdout  # both snapshots read, each from its own

    for blob in (second / "blobs").glob("*/*"):
        blob.unlink()  # the second run's datastore lost its blobs; the first's are whole
    broken = artiflow_reader(af_home, shared, "verify", "RootFlow")
    assert broken.returncode == 1
    assert "3 bad blobs: 3 missing." in broken.stdout
    assert "RootFlow/2/start/1/message" in broken.stdout and "RootFlow/2/start/1 (stdout)" in broken.stdout
    assert "RootFlow/1/" not in broken.stdout  # the same blobs are whole in the first run's datastore
