"""The S3 broker (datastore/s3broker.py): forked tasks' small-blob requests made by a process beside them.

Every request goes through a counting proxy in front of a real moto_server; the tasks are real forked
processes, as the local executor and the Dask task hosts fork them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from s3_server import CREDENTIALS, FaultProxy, s3_client  # noqa: E402

from artiflow.datastore.keys import content_key  # noqa: E402
from artiflow.datastore.s3 import S3Settings, S3Storage  # noqa: E402
from artiflow.datastore.s3broker import BROKER_BYTES, BROKER_PROCESS_NAME, BlobCache  # noqa: E402
from artiflow.datastore.store import ContentStore  # noqa: E402


@pytest.fixture
def credentials(monkeypatch):
    for name, value in {**CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def bucket(s3_session_bucket, credentials):
    endpoint, _ = s3_session_bucket
    name = f"brk-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return endpoint, name


@pytest.fixture
def served(bucket):
    """A storage behind a counting proxy whose forked tasks use its broker; (storage, proxy, endpoint, bucket)."""
    endpoint, name = bucket
    with FaultProxy(endpoint, ["pass"]) as proxy:
        storage = S3Storage(name, "p", S3Settings(endpoint_url=proxy.endpoint))
        storage.client()  # the runner's own client (and the tasks' spare), as before any fork
        stop = storage.serve_forked_tasks()
        try:
            yield storage, proxy, endpoint, name
        finally:
            stop()


class TaskRaised(Exception):
    """What the task raised: its type's name and message (exceptions do not travel back as objects)."""


def in_task(work):
    """Run `work()` in a forked child, as a task; what it returned, or TaskRaised("Type: message")."""
    import pickle

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:  # whatever happens, the child ends here: it must never go back into the test runner
            os.close(read)
            try:
                outcome = ("ok", work())
            except BaseException as exc:  # noqa: BLE001 - handed back to the test as words
                outcome = ("raised", f"{type(exc).__name__}: {getattr(exc, 'message', exc)}")
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(outcome))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "raised":
        raise TaskRaised(value)
    return value


def methods(proxy) -> list[str]:
    return [head.split(b" ", 1)[0].decode() for head in proxy.heads]


def test_small_blobs_of_tasks_go_through_the_broker_and_are_read_once(served):
    storage, proxy, _, _ = served
    body = os.urandom(1000)
    key = content_key([body])
    in_task(lambda: storage.put(key, [body]))
    assert methods(proxy) == ["PUT"]  # made by the broker, for the task
    for _ in range(3):  # what the broker wrote it serves again without asking S3
        assert in_task(lambda: bytes(storage.get(key))) == body
    assert methods(proxy) == ["PUT"]
    other = os.urandom(500)
    other_key = content_key([other])
    storage.put(other_key, [other])  # the runner's own write, on its own client: not the broker's
    del proxy.heads[:]
    for _ in range(3):
        assert in_task(lambda: bytes(storage.get(other_key))) == other
    assert methods(proxy) == ["GET"]  # fetched once, then kept


def test_a_large_blob_is_read_by_the_task_itself(served):
    storage, proxy, _, _ = served
    body = os.urandom(BROKER_BYTES + 1)
    key = content_key([body])
    storage.put(key, [body])
    del proxy.heads[:]
    assert in_task(lambda: bytes(storage.get(key))) == body
    first = methods(proxy)
    assert first == ["GET", "GET"]  # the broker's first look (headers only), then the task's own read
    del proxy.heads[:]
    assert in_task(lambda: bytes(storage.get(key))) == body
    assert methods(proxy) == ["GET"]  # the broker remembers it is large


def test_a_large_blob_is_written_by_the_task_itself(served):
    storage, proxy, endpoint, name = served
    body = os.urandom(BROKER_BYTES + 1)
    key = content_key([body])
    in_task(lambda: storage.put(key, [body]))
    assert methods(proxy) == ["PUT"]
    stored = s3_client(endpoint).get_object(Bucket=name, Key=storage.object_name(key))["Body"].read()
    assert stored == body


def test_a_missing_blob_is_missing_in_the_task(served):
    storage, _, _, _ = served
    with pytest.raises(TaskRaised, match="FileNotFoundError"):
        in_task(lambda: storage.get("0" * 32))


def test_a_corrupt_blob_is_never_served_from_the_cache(served):
    storage, _, endpoint, name = served
    body = b"the right bytes" * 10
    key = content_key([body])
    s3_client(endpoint).put_object(Bucket=name, Key=storage.object_name(key), Body=b"wrong bytes")
    store = ContentStore(storage)
    with pytest.raises(TaskRaised, match="BlobError: .* is corrupt"):
        in_task(lambda: bytes(store.get_bytes(key, "x", "F/1/s/1")))
    in_task(lambda: store.put_bytes([body]))  # written again, right this time
    assert in_task(lambda: bytes(store.get_bytes(key))) == body


def test_an_s3_error_reaches_the_task_as_the_same_error(bucket):
    endpoint, _ = bucket
    storage = S3Storage(f"nobucket-{uuid.uuid4().hex[:8]}", "", S3Settings(endpoint_url=endpoint, max_attempts=1))
    stop = storage.serve_forked_tasks()
    try:
        with pytest.raises(TaskRaised, match="ConfigError: The S3 bucket .* does not exist.*aws s3 mb"):
            in_task(lambda: storage.put("1" * 32, [b"x"]))
    finally:
        stop()


def brokers_of(process) -> list:
    """The broker children of a process; a forked broker names itself when it first runs, which under load is later."""
    deadline = time.monotonic() + 10
    while True:
        brokers = [p for p in process.children() if p.name() == BROKER_PROCESS_NAME]
        if brokers or time.monotonic() > deadline:
            return brokers
        time.sleep(0.05)


def test_a_task_goes_on_alone_when_the_broker_is_gone(served):
    storage, proxy, _, _ = served
    psutil = pytest.importorskip("psutil")
    brokers = brokers_of(psutil.Process())
    assert len(brokers) == 1
    brokers[0].kill()
    brokers[0].wait(10)
    body = os.urandom(100)
    key = content_key([body])
    in_task(lambda: storage.put(key, [body]))
    assert in_task(lambda: bytes(storage.get(key))) == body
    assert methods(proxy) == ["PUT", "GET"]  # each made by the task itself


def test_the_broker_ends_with_its_parent(bucket, tmp_path):
    psutil = pytest.importorskip("psutil")
    endpoint, name = bucket
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from artiflow.datastore.s3 import S3Settings, S3Storage
        storage = S3Storage({name!r}, "", S3Settings(endpoint_url={endpoint!r}))
        storage.serve_forked_tasks()
        print("serving", flush=True)
        time.sleep(60)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "serving"
        brokers = brokers_of(psutil.Process(parent.pid))
        assert len(brokers) == 1
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while brokers[0].is_running() and brokers[0].status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not brokers[0].is_running() or brokers[0].status() == psutil.STATUS_ZOMBIE


def test_the_cache_keeps_only_verified_blobs_within_its_budget():
    cache = BlobCache(budget=250)
    blobs = [os.urandom(100) for _ in range(3)]
    keys = [content_key([blob]) for blob in blobs]
    cache.keep(keys[0], b"not its content")
    assert cache.get(keys[0]) is None
    for key, blob in zip(keys, blobs):
        cache.keep(key, blob)
    assert cache.get(keys[0]) is None  # the least recently used went to make room
    assert cache.get(keys[1]) == blobs[1] and cache.get(keys[2]) == blobs[2]
    assert cache.held == 200
