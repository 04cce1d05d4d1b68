"""The S3 datastore against a real S3-compatible server (moto_server on 127.0.0.1), faults injected between
client and server, and the storage plug-in point (a store registered by entry point from a test package)."""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from conftest import ok, run_flow  # noqa: E402
from s3_server import CREDENTIALS, FaultProxy, free_port, moto_server, range_starts, s3_client, s3_env  # noqa: E402

PLUGIN_DIR = Path(__file__).parent / "plugin_store"
MiB = 1 << 20

HELLO = """
from artiflow import FlowSpec, step

class HelloFlow(FlowSpec):
    @step
    def start(self):
        self.message = "Hello from S3"
        self.next(self.end)

    @step
    def end(self):
        print(self.message)

if __name__ == "__main__":
    HelloFlow()
"""

FOREACH = """
import os
from artiflow import FlowSpec, step

class FanFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3, 4]
        self.next(self.square, foreach="items")

    @step
    def square(self):
        if os.environ.get("FAIL_ON") == str(self.input):
            raise RuntimeError("failing on purpose")
        self.value = self.input ** 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [i.value for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print("sum", sum(self.values))

if __name__ == "__main__":
    FanFlow()
"""

BIG = """
import numpy as np
from artiflow import FlowSpec, step

class BigFlow(FlowSpec):
    @step
    def start(self):
        self.x = np.random.default_rng(0).random(2_500_000)  # 20 MB: over a 5 MiB multipart threshold
        self.next(self.add_up)

    @step
    def add_up(self):
        self.total = float(self.x.sum())
        self.next(self.end)

    @step
    def end(self):
        print("total", round(self.total, 3))

if __name__ == "__main__":
    BigFlow()
"""


@pytest.fixture(scope="module")
def endpoint():
    """One moto_server for the module (each test has its own bucket)."""
    with moto_server() as url:
        yield url


@pytest.fixture
def bucket(endpoint):
    """A fresh bucket on the test server."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def credentials(monkeypatch):
    """Test credentials for boto3 in this process and its children (no user config file is read)."""
    for name, value in {**CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def on_s3(af_home, endpoint, bucket, monkeypatch):
    """This process (the client) and the flows it runs use s3://<bucket>/flows on the test server."""
    env = s3_env(endpoint, f"s3://{bucket}/flows")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def flow_file(home: Path, source: str, name: str = "flow.py") -> Path:
    path = home / name
    path.write_text(textwrap.dedent(source))
    return path


def blob_names(endpoint: str, bucket: str, prefix: str = "flows/blobs/") -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def latest(flow: str):
    from artiflow import Flow, namespace

    namespace(None)
    return Flow(flow).latest_run


# -- runs on S3 ---------------------------------------------------------------------------------------
def test_hello_on_s3_stores_blobs_in_the_bucket_and_the_client_reads_them(af_home, on_s3, endpoint, bucket):
    result = ok(run_flow(flow_file(af_home, HELLO), "run"))
    assert "Hello from S3" in result.stdout
    run = latest("HelloFlow")
    assert run.successful and run["end"].task.data.message == "Hello from S3"
    key = run["start"].task["message"].sha
    assert f"flows/blobs/{key[:2]}/{key[2:]}" in blob_names(endpoint, bucket)
    assert not (af_home / ".artiflow" / "data").exists()  # nothing went to the local datastore


def test_foreach_and_join_with_metaflow_variable_names(af_home, credentials, endpoint, bucket, monkeypatch):
    monkeypatch.setenv("METAFLOW_DATASTORE", "s3")
    monkeypatch.setenv("METAFLOW_DATATOOLS_S3ROOT", f"s3://{bucket}/mf")
    monkeypatch.setenv("ARTIFLOW_S3_ENDPOINT_URL", endpoint)
    result = ok(run_flow(flow_file(af_home, FOREACH), "run"))
    assert "sum 30" in result.stdout
    assert blob_names(endpoint, bucket, "mf/blobs/")
    run = latest("FanFlow")
    assert run["join"].task.data.values == [1, 4, 9, 16]
    assert sorted(t.data.value for t in run["square"]) == [1, 4, 9, 16]


