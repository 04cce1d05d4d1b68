"""How many S3 requests a run makes, counted for real: every request of the runner and its tasks goes through a
pass-through proxy in front of moto_server, which records each one's request line.

On S3 a request (4-11 ms here, more on AWS) costs more than the Python around it, so a trivial task is held to at
most 3. Locally it makes 1: a foreach task writes its artifact (1 PUT, no HEAD before it); its reads of the list,
and the join's read of its artifact, are answered by the runner's broker (datastore/s3broker.py) from the blobs
it moved already (the list the start step wrote, the artifact the task wrote). A linear step writes its artifact
(1 PUT).
"""

from __future__ import annotations

import os
import textwrap
import uuid
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from conftest import ok, run_flow  # noqa: E402
from s3_server import CREDENTIALS, FaultProxy, s3_client, s3_env  # noqa: E402

MAX_REQUESTS_PER_TRIVIAL_TASK = 3

FOREACH = """
import os
from artiflow import FlowSpec, step

class CountFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(int(os.environ["ELEMENTS"])))
        self.next(self.double, foreach="items")

    @step
    def double(self):
        self.x = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.x for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    CountFlow()
"""

LINEAR = """
from artiflow import FlowSpec, step

class LineFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.middle)

    @step
    def middle(self):
        self.y = "set in middle"
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    LineFlow()
"""
SHORT = """
from artiflow import FlowSpec, step

class LineFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    LineFlow()
"""


@pytest.fixture
def bucket(s3_session_bucket):
    """A fresh bucket on the session's moto_server: (endpoint, bucket name)."""
    endpoint, _ = s3_session_bucket
    name = f"req-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return endpoint, name


@pytest.fixture
def credentials(monkeypatch):
    for name, value in {**CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}.items():
        monkeypatch.setenv(name, value)


def requests_of_run(home: Path, source: str, bucket: tuple[str, str], **env: str) -> list[str]:
    """Run the flow (a fresh prefix) with every S3 request through a counting proxy; `METHOD kind` of each request
    (kind: blob, or the first path segment after the prefix)."""
    endpoint, name = bucket
    path = home / f"flow_{uuid.uuid4().hex[:6]}.py"
    path.write_text(textwrap.dedent(source))
    with FaultProxy(endpoint, ["pass"]) as proxy:
        ok(run_flow(path, "run", env={**s3_env(proxy.endpoint, f"s3://{name}/{uuid.uuid4().hex[:8]}"), **env}))
    return [_kind(head) for head in proxy.heads]


def _kind(head: bytes) -> str:
    method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
    parts = target.split("?")[0].split("/")  # "", bucket, prefix, kind, ...
    return f"{method} {parts[3] if len(parts) > 3 else target}"


def test_a_trivial_foreach_task_costs_at_most_three_requests(af_home, bucket):
    few = requests_of_run(af_home, FOREACH, bucket, ELEMENTS="2")
    more = requests_of_run(af_home, FOREACH, bucket, ELEMENTS="8")
    per_task = (len(more) - len(few)) / 6  # what one more element costs: its task, and the join's read of it
    counts = f"2 elements: {sorted(Counter(few).items())}; 8 elements: {sorted(Counter(more).items())}"
    assert per_task <= MAX_REQUESTS_PER_TRIVIAL_TASK, f"{per_task} requests per foreach task ({counts})"
    # each task's PUT; the list and the task's artifact are read from the broker's cache, not S3
    assert Counter(more) - Counter(few) == Counter({"PUT blobs": 6}), counts
    assert not [r for r in more if r.startswith("HEAD")], counts  # small blobs are PUT without asking first


def test_a_trivial_linear_step_costs_one_put(af_home, bucket):
    without = requests_of_run(af_home, SHORT, bucket)
    with_step = requests_of_run(af_home, LINEAR, bucket)
    extra = Counter(with_step) - Counter(without)
    assert len(with_step) - len(without) <= MAX_REQUESTS_PER_TRIVIAL_TASK, f"{without} vs {with_step}"
    assert extra == Counter({"PUT blobs": 1}), f"the step's extra requests: {extra}"


def test_a_task_that_prints_pays_one_put_per_stream(af_home, bucket):
    silent = requests_of_run(af_home, LINEAR, bucket)
    printing = requests_of_run(af_home, LINEAR.replace('self.y = "set in middle"',
                                                       'self.y = "set in middle"; print("hi")'), bucket)
    assert Counter(printing) - Counter(silent) == Counter({"PUT blobs": 1})  # stdout; the empty stderr is no blob


def test_small_blobs_are_put_unasked_and_large_ones_asked_about_first(credentials, bucket):
    from artiflow.datastore.s3 import UNASKED_PUT_BYTES, S3Settings, S3Storage
    from artiflow.datastore.store import ContentStore

    endpoint, name = bucket
    small, large = b"s" * 100, os.urandom(UNASKED_PUT_BYTES)
    with FaultProxy(endpoint, ["pass"]) as proxy:
        store = ContentStore(S3Storage(name, "p", S3Settings(endpoint_url=proxy.endpoint)))
        for _ in range(2):
            store.put_bytes([small])
        small_requests = [_kind(head) for head in proxy.heads]
        del proxy.heads[:]
        for _ in range(2):
            key = store.put_bytes([large])
        large_requests = [_kind(head) for head in proxy.heads]
        assert bytes(store.get_bytes(key)) == large  # and what is read is verified against its key
    assert small_requests == ["PUT blobs", "PUT blobs"]  # the same bytes again: harmless, and one request
    assert large_requests == ["HEAD blobs", "PUT blobs", "HEAD blobs"]  # stored already: not sent again


def test_a_forked_task_takes_the_spare_client_and_its_own_children_make_one(credentials, bucket):
    from artiflow.datastore.s3 import S3Settings, S3Storage

    endpoint, name = bucket
    storage = S3Storage(name, "", S3Settings(endpoint_url=endpoint))
    storage.put("4" * 32, [b"y"])  # the runner's first client; the spare is made with it, never used here
    parent, spare = storage.client(), storage._spare[1]
    assert spare is not parent and storage.client() is parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a task: the spare is its client (no connection was ever opened on it), and it works
        took = storage.client() is spare and storage.exists("4" * 32, 1)
        grandchild = os.fork()
        if grandchild == 0:  # forked from a process that used the spare: a client of its own
            os._exit(0 if storage.client() not in (spare, parent) and storage.exists("4" * 32, 1) else 1)
        fine = os.waitpid(grandchild, 0)[1] == 0
        os.write(write, b"%d%d" % (took, fine))
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert os.read(read, 2) == b"11"
    assert storage.client() is parent
