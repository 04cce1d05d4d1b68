"""PostgreSQL metadata with a real server (tests/pg_server.py): 32 runners on 4 simulated machines at once, the
server's clock judging lost runs, connections after a fork or a drop, and every way of failing to reach the
database explained (password hidden). The store's behaviour on both backends is tests/test_metadata_store.py's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import REPO, ok, run_flow

pytest.importorskip("boto3")
pytest.importorskip("moto")

from pg_server import PASSWORD, SUPERUSER  # noqa: E402
from s3_server import free_port, moto_server, s3_client, s3_env  # noqa: E402

MACHINES, RUNNERS_PER_MACHINE = 4, 8

SCALE_FLOW = """
from artiflow import FlowSpec, Parameter, step

class ScaleFlow(FlowSpec):
    runner = Parameter("runner", default="")

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.value = self.input ** 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total, "by", self.runner)

if __name__ == "__main__":
    ScaleFlow()
"""

# what one machine sees through the client: every run of ScaleFlow, its tasks, artifacts and logs
READ_ALL = """
import json
from artiflow import Flow, namespace

namespace(None)
seen = {}
for run in Flow("ScaleFlow"):
    squares = sorted(task.data.value for task in run["square"])
    end = run["end"].task
    seen[run.id] = {"successful": run.successful, "finished": run.finished, "runner": run["start"].task.data.runner,
                    "tags": sorted(run.user_tags), "user": run.user, "squares": squares, "total": run["join"].task.data.total,
                    "tasks": sum(1 for step in run for _ in step), "stdout": end.stdout.strip()}
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def endpoint():
    """A real S3-compatible server (moto_server on 127.0.0.1) for the module: the machines' shared datastore."""
    with moto_server() as url:
        yield url


def machine_env(home: Path, metadata_url: str, s3: dict[str, str]) -> dict[str, str]:
    """The environment of one simulated machine: its own ARTIFLOW_ROOT, the shared datastore and metadata."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("ARTIFLOW_", "METAFLOW_", "AWS_"))}
    return {**env, **s3, "ARTIFLOW_ROOT": str(home / ".artiflow"), "ARTIFLOW_USER": f"user-{home.name}",
            "ARTIFLOW_METADATA_URL": metadata_url,
            "PYTHONPATH": str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")}


def start_runners(machines: dict[str, dict[str, str]], flow: Path) -> dict[str, subprocess.Popen]:
    """Start RUNNERS_PER_MACHINE `python flow.py run` per machine, all at once; by runner name."""
    procs = {}
    for machine, env in machines.items():
        for n in range(RUNNERS_PER_MACHINE):
            name = f"{machine}-r{n}"
            procs[name] = subprocess.Popen(
                [sys.executable, str(flow), "run", "--runner", name, "--tag", f"machine:{machine}"],
                cwd=env["ARTIFLOW_ROOT"].removesuffix("/.artiflow"), env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True)
    return procs


def run_ids_by_runner(procs: dict[str, subprocess.Popen], timeout: float = 180) -> dict[str, str]:
    """Wait for every runner; each must succeed; the run id each one announced."""
    ids = {}
    deadline = time.monotonic() + timeout
    try:
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert proc.returncode == 0, f"runner {name} exited with {proc.returncode}:\n{out}"
            found = re.search(r"Run ScaleFlow/(\d+) starting", out)
            assert found, f"runner {name} did not announce its run:\n{out}"
            ids[name] = found.group(1)
    finally:  # a failed check leaves no runner behind
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return ids


def read_all(machines: dict[str, dict[str, str]]) -> dict[str, dict[str, dict]]:
    """Every ScaleFlow run as the client sees it from each machine (fresh processes, all at once), by machine."""
    procs = {machine: subprocess.Popen([sys.executable, "-c", READ_ALL], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True,
                                       cwd=env["ARTIFLOW_ROOT"].removesuffix("/.artiflow"))
             for machine, env in machines.items()}
    views = {}
    for machine, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"reading from {machine} failed:\n{err}"
        views[machine] = json.loads(out)
    return views


def shared_s3(endpoint: str) -> dict[str, str]:
    """The S3 settings of a fresh bucket on the test server, shared by all machines."""
    bucket = f"scale-{uuid.uuid4().hex[:10]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    return s3_env(endpoint, f"s3://{bucket}/flows")


def check_32_runners(tmp_path: Path, metadata_url: str, s3: dict[str, str]) -> None:
    """32 runners on 4 machines at once: distinct ids, all succeeded, every run readable the same from each."""
    machines = {}
    for m in range(MACHINES):
        home = tmp_path / f"m{m}"
        home.mkdir()
        machines[f"m{m}"] = machine_env(home, metadata_url, s3)
    flow = tmp_path / "scale_flow.py"
    flow.write_text(SCALE_FLOW)
    ids = run_ids_by_runner(start_runners(machines, flow))
    assert len(set(ids.values())) == MACHINES * RUNNERS_PER_MACHINE, f"run ids were shared: {ids}"
    assert sorted(map(int, ids.values())) == list(range(1, MACHINES * RUNNERS_PER_MACHINE + 1))
    views = read_all(machines)
    first = views["m0"]
    assert set(first) == set(ids.values())
    for run_id, seen in first.items():
        runner = seen["runner"]
        assert ids[runner] == run_id, f"run {run_id} was announced by {runner}, recorded as {ids[runner]}"
        machine = runner.split("-")[0]
        assert seen == {"successful": True, "finished": True, "runner": runner, "tags": [f"machine:{machine}"],
                        "user": f"user-{machine}", "squares": [1, 4, 9], "total": 14, "tasks": 6,
                        "stdout": f"total 14 by {runner}"}
    for machine, view in views.items():
        assert view == first, f"machine {machine} sees the runs differently from m0"


def test_32_runners_on_4_machines_share_one_postgresql_database(tmp_path, pg_url, endpoint):
    check_32_runners(tmp_path, pg_url, shared_s3(endpoint))


# -- one store, directly ------------------------------------------------------------------------------
HELLO = """
from artiflow import FlowSpec, step