def test_a_large_array_goes_as_multipart_and_comes_back_by_ranged_reads(af_home, on_s3, endpoint, bucket, monkeypatch):
    import numpy as np

    monkeypatch.setenv("ARTIFLOW_S3_MULTIPART_BYTES", str(5 * MiB))
    result = ok(run_flow(flow_file(af_home, BIG), "run"))
    expected = np.random.default_rng(0).random(2_500_000)
    assert f"total {round(float(expected.sum()), 3)}" in result.stdout
    task = latest("BigFlow")["start"].task
    key = task["x"].sha
    head = s3_client(endpoint).head_object(Bucket=bucket, Key=f"flows/blobs/{key[:2]}/{key[2:]}")
    assert head["ETag"].strip('"').endswith("-4")  # four 5 MiB parts: a multipart upload
    assert np.array_equal(task.data.x, expected)  # four ranged GETs into one buffer, verified
    assert not s3_client(endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_resume_on_s3_reuses_the_stored_tasks(af_home, on_s3):
    path = flow_file(af_home, FOREACH)
    assert run_flow(path, "run", env={"FAIL_ON": "3"}).returncode == 1
    assert "Resuming FanFlow/1 as run FanFlow/2" in ok(run_flow(path, "resume")).stdout
    run = latest("FanFlow")
    assert run.id == "2" and run["join"].task.data.values == [1, 4, 9, 16]
    reused = [t for t in run["square"] if t.origin_pathspec]
    assert len(reused) == 3 and all(t.origin_pathspec.startswith("FanFlow/1/") for t in reused)


def test_a_corrupt_object_fails_the_read_with_the_corrupt_blob_message(af_home, on_s3, endpoint, bucket):
    from artiflow.datastore import BlobError

    ok(run_flow(flow_file(af_home, HELLO), "run"))
    task = latest("HelloFlow")["start"].task
    key = task["message"].sha
    name = f"flows/blobs/{key[:2]}/{key[2:]}"
    s3_client(endpoint).put_object(Bucket=bucket, Key=name, Body=b"not what was stored")
    with pytest.raises(BlobError) as caught:
        task.data.message
    message = str(caught.value)
    assert f"Artifact 'message' in HelloFlow/1/start/1: blob {key} in s3://{bucket}/flows is corrupt" in message
    assert f"moved aside to s3://{bucket}/flows/quarantine/{key}." in message
    assert name not in blob_names(endpoint, bucket)  # never served again
    assert blob_names(endpoint, bucket, f"flows/quarantine/{key}.")  # but kept


# -- faults between the client and the server ----------------------------------------------------------
def test_a_run_survives_resets_503s_delays_and_cut_responses(af_home, on_s3, endpoint, monkeypatch):
    import numpy as np

    cycle = ["pass", "reset", "pass", "503", "pass", "delay", "pass", "cut"]
    with FaultProxy(endpoint, cycle, delay=0.2, cut_after=64 * 1024) as proxy:
        monkeypatch.setenv("ARTIFLOW_S3_ENDPOINT_URL", proxy.endpoint)
        monkeypatch.setenv("ARTIFLOW_S3_MULTIPART_BYTES", str(5 * MiB))
        result = ok(run_flow(flow_file(af_home, BIG), "run"))
        assert np.array_equal(latest("BigFlow")["start"].task.data.x, np.random.default_rng(0).random(2_500_000))
    assert "total" in result.stdout
    assert set(proxy.seen) == set(cycle) and len(proxy.seen) > 2 * len(cycle)


def test_a_read_cut_off_mid_stream_resumes_where_it_stopped(credentials, endpoint, bucket):
    from artiflow.datastore.s3 import S3Settings, S3Storage

    data = os.urandom(12 * MiB)
    direct = S3Storage(bucket, "p", S3Settings(endpoint_url=endpoint, multipart_bytes=5 * MiB))
    direct.put("ab" * 16, [data[: 3 * MiB], memoryview(data)[3 * MiB :]])
    # "short": the bytes sent before the drop all arrive (a reset may lose what the client had not read yet, which
    # under load is everything, and then the range is rightly asked again from its start)
    with FaultProxy(endpoint, ["short", "short", "pass"], cut_after=int(2.5 * MiB), only="GET") as proxy:
        faulty = S3Storage(bucket, "p", S3Settings(endpoint_url=proxy.endpoint, multipart_bytes=5 * MiB))
        assert faulty.get("ab" * 16) == data
    assert proxy.seen.count("short") >= 2
    resumed = [start for start in range_starts(proxy.heads) if start % (5 * MiB)]
    assert resumed  # a range asked again from where its cut came


def test_faults_that_never_stop_fail_the_run_with_a_clear_message(af_home, on_s3, endpoint, monkeypatch):
    with FaultProxy(endpoint, ["503"]) as proxy:
        monkeypatch.setenv("ARTIFLOW_S3_ENDPOINT_URL", proxy.endpoint)
        monkeypatch.setenv("ARTIFLOW_S3_MAX_ATTEMPTS", "2")
        result = run_flow(flow_file(af_home, HELLO), "run")
    assert result.returncode == 1
    assert "S3 datastore error" in result.stderr
    assert "failed (ServiceUnavailable: injected by the test proxy) after 2 attempts" in result.stderr
    assert f"at {proxy.endpoint} (ARTIFLOW_S3_ENDPOINT_URL)" in result.stderr and "ARTIFLOW_S3_MAX_ATTEMPTS" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failed_multipart_upload_is_aborted_and_leaves_no_object(credentials, endpoint, bucket):
    from artiflow.datastore.s3 import S3Settings, S3Storage
    from artiflow.datastore.s3errors import S3Error

    with FaultProxy(endpoint, ["503"], only="partNumber=3") as proxy:  # parts 1, 2 and 4 go in; 3 never does
        storage = S3Storage(bucket, "p", S3Settings(endpoint_url=proxy.endpoint, multipart_bytes=5 * MiB,
                                                    max_attempts=2, concurrency=2))
        with pytest.raises(S3Error, match=r"S3 upload of blob c{32} \(20971520 bytes\) in s3://t-\w+/p failed "
                                          r"\(ServiceUnavailable: injected by the test proxy\) after 2 attempts"):
            storage.put("c" * 32, [bytes(20 * MiB)])
    assert len(proxy.seen) >= 2 and set(proxy.seen) == {"503"}
    client = s3_client(endpoint)
    assert "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix="p/")  # nothing half-written is visible
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")  # and the parts sent were dropped


# -- configuration mistakes ----------------------------------------------------------------------------
def test_a_missing_bucket_says_which_and_how_to_create_it(af_home, endpoint, monkeypatch):
    for name, value in s3_env(endpoint, "s3://no-such-bucket-here/x").items():
        monkeypatch.setenv(name, value)
    result = run_flow(flow_file(af_home, HELLO), "run")
    assert result.returncode == 1
    assert "The S3 bucket 'no-such-bucket-here' does not exist" in result.stderr
    assert f"aws s3 mb s3://no-such-bucket-here --endpoint-url {endpoint}" in result.stderr


def test_an_unreachable_endpoint_names_the_url_and_the_variable(af_home, bucket, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"
    for name, value in s3_env(dead, f"s3://{bucket}/x", ARTIFLOW_S3_MAX_ATTEMPTS="2").items():
        monkeypatch.setenv(name, value)
    result = run_flow(flow_file(af_home, HELLO), "run")
    assert result.returncode == 1
    assert f"The S3 endpoint {dead} (ARTIFLOW_S3_ENDPOINT_URL) could not be reached" in result.stderr
    assert "Traceback" not in result.stderr


def test_denied_access_and_missing_credentials_say_what_to_check(credentials, endpoint, bucket):
    from botocore.exceptions import ClientError, NoCredentialsError

    from artiflow.datastore.s3 import S3Settings, S3Storage
    from artiflow.datastore.s3errors import translate
    from artiflow.exceptions import ConfigError

    storage = S3Storage(bucket, "p", S3Settings(endpoint_url=endpoint))
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
    error = translate(denied, "upload", "blob k", storage)
    assert isinstance(error, ConfigError)
    assert f"Access to the S3 datastore at s3://{bucket}/p was denied for upload of blob k" in str(error)
    assert "s3:PutObject" in str(error) and "AWS_PROFILE" in str(error)
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in str(translate(NoCredentialsError(), "x", "y", storage))


def test_without_boto3_the_run_says_how_to_install_it(af_home, tmp_path, monkeypatch):
    blocker = tmp_path / "no_boto3"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['boto3'] = None  # as if not installed\n")
    monkeypatch.setenv("ARTIFLOW_DATASTORE_ROOT", "s3://some-bucket/x")
    monkeypatch.setenv("PYTHONPATH", str(blocker))
    result = run_flow(flow_file(af_home, HELLO), "run")
    assert result.returncode == 1
    assert "The datastore root s3://some-bucket/x is on S3, which needs boto3" in result.stderr
    assert "pip install 'artiflow[s3]'" in result.stderr


@pytest.mark.parametrize("variable, value", [("ARTIFLOW_S3_MULTIPART_BYTES", "big"),
                                             ("ARTIFLOW_S3_MAX_ATTEMPTS", "0")])
def test_bad_s3_settings_are_refused_naming_the_variable(monkeypatch, variable, value):
    from artiflow.datastore.storage import open_storage
    from artiflow.exceptions import ConfigError

    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"{variable}='{value}' is not a positive whole number"):
        open_storage("s3://bucket/x")


def test_a_root_without_a_bucket_is_refused():
    from artiflow.datastore.storage import open_storage
    from artiflow.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"names no bucket; write it s3://bucket or s3://bucket/prefix"):
        open_storage("s3:///prefix")


