"""`--datastore s3|local` on the flow's command line (Metaflow's flag), and the seed's METAFLOW_DATASTORE=s3, end to
end against moto_server: where the root comes from, what `local` overrides, and the errors of a missing root."""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from conftest import ok, run_flow  # noqa: E402
from s3_server import CREDENTIALS, free_port, s3_client  # noqa: E402

HELLO = """
from artiflow import FlowSpec, step

class CliFlow(FlowSpec):
    @step
    def start(self):
        self.message = "stored where --datastore says"
        self.next(self.end)

    @step
    def end(self):
        print(self.message)

if __name__ == "__main__":
    CliFlow()
"""


@pytest.fixture
def endpoint(s3_session_bucket):
    return s3_session_bucket[0]


@pytest.fixture
def bucket(endpoint):
    name = f"cli-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_access(af_home, endpoint, monkeypatch):
    """Credentials and the endpoint for this process and its flows, but no datastore root."""
    for name, value in {**CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                        "ARTIFLOW_S3_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    for name in ("ARTIFLOW_DATASTORE_ROOT", "METAFLOW_DATASTORE", "METAFLOW_DATATOOLS_S3ROOT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def flow(af_home) -> Path:
    path = af_home / "cli_flow.py"
    path.write_text(textwrap.dedent(HELLO))
    return path


def objects(endpoint: str, bucket: str, prefix: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def local_blobs(home: Path) -> list[Path]:
    return [p for p in (home / ".artiflow" / "data" / "blobs").rglob("*") if p.is_file()]


# -- --datastore s3: where the root comes from ----------------------------------------------------------------
@pytest.mark.parametrize("variable", ["ARTIFLOW_DATASTORE_ROOT", "METAFLOW_DATATOOLS_S3ROOT"])
def test_datastore_s3_takes_the_root_from_the_environment(s3_access, flow, endpoint, bucket, monkeypatch, variable):
    monkeypatch.setenv(variable, f"s3://{bucket}/from-env")
    ok(run_flow(flow, "--datastore", "s3", "run"))
    assert objects(endpoint, bucket, "from-env/blobs/")
    assert not local_blobs(flow.parent)
    dump = ok(run_flow(flow, "--datastore", "s3", "dump", "1/start")).stdout
    assert "stored where --datastore says" in dump


def test_datastore_s3_prefers_an_s3_datastore_root_over_the_seed_variable(s3_access, flow, endpoint, bucket,
                                                                          monkeypatch):
    monkeypatch.setenv("ARTIFLOW_DATASTORE_ROOT", f"s3://{bucket}/artiflow-root")
    monkeypatch.setenv("METAFLOW_DATATOOLS_S3ROOT", f"s3://{bucket}/seed-root")
    ok(run_flow(flow, "--datastore=s3", "run"))
    assert objects(endpoint, bucket, "artiflow-root/blobs/") and not objects(endpoint, bucket, "seed-root/")


def test_datastore_s3_with_a_datastore_root_flag_uses_that(s3_access, flow, endpoint, bucket, monkeypatch):
    monkeypatch.setenv("METAFLOW_DATATOOLS_S3ROOT", f"s3://{bucket}/seed-root")
    ok(run_flow(flow, "--datastore", "s3", "--datastore-root", f"s3://{bucket}/flag-root", "run"))
    assert objects(endpoint, bucket, "flag-root/blobs/") and not objects(endpoint, bucket, "seed-root/")


def test_the_seed_variables_alone_put_a_run_on_s3(s3_access, flow, endpoint, bucket, monkeypatch):
    monkeypatch.setenv("METAFLOW_DATASTORE", "s3")
    monkeypatch.setenv("METAFLOW_DATATOOLS_S3ROOT", f"s3://{bucket}/seed")
    assert "stored where --datastore says" in ok(run_flow(flow, "run")).stdout
    assert objects(endpoint, bucket, "seed/blobs/") and not local_blobs(flow.parent)
    assert "stored where --datastore says" in ok(run_flow(flow, "dump", "1/start")).stdout


# -- --datastore local: the folder, whatever S3 setting the environment has ---------------------------------------
@pytest.mark.parametrize("setting", [{"ARTIFLOW_DATASTORE_ROOT": "s3://{bucket}/x"},
                                     {"METAFLOW_DATASTORE": "s3", "METAFLOW_DATATOOLS_S3ROOT": "s3://{bucket}/x"}])
def test_datastore_local_forces_the_local_folder(s3_access, flow, endpoint, bucket, monkeypatch, setting):
    for name, value in setting.items():
        monkeypatch.setenv(name, value.format(bucket=bucket))
    monkeypatch.setenv("ARTIFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # S3 is not even reachable
    ok(run_flow(flow, "--datastore", "local", "run"))
    assert local_blobs(flow.parent) and not objects(endpoint, bucket, "x/")
    assert "stored where --datastore says" in ok(run_flow(flow, "--datastore", "local", "dump", "1/start")).stdout


def test_datastore_local_keeps_a_local_datastore_root(s3_access, flow, monkeypatch):
    elsewhere = flow.parent / "elsewhere"
    monkeypatch.setenv("ARTIFLOW_DATASTORE_ROOT", str(elsewhere))
    ok(run_flow(flow, "--datastore", "local", "run"))
    assert any(p.is_file() for p in (elsewhere / "blobs").rglob("*"))


# -- mistakes -------------------------------------------------------------------------------------------------
def test_datastore_s3_without_any_s3_root_says_what_to_set(s3_access, flow):
    result = run_flow(flow, "--datastore", "s3", "run")
    assert result.returncode == 1
    assert ("--datastore s3 needs to know where on S3 to store artifacts, and no S3 root is set: set "
            "ARTIFLOW_DATASTORE_ROOT=s3://bucket/prefix (or the seed's METAFLOW_DATATOOLS_S3ROOT), or give "
            "--datastore-root s3://bucket/prefix.") in result.stderr
    assert "Traceback" not in result.stderr


def test_datastore_s3_with_a_local_datastore_root_variable_names_it(s3_access, flow, monkeypatch):
    monkeypatch.setenv("ARTIFLOW_DATASTORE_ROOT", "/srv/blobs")
    result = run_flow(flow, "--datastore", "s3", "run")
    assert result.returncode == 1
    assert "no S3 root is set (ARTIFLOW_DATASTORE_ROOT is /srv/blobs, not an s3:// URL)" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--datastore", "s3", "--datastore-root", "/srv/blobs"],
     "--datastore s3 --datastore-root /srv/blobs: with --datastore s3 the root is an S3 URL, s3://bucket/prefix."),
    (["--datastore", "local", "--datastore-root", "s3://b/p"],
     "--datastore local --datastore-root s3://b/p: a local datastore's root is a folder, not a URL. Give a folder, "
     "or use --datastore s3 to store artifacts at that URL."),
    (["--datastore", "gcs"], "--datastore=gcs is not supported by this version of artiflow; supported: local, s3."),
])
def test_contradicting_datastore_options_are_refused(s3_access, flow, args, message):
    result = run_flow(flow, *args, "run")
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_seed_root_that_is_not_an_s3_url_is_refused(s3_access, flow, monkeypatch):
    monkeypatch.setenv("METAFLOW_DATATOOLS_S3ROOT", "/not/s3")
    result = run_flow(flow, "--datastore", "s3", "run")
    assert result.returncode == 1
    assert "--datastore s3: METAFLOW_DATATOOLS_S3ROOT=/not/s3 is not an S3 URL; write it s3://bucket/prefix." \
        in result.stderr