class HelloFlow(FlowSpec):
    @step
    def start(self):
        self.message = "hello from postgres"
        self.next(self.end)

    @step
    def end(self):
        print(self.message)

if __name__ == "__main__":
    HelloFlow()
"""


def hello_flow(home: Path) -> Path:
    path = home / "hello_flow.py"
    path.write_text(HELLO)
    return path


def python(code: str, *args: str, timeout: float = 60) -> str:
    """Run `code` (with `args`) in a fresh interpreter with artiflow importable; its stdout (it must succeed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_flow_on_postgresql_is_read_back_and_makes_no_sqlite_file(af_home, pg_url, monkeypatch):
    from artiflow.client import Flow

    monkeypatch.setenv("ARTIFLOW_METADATA_URL", pg_url)
    out = ok(run_flow(hello_flow(af_home), "run")).stdout
    assert "Run HelloFlow/1 starting" in out
    run = Flow("HelloFlow").latest_run
    assert run.successful and run["end"].task.data.message == "hello from postgres"
    assert run["end"].task.stdout == "hello from postgres\n"
    assert not (af_home / ".artiflow" / "metadata.db").exists()


def test_the_client_names_the_database_without_its_password(af_home, pg_url, monkeypatch):
    from artiflow import get_metadata

    monkeypatch.setenv("ARTIFLOW_METADATA_URL", pg_url)
    assert get_metadata().startswith("postgresql://artiflow:***@127.0.0.1:") and "pass" not in get_metadata()


def test_both_url_schemes_open_the_same_database(pg_server, pg_url):
    from artiflow.metadata import open_metadata

    first = open_metadata(pg_url)
    alias = open_metadata(pg_url.replace("postgresql://", "postgres://", 1))
    assert first.new_run("F", "alice", [], {}) == 1 and alias.new_run("F", "bob", [], {}) == 2
    assert [run.user for run in first.runs("F")] == ["bob", "alice"]
    assert PASSWORD not in first.describe() and first.describe().startswith("postgresql://artiflow:***@127.0.0.1:")


# each case: the URL (from the server and a fresh database's URL), what the message must say
BAD_CONNECTIONS = {
    "unreachable": (lambda server, url: f"postgresql://artiflow:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}/x",
                    ["cannot be reached", "Check that it is running", "127.0.0.1"]),
    "wrong password": (lambda server, url: url.replace("test%20pass", "wrong%20pass"),
                       ["refused the login", "password authentication failed", "ARTIFLOW_METADATA_URL"]),
    "missing database": (lambda server, url: server.url("no_such_db"),
                         ["'no_such_db' does not exist", "createdb no_such_db", "makes its tables itself"]),
    "bad port": (lambda server, url: "postgresql://artiflow:hunter2secret@127.0.0.1:notaport/x",
                 ["is not a valid PostgreSQL URL", "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"]),
    "unknown user": (lambda server, url: f"postgresql://nobody:hunter2secret@/postgres?host={server.sockets}"
                                         f"&port={server.port}",  # the unix socket: no password asked there
                     ['has no such user (role "nobody" does not exist)', "createuser"]),
}


@pytest.mark.parametrize("case", list(BAD_CONNECTIONS))
def test_a_database_that_cannot_be_used_is_explained_without_its_password(af_home, pg_server, pg_url, monkeypatch,
                                                                          case):
    make_url, fragments = BAD_CONNECTIONS[case]
    url = make_url(pg_server, pg_url)
    monkeypatch.setenv("ARTIFLOW_METADATA_URL", url)
    result = run_flow(hello_flow(af_home), "run")
    assert result.returncode == 1
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert ":***@" in result.stderr
    for secret in ("test pass", "test%20pass", "wrong%20pass", "hunter2secret"):
        assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


SLOW = """
import time
from artiflow import FlowSpec, step

class SlowFlow(FlowSpec):
    @step
    def start(self):
        time.sleep(4)
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    SlowFlow()
"""


def test_a_server_that_goes_away_mid_run_fails_the_run_saying_so(af_home, pg_server, monkeypatch):
    import pg_server as server_module

    flow = af_home / "slow_flow.py"
    flow.write_text(SLOW)
    from artiflow.metadata import open_metadata

    with server_module.postgres_server() as own:  # a server of this test's own, to stop
        url = own.new_schema()
        monkeypatch.setenv("ARTIFLOW_METADATA_URL", url)
        runner = subprocess.Popen([sys.executable, str(flow), "run"], env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        watcher, deadline = open_metadata(url), time.monotonic() + 60
        while not (watcher.flows() and watcher.tasks("SlowFlow", 1)) and time.monotonic() < deadline:
            time.sleep(0.1)  # until the start task is recorded as running (then it sleeps 4 s)
        watcher.close()
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 1 and "Run SlowFlow/1 starting" in out
    assert "Run SlowFlow/1 failed because the runner itself hit an error" in err
    assert "cannot be reached" in err and "Check that it is running" in err and ":***@127.0.0.1:" in err
    assert "resume --origin-run-id 1" in err and "Traceback" not in err and "test pass" not in err


def test_a_user_who_may_not_make_tables_is_told_to_own_the_database(af_home, pg_server, monkeypatch):
    url = pg_server.new_database(owner=SUPERUSER)  # PostgreSQL 15: only the owner may create in schema public
    monkeypatch.setenv("ARTIFLOW_METADATA_URL", url)
    result = run_flow(hello_flow(af_home), "run")
    assert result.returncode == 1
    assert "permission denied for schema public" in result.stderr and "must own the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_psycopg_a_postgresql_url_says_how_to_install_it(af_home, tmp_path, monkeypatch):
    blocker = tmp_path / "no_psycopg"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['psycopg'] = None  # as if not installed\n")
    monkeypatch.setenv("PYTHONPATH", str(blocker))
    monkeypatch.setenv("ARTIFLOW_METADATA_URL", "postgresql://alice:hunter2secret@db.example:5432/flows")
    result = run_flow(hello_flow(af_home), "run")
    assert result.returncode == 1
    assert "postgresql://alice:***@db.example:5432/flows is a PostgreSQL database, which needs psycopg" in result.stderr
    assert "pip install 'artiflow[postgres]'" in result.stderr and "hunter2secret" not in result.stderr


def test_psycopg_is_imported_only_when_a_postgresql_store_is_opened(tmp_path):
    loaded = python(f"""
import sys
import artiflow, artiflow.metadata.postgres
from artiflow.metadata import open_metadata
open_metadata("sqlite:///{tmp_path}/m.db").runs("F")
print(" ".join(sys.modules))
""").split()
    assert "artiflow.metadata.postgres" in loaded and not [m for m in loaded if m.startswith("psycopg")]


# -- run ids, clocks, connections ------------------------------------------------------------------------
# a runner on a machine whose clock is an hour slow (time.time is what a wrong system clock changes)
WRITE_RUN = """
import sys, time
_real = time.time
time.time = lambda: _real() - 3600
from artiflow.metadata import open_metadata
store = open_metadata(sys.argv[1])
run_id = store.new_run("F", "u", [], {})
store.heartbeat("F", run_id)
print(run_id)
"""
# readers on machines whose clocks are right, an hour fast, an hour slow: what each sees of the run
READ_RUN = """
import json, sys, time
from artiflow.metadata import open_metadata
_real, seen = time.time, {}
for skew in (0, 3600, -3600):
    time.time = lambda: _real() + skew
    run = open_metadata(sys.argv[1]).run("F", int(sys.argv[2]))
    seen[skew] = {"status": run.status, "lost": run.lost, "age": time.time() - run.heartbeat_at}
print(json.dumps(seen))
"""


def test_heartbeats_and_lost_runs_are_judged_by_the_servers_clock(pg_url, monkeypatch):
    """A runner an hour slow and readers an hour fast or slow agree: the run is alive, then lost."""
    monkeypatch.setenv("ARTIFLOW_HEARTBEAT_TIMEOUT", "2")
    run_id = python(WRITE_RUN, pg_url).strip()
    for skew, seen in json.loads(python(READ_RUN, pg_url, run_id)).items():
        assert (seen["status"], seen["lost"]) == ("running", False), f"a reader {skew} s off: {seen}"
        # by the reader's own clock the heartbeat is `skew` old: it was stamped with the server's time
        assert abs(seen["age"] - int(skew)) < 60, f"a reader {skew} s off: {seen}"
    time.sleep(2.5)
    for skew, seen in json.loads(python(READ_RUN, pg_url, run_id)).items():
        assert (seen["status"], seen["lost"]) == ("failed", True), f"a reader {skew} s off: {seen}"


def test_a_connection_the_server_dropped_is_made_again(pg_server, pg_url):
    from artiflow.metadata import open_metadata

    store = open_metadata(pg_url)
    assert store.new_run("F", "u", [], {}) == 1
    seen = set()
    for use in (lambda: [r.run_id for r in store.runs("F")] == [1], lambda: store.new_run("F", "u", [], {}) == 2):
        dropped = store.conn.info.backend_pid
        seen.add(dropped)
        with pg_server.admin() as conn:  # as a server restart, or an idle timeout, would
            assert conn.execute("SELECT pg_terminate_backend(%s)", (dropped,)).fetchone() == (True,)
        time.sleep(0.2)
        assert use()  # a read, then a write: each on a new connection
    assert store.conn.info.backend_pid not in seen


def test_a_forked_process_opens_its_own_connection_and_leaves_the_parents_alone(pg_server, pg_url):
    from artiflow.metadata import open_metadata

    store = open_metadata(pg_url)
    store.new_run("F", "u", [], {})
    parent = store.conn.info.backend_pid
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a run of its own, then close (which must not end the parent's session)
        try:
            run_id = store.new_run("F", "child", [], {})
            os.write(write, json.dumps([run_id, store.conn.info.backend_pid]).encode())
            store.close()
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_run, child_backend = json.loads(os.read(read, 1000))
    os.close(read)
    assert child_run == 2 and child_backend != parent
    assert store.new_run("F", "u", [], {}) == 3 and store.conn.info.backend_pid == parent


def test_a_row_locked_past_the_busy_timeout_says_where_to_look(pg_server, pg_url, monkeypatch):
    from artiflow.exceptions import MetadataError
    from artiflow.metadata import open_metadata

    monkeypatch.setenv("ARTIFLOW_METADATA_BUSY_TIMEOUT", "0.5")
    store = open_metadata(pg_url)
    store.new_run("F", "u", [], {})
    import psycopg

    with psycopg.connect(pg_url) as other:  # another session holds the flow's run counter
        other.execute("SELECT * FROM run_counters WHERE flow = 'F' FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(MetadataError) as err:
            store.new_run("F", "u", [], {})
        assert time.monotonic() - started < 5
    message = str(err.value)
    assert "stayed locked by another session for longer than 0.5 s (ARTIFLOW_METADATA_BUSY_TIMEOUT)" in message
    assert "pg_stat_activity" in message and PASSWORD not in message
    assert store.new_run("F", "u", [], {}) == 2  # the lock is gone: the store works again


def test_times_keep_their_precision_and_sizes_pass_32_bits(pg_url):
    from artiflow.datastore.store import ArtifactRef
    from artiflow.metadata import open_metadata

    store = open_metadata(pg_url)
    run_id = store.new_run("F", "u", [], {})
    big = ArtifactRef("k" * 40, "pickle", "bytes", 5 * 2**32)
    for task_id in (1, 2):
        store.start_task("F", run_id, "start", task_id, 0, [], [])
    store.finish_task("F", run_id, "start", 1, 0, "succeeded", {"x": big}, None, None, None)
    first, second = store.tasks("F", run_id)
    assert store.artifacts("F", run_id, "start", 1) == {"x": big}
    assert 0 < second.created_at - first.created_at < 1  # microseconds apart, still ordered (REAL would lose it)
    assert abs(first.created_at - time.time()) < 60