# -- the storage interface and its plug-in point -------------------------------------------------------
def test_the_storage_contract_on_s3(credentials, endpoint, bucket):
    from artiflow.datastore.s3 import S3Settings, S3Storage

    storage = S3Storage(bucket, "deep/prefix/", S3Settings(endpoint_url=endpoint))
    assert storage.describe() == f"s3://{bucket}/deep/prefix"
    assert not storage.exists("0" * 32)
    with pytest.raises(FileNotFoundError):
        storage.get("0" * 32)
    storage.put("0" * 32, [])
    storage.put("1" * 32, [b"ab", memoryview(b"cd")])
    assert storage.exists("0" * 32, 0) and storage.exists("1" * 32, 4) and not storage.exists("1" * 32, 5)
    assert bytes(storage.get("0" * 32)) == b"" and bytes(storage.get("1" * 32)) == b"abcd"
    assert sorted((b.key, b.size) for b in storage.iter_blobs()) == [("0" * 32, 0), ("1" * 32, 4)]
    assert storage.quarantine("1" * 32, lambda data: False) is None and storage.exists("1" * 32)
    moved = storage.quarantine("1" * 32, lambda data: bytes(data) == b"abcd")
    assert moved.startswith(f"s3://{bucket}/deep/prefix/quarantine/{'1' * 32}.") and not storage.exists("1" * 32)
    assert storage.quarantined_copies("1" * 32) == [moved]


def test_an_object_replaced_while_it_is_read_is_read_again_whole(credentials, endpoint, bucket):
    from artiflow.datastore.s3 import S3Settings, S3Storage

    storage = S3Storage(bucket, "p", S3Settings(endpoint_url=endpoint, multipart_bytes=5 * MiB))
    old, new = os.urandom(12 * MiB), os.urandom(12 * MiB)
    storage.put("3" * 32, [old])
    client = storage.client()
    real_get, calls = client.get_object, []

    def get_then_replace(**request):  # the first GET sees the old object; then a writer replaces it
        answer = real_get(**request)
        calls.append(request)
        if len(calls) == 1:
            storage.put("3" * 32, [new])
        return answer

    client.get_object = get_then_replace
    assert storage.get("3" * 32) == new  # never a mix of the two
    assert any("IfMatch" in request for request in calls)


def test_a_blob_streams_range_by_range_with_its_key_checked_as_it_passes(credentials, endpoint, bucket):
    from artiflow.datastore import BlobError
    from artiflow.datastore.keys import content_key
    from artiflow.datastore.s3 import S3Settings, S3Storage
    from artiflow.datastore.store import ContentStore

    storage = S3Storage(bucket, "streamed", S3Settings(endpoint_url=endpoint, multipart_bytes=5 * MiB))
    store = ContentStore(storage)
    data = os.urandom(12 * MiB + 7)
    key = content_key([data])
    storage.put(key, [data])
    size, pieces = store.stream_bytes(key, "x", "F/1/s/1")
    got = list(pieces)
    assert size == len(data) and [p.nbytes for p in got] == [5 * MiB, 5 * MiB, 2 * MiB + 7]   # one range at a time
    assert b"".join(got) == data
    empty = content_key([b""])
    storage.put(empty, [])
    assert store.stream_bytes(empty)[0] == 0 and b"".join(store.stream_bytes(empty)[1]) == b""
    with pytest.raises(BlobError, match="is missing from the datastore"):
        store.stream_bytes("0" * 32, "x", "F/1/s/1")

    changed = bytearray(data)
    changed[6 * MiB] ^= 1
    s3_client(endpoint).put_object(Bucket=bucket, Key=storage.object_name(key), Body=bytes(changed))
    size, pieces = store.stream_bytes(key, "x", "F/1/s/1")
    assert next(pieces).nbytes == 5 * MiB   # bytes go out before the damage is known
    with pytest.raises(BlobError, match=r"Artifact 'x' in F/1/s/1: blob \w+ in s3://.* is corrupt.*moved aside"):
        list(pieces)
    assert not storage.exists(key) and storage.quarantined_copies(key)


def test_a_blob_replaced_while_it_streams_stops_the_stream(credentials, endpoint, bucket):
    from artiflow.datastore.s3 import S3Settings, S3Storage
    from artiflow.exceptions import ConfigError

    storage = S3Storage(bucket, "p", S3Settings(endpoint_url=endpoint, multipart_bytes=5 * MiB))
    storage.put("4" * 32, [os.urandom(12 * MiB)])
    _, pieces = storage.stream("4" * 32)
    next(pieces)
    storage.put("4" * 32, [os.urandom(12 * MiB)])   # never a mix of the two: the next range asks for the old ETag
    with pytest.raises(ConfigError, match="was replaced while it was read"):
        list(pieces)


def test_a_forked_process_makes_its_own_client(credentials, endpoint, bucket):
    from artiflow.datastore.s3 import S3Settings, S3Storage

    storage = S3Storage(bucket, "", S3Settings(endpoint_url=endpoint))
    storage.put("2" * 32, [b"x"])
    parent = storage.client()
    pid = os.fork()
    if pid == 0:  # the child: a new client, which works
        os._exit(0 if storage.client() is not parent and storage.exists("2" * 32, 1) else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert storage.client() is parent


def test_a_store_from_a_plugin_package_runs_a_flow(af_home, monkeypatch):
    folder = af_home / "memdir-blobs"
    monkeypatch.setenv("ARTIFLOW_DATASTORE_ROOT", f"memdir://{folder}")
    monkeypatch.setenv("PYTHONPATH", str(PLUGIN_DIR))
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))  # the client in this process finds the entry point too
    result = ok(run_flow(flow_file(af_home, FOREACH), "run"))
    assert "sum 30" in result.stdout
    assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) >= 5  # the blobs are its files
    run = latest("FanFlow")
    assert run["join"].task.data.values == [1, 4, 9, 16]
    import memdir_store

    assert f"memdir://{folder}" in memdir_store.OPENED


def test_an_unknown_scheme_lists_the_known_ones_and_how_to_add_one(af_home, monkeypatch):
    monkeypatch.setenv("ARTIFLOW_DATASTORE_ROOT", "nosuch://place")
    monkeypatch.setenv("PYTHONPATH", str(PLUGIN_DIR))
    result = run_flow(flow_file(af_home, HELLO), "run")
    assert result.returncode == 1
    assert "The datastore root nosuch://place uses the scheme 'nosuch://', which no installed storage" in result.stderr
    assert "Known schemes: file://, memdir://, s3://" in result.stderr
    assert "entry point in the 'artiflow.storage' group" in result.stderr and "Traceback" not in result.stderr


def test_a_plugin_that_returns_no_storage_is_refused_naming_what_it_lacks(monkeypatch):
    from artiflow.datastore import registry
    from artiflow.datastore.storage import open_storage
    from artiflow.exceptions import ConfigError

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    from memdir_store import open_broken

    registry.register_storage("broken", open_broken)
    try:
        with pytest.raises(ConfigError, match=r"'broken://' returned a NotAStorage, which lacks the Storage "
                                              r"method\(s\) exists, put, get, quarantine, quarantined_copies, batch"):
            open_storage("broken://x")
    finally:
        registry.unregister_storage("broken")
    with pytest.raises(ValueError, match="is not a URL scheme"):
        registry.register_storage("no way", open_broken)


def test_file_urls_and_plain_paths_are_local(tmp_path):
    from artiflow.datastore.storage import LocalStorage, open_storage
    from artiflow.exceptions import ConfigError

    assert open_storage(f"file://{tmp_path}/a").root == tmp_path / "a"
    assert isinstance(open_storage(str(tmp_path / "b")), LocalStorage)
    assert open_storage(f"{tmp_path}/odd://name").root == tmp_path / "odd:" / "name"  # a folder, not a scheme
    with pytest.raises(ConfigError, match="a file:// root must be on this machine"):
        open_storage("file://otherhost/data")
