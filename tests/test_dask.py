"""The Dask executor on a real cluster (`dask scheduler` + `dask worker --nworkers 2` on 127.0.0.1) with an S3
datastore (moto_server): every task on a worker, as locally; workers killed mid-task; @batch; the errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("boto3")
pytest.importorskip("moto")

from conftest import REPO, ok, run_flow  # noqa: E402
from dask_cluster import dask_cluster, wait_for_workers  # noqa: E402
from s3_server import CREDENTIALS, free_port, moto_server, s3_client, s3_env  # noqa: E402

WORKER_RESOURCES = "CPU=2,MEMORY=4e9"  # each of the two worker processes


def worker_env(endpoint: str) -> dict[str, str]:
    """What the workers are started with: S3 credentials and endpoint, and a marker only tasks there see."""
    return {**CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "ARTIFLOW_S3_ENDPOINT_URL": endpoint, "ON_WORKER": "yes"}


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def cluster(endpoint):
    with dask_cluster(worker_env(endpoint), nworkers=2, nthreads=2, resources=WORKER_RESOURCES) as running:
        yield running


@pytest.fixture
def on_s3(af_home, endpoint, monkeypatch):
    """This test's runs (and the client) use a fresh bucket on the S3 test server."""
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    for name, value in s3_env(endpoint, f"s3://{bucket}/runs").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ARTIFLOW_DASK_SCHEDULER", raising=False)
    return bucket


@pytest.fixture
def on_dask(on_s3, cluster, monkeypatch):
    """On S3, with ARTIFLOW_DASK_SCHEDULER naming the test cluster."""
    monkeypatch.setenv("ARTIFLOW_DASK_SCHEDULER", cluster.address)
    return cluster


def flow_file(home: Path, source: str, name: str = "flow.py") -> Path:
    path = home / name
    path.write_text(textwrap.dedent(source))
    return path


def latest(flow: str):
    from artiflow import Flow, namespace

    namespace(None)
    return Flow(flow).latest_run


def runs_of(flow: str) -> list:
    from artiflow import Flow, namespace

    namespace(None)
    try:
        return list(Flow(flow))
    except Exception:  # noqa: BLE001 - no run of it was ever recorded
        return []


# -- every task on a worker, as locally ----------------------------------------------------------------
FOREACH = """
import os
from artiflow import FlowSpec, step

class DaskFlow(FlowSpec):
    @step
    def start(self):
        self.where = os.environ.get("ON_WORKER", "driver")
        self.items = [1, 2, 3, 4, 5]
        print("starting on", self.where)
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.value = self.input ** 2
        print(f"square of {self.input} is {self.value}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [i.value for i in inputs]
        self.where = inputs[0].where
        self.next(self.end)

    @step
    def end(self):
        print("sum", sum(self.values))

if __name__ == "__main__":
    DaskFlow()
"""


def test_a_foreach_and_join_run_on_the_workers_with_live_and_stored_logs(on_dask, af_home):
    result = ok(run_flow(flow_file(af_home, FOREACH), "run", "--executor", "dask"))
    assert re.search(r"^\[DaskFlow/\d+/square/\d+\] square of 3 is 9$", result.stdout, re.M), result.stdout
    assert re.search(r"^\[DaskFlow/\d+/end/\d+\] sum 55$", result.stdout, re.M)
    run = latest("DaskFlow")
    assert run.successful
    assert run["start"].task.data.where == "yes"  # the task saw the worker's environment, not the runner's
    assert run["end"].task.data.values == [1, 4, 9, 16, 25]
    squares = sorted(run["square"], key=lambda t: t.data.value)
    assert [t.data.value for t in squares] == [1, 4, 9, 16, 25]
    assert squares[1].stdout == "square of 2 is 4\n"
    logs = subprocess.run([sys.executable, "-m", "artiflow", "logs", f"DaskFlow/{run.id}/end"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert logs.returncode == 0 and "sum 55" in logs.stdout, logs.stderr


LOUD = """
from artiflow import FlowSpec, step

class LoudFlow(FlowSpec):
    @step
    def start(self):
        for i in range(4000):  # ~100 KB of output: the outcome is too large for an event, so it is the task's result
            print(f"line {i:05d} " + "x" * 12)
        self.next(self.end)

    @step
    def end(self):
        print("quiet")

if __name__ == "__main__":
    LoudFlow()
"""


def test_a_task_with_much_output_comes_back_whole(on_dask, af_home):
    from artiflow.runtime.executors.taskhost import OUTCOME_EVENT_BYTES

    result = ok(run_flow(flow_file(af_home, LOUD), "run", "--executor", "dask"))
    run = latest("LoudFlow")
    stdout = run["start"].task.stdout
    assert len(stdout) > 2 * OUTCOME_EVENT_BYTES
    assert stdout.splitlines() == [f"line {i:05d} " + "x" * 12 for i in range(4000)]
    assert re.search(r"^\[LoudFlow/\d+/start/\d+\] line 03999 x+$", result.stdout, re.M)
    assert run["end"].task.stdout == "quiet\n"



SHORT = """
from artiflow import FlowSpec, step

class ShortFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(60))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.value = self.input * 3
        print("item", self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    ShortFlow()
"""


def test_short_tasks_share_dask_tasks_and_each_keeps_its_own_outcome_and_log(on_dask, af_home):
    from distributed import get_task_stream

    with on_dask.client() as client, get_task_stream(client=client) as stream:
        ok(run_flow(flow_file(af_home, SHORT), "run", "--executor", "dask"))
        client.wait_for_workers(2)  # (the stream's records reach this client with the next message)
    keys = [record["key"] for record in stream.data if "-work-" in str(record["key"])]
    assert 0 < len(keys) < 60 and any("-and-" in str(key) for key in keys), keys  # some ran several attempts
    run = latest("ShortFlow")
    assert run.successful and run["join"].task.data.values == [3 * i for i in range(60)]
    for task in run["work"]:
        assert task.stdout == f"item {task.data.value // 3}\n"
        assert [a.status for a in task.attempts] == ["succeeded"]

# -- retries, @catch, @timeout ---------------------------------------------------------------------------
FAULTS = """
import signal, time
from artiflow import FlowSpec, catch, current, retry, step, timeout

class FaultFlow(FlowSpec):
    @step
    def start(self):
        self.fail = True
        self.next(self.flaky, self.broken, self.stuck)

    @retry(times=1)
    @step
    def flaky(self):
        if current.retry_count == 0:
            raise RuntimeError("first attempt fails")
        self.flaky_attempt = current.retry_count
        self.next(self.join)

    @catch(var="problem")
    @step
    def broken(self):
        if self.fail:
            raise ValueError("always broken")
        self.next(self.join)

    @catch(var="stuck_error")
    @timeout(seconds=1)
    @step
    def stuck(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])  # deaf to the alarm: must be killed
        time.sleep(60)
        self.next(self.join)  # never reached

    @step
    def join(self, inputs):
        self.flaky_attempt = inputs.flaky.flaky_attempt
        self.problem = inputs.broken.problem
        self.stuck_error = inputs.stuck.stuck_error
        self.next(self.end)

    @step
    def end(self):
        print("problem:", self.problem.type)

if __name__ == "__main__":
    FaultFlow()
"""


def test_retry_catch_and_a_timeout_that_kills_behave_as_locally(on_dask, af_home):
    started = time.monotonic()
    result = ok(run_flow(flow_file(af_home, FAULTS), "run", "--executor", "dask"))
    assert time.monotonic() - started < 40  # the stuck task was killed, not waited for (60 s)
    assert "Attempt 0 failed (RuntimeError: first attempt fails); retrying." in result.stderr
    run = latest("FaultFlow")
    data = run["join"].task.data
    assert data.flaky_attempt == 1
    assert data.problem.type.endswith("ValueError") and "always broken" in data.problem.exception
    assert "TimeoutException" in str(data.stuck_error) and "@timeout of 1 s" in str(data.stuck_error)
    flaky = run["flaky"].task
    assert [(a.number, a.status) for a in flaky.attempts] == [(0, "failed"), (1, "succeeded")]
    assert "first attempt fails" in flaky.attempts[0].stderr  # the failed attempt's own traceback, stored
    stuck = run["stuck"].task.attempts[0]
    assert stuck.exception.type == "TimeoutException" and "was killed" in stuck.exception.message


def test_metrics_come_back_from_the_workers_also_from_a_task_killed_hard(on_dask, af_home):
    crash = Path(__file__).parent / "flows" / "metrics_crash_flow.py"
    ok(run_flow(crash, "run", "--mode", "sigkill", "--executor", "dask"))  # the retry succeeds
    task = latest("MetricsCrashFlow")["start"].task
    first = task.attempts[0]
    assert first.status == "failed"
    # logged over a second before the kill: spilled on the worker, sent back with the attempt's death
    assert [(r.name, r.value, r.step) for r in first.metrics][:3] == [("attempt_loss", float(i), i) for i in range(3)]
    assert [r.value for r in task.metrics] == [10.0, 11.0, 12.0]


# -- resume ----------------------------------------------------------------------------------------------
RESUMABLE = """
from artiflow import FlowSpec, step

class ResumeFlow(FlowSpec):
    @step
    def start(self):
        self.base = 10
        self.next(self.middle)

    @step
    def middle(self):
        {middle}
        self.next(self.end)

    @step
    def end(self):
        print("result", self.result)

if __name__ == "__main__":
    ResumeFlow()
"""


def test_resume_of_a_failed_dask_run_reuses_what_succeeded(on_dask, af_home):
    path = flow_file(af_home, RESUMABLE.format(middle='raise RuntimeError("bug in middle")'))
    failed = run_flow(path, "run", "--executor", "dask")
    assert failed.returncode == 1 and "bug in middle" in failed.stderr
    origin = latest("ResumeFlow")
    path.write_text(textwrap.dedent(RESUMABLE.format(middle="self.result = self.base + 1")))  # the fix
    resumed = ok(run_flow(path, "resume", "--executor", "dask"))
    assert "Reused from" in resumed.stdout and "result 11" in resumed.stdout
    run = latest("ResumeFlow")
    assert run.id != origin.id and run.successful and run["end"].task.data.result == 11
    assert run["start"].task.origin_pathspec == origin["start"].task.pathspec


# -- @parallel ---------------------------------------------------------------------------------------------
GANG = """
import os, time
from artiflow import FlowSpec, Parameter, current, parallel, step

BARRIER = {barrier!r}

class GangFlow(FlowSpec):
    nodes = Parameter("nodes", type=int, default=3)

    @step
    def start(self):
        self.next(self.train, num_parallel=self.nodes)

    @parallel
    @step
    def train(self):
        self.node = current.parallel.node_index
        self.count = current.parallel.num_nodes
        open(os.path.join(BARRIER, str(self.node)), "w").close()  # here; now wait for the others (a rendezvous)
        deadline = time.time() + 30
        while len(os.listdir(BARRIER)) < self.count and time.time() < deadline:
            time.sleep(0.05)
        self.met = len(os.listdir(BARRIER)) == self.count
        self.next(self.join)

    @step
    def join(self, inputs):
        self.seen = sorted(i.node for i in inputs)
        self.met = all(i.met for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("nodes", self.seen)

if __name__ == "__main__":
    GangFlow()
"""


def test_a_parallel_gang_runs_together_and_one_larger_than_the_cluster_is_refused(on_dask, af_home):
    barrier = af_home / "barrier"
    barrier.mkdir()
    path = flow_file(af_home, GANG.format(barrier=str(barrier)))
    result = ok(run_flow(path, "run", "--executor", "dask"))
    assert "nodes [0, 1, 2]" in result.stdout
    run = latest("GangFlow")
    assert sorted(t.data.count for t in run["train"]) == [3, 3, 3]
    assert run["join"].task.data.met  # all three ran at once: each waited for the others, and met them
    too_big = run_flow(path, "run", "--executor", "dask", "--nodes", "5")
    assert too_big.returncode == 1
    assert "@parallel gang of 5 tasks must run at once" in too_big.stderr
    assert "can run only 4 such tasks at a time (2 worker(s), 4 thread(s) in all)" in too_big.stderr


# A flow's function: the Dask worker process running the task (above it: the task host's fork server, the host)
WORKER_PID = """
def worker_pid():
    pid = os.getppid()
    while "hostproc" in open(f"/proc/{pid}/cmdline").read():
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    return pid
"""

# -- @resources --------------------------------------------------------------------------------------------
RESOURCES = """
import os, time
from artiflow import FlowSpec, resources, step
{worker_pid}

class ResourceFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(4))
        self.next(self.heavy, foreach="items")

    @resources(cpu={cpu})
    @step
    def heavy(self):
        self.worker = worker_pid()
        self.began = time.time()
        time.sleep(1.0)
        self.ended = time.time()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.spans = {{}}
        for i in inputs:
            self.spans.setdefault(i.worker, []).append((i.began, i.ended))
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    ResourceFlow()
"""


def most_at_once(spans: list[tuple[float, float]]) -> int:
    points = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda p: (p[0], p[1]))
    running = best = 0
    for _, change in points:
        running += change
        best = max(best, running)
    return best


def test_resources_are_reserved_on_the_workers_and_too_much_is_refused_before_the_run(on_dask, af_home):
    ok(run_flow(flow_file(af_home, RESOURCES.format(cpu=2, worker_pid=WORKER_PID)), "run", "--executor", "dask"))
    by_worker = latest("ResourceFlow")["join"].task.data.spans
    assert sum(len(spans) for spans in by_worker.values()) == 4
    assert [most_at_once(spans) for spans in by_worker.values()] == [1] * len(by_worker)  # CPU=2 each: one at a time
    refused = run_flow(flow_file(af_home, RESOURCES.format(cpu=8, worker_pid=WORKER_PID), "big.py"), "run", "--executor", "dask")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "Step 'heavy' asks for CPU=8" in refused.stderr
    assert "its workers offer CPU=2, MEMORY=4e+09" in refused.stderr
    assert f'dask worker {on_dask.address} --resources "CPU=8"' in refused.stderr
    assert len(runs_of("ResourceFlow")) == 1  # the refused one never started


def test_workers_that_declare_no_resources_run_the_step_and_say_so(on_s3, endpoint, af_home):
    with dask_cluster(worker_env(endpoint), nworkers=1, nthreads=2) as bare:
        result = ok(run_flow(flow_file(af_home, RESOURCES.format(cpu=2, worker_pid=WORKER_PID)), "run", "--executor", "dask",
                             "--dask-scheduler", bare.address))
    assert result.stderr.count("declare no resources") == 1
    assert "the @resources of step(s) 'heavy' are not reserved there" in result.stderr
    (spans,) = latest("ResourceFlow")["join"].task.data.spans.values()
    assert most_at_once(spans) == 2  # two at a time on the worker's two threads, though each asks for CPU=2


# -- @batch and @kubernetes (a Metaflow flow) ------------------------------------------------------------
BATCH = """
import os
from metaflow import FlowSpec, batch, kubernetes, step

class BatchFlow(FlowSpec):
    @step
    def start(self):
        self.local_where = os.environ.get("ON_WORKER", "driver")
        self.next(self.on_batch, self.on_k8s)

    @batch(cpu=1, memory=1000, image="python:3.11", queue="default")
    @step
    def on_batch(self):
        self.where = os.environ.get("ON_WORKER", "driver")
        self.next(self.join)

    @kubernetes(cpu=1, namespace="ml", image="python:3.11")
    @step
    def on_k8s(self):
        self.where = os.environ.get("ON_WORKER", "driver")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.places = sorted(i.where for i in inputs)
        self.local_where = inputs.on_batch.local_where
        self.next(self.end)

    @step
    def end(self):
        print("places", self.places)

if __name__ == "__main__":
    BatchFlow()
"""


def test_batch_and_kubernetes_steps_run_on_the_cluster_and_the_rest_locally(on_dask, af_home):
    result = ok(run_flow(flow_file(af_home, BATCH), "run", launcher=True))
    assert "places ['yes', 'yes']" in result.stdout
    assert latest("BatchFlow")["join"].task.data.local_where == "driver"  # start ran in the runner's process tree


def test_a_batch_step_without_a_cluster_stops_the_run_before_it_starts(on_s3, af_home):
    result = run_flow(flow_file(af_home, BATCH), "run", launcher=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Step(s) 'on_batch' (@batch), 'on_k8s' (@kubernetes) must run on a cluster, but none is configured" \
        in result.stderr
    assert "--dask-scheduler tcp://HOST:PORT or ARTIFLOW_DASK_SCHEDULER=tcp://HOST:PORT" in result.stderr
    assert runs_of("BatchFlow") == []


NEEDS_PACKAGE = """
import driver_only_helper  # installed where the run starts, not on the workers
from artiflow import FlowSpec, step

class PackageFlow(FlowSpec):
    @step
    def start(self):
        self.value = driver_only_helper.VALUE
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    PackageFlow()
"""


def test_a_package_missing_on_the_workers_fails_the_task_saying_what_to_install(on_dask, af_home, tmp_path):
    packages, flows = tmp_path / "site", tmp_path / "flows"  # the package is outside the flow's folder: not its code
    for folder in (packages, flows):
        folder.mkdir()
    (packages / "driver_only_helper.py").write_text("VALUE = 1\n")
    result = run_flow(flow_file(flows, NEEDS_PACKAGE), "run", "--executor", "dask", env={"PYTHONPATH": str(packages)})
    assert result.returncode == 1 and "Traceback (most recent call last)" not in result.stdout
    assert "could not be loaded on the Dask worker tcp://127.0.0.1:" in result.stderr
    assert "No module named 'driver_only_helper'" in result.stderr
    assert "Install the flow's packages on every worker" in result.stderr
    attempt = latest("PackageFlow")["start"].task.attempts[0]
    assert attempt.exception.type == "TaskDied" and "driver_only_helper" in attempt.exception.message


BAD_DECORATOR = """
from artiflow import FlowSpec, batch, kubernetes, resources, step

class BadFlow(FlowSpec):
    {decorator}
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    BadFlow()
"""


@pytest.mark.parametrize("decorator, message", [
    ('@batch(cpu="lots")', "@batch(cpu=...) must be a number of 0 or more, not 'lots'."),
    ("@kubernetes(memory=-1)", "@kubernetes(memory=...) must be a number of 0 or more, not -1."),
    ('@batch(imagee="python:3.11")', "@batch does not take imagee; it takes: cpu, memory, gpu, image, queue"),
    ("@resources(gpu=True)", "@resources(gpu=...) must be a number of 0 or more, not True."),
])
def test_bad_cluster_decorator_arguments_are_refused_with_the_step_and_line(af_home, decorator, message):
    result = run_flow(flow_file(af_home, BAD_DECORATOR.format(decorator=decorator)), "run")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"Step 'start' at {af_home / 'flow.py'}:7: {message}" in result.stderr


# -- the configuration errors --------------------------------------------------------------------------------
HELLO = """
from artiflow import FlowSpec, step

class HelloFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    HelloFlow()
"""


def refused(af_home, *args: str, env: dict | None = None) -> str:
    result = run_flow(flow_file(af_home, HELLO), "run", *args, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert runs_of("HelloFlow") == []  # refused before the run was created
    return result.stderr


def test_dask_without_a_scheduler_address_says_how_to_give_one(on_s3, af_home):
    stderr = refused(af_home, "--executor", "dask")
    assert "--executor dask needs the address of a Dask scheduler: --dask-scheduler tcp://HOST:PORT, or " \
           "ARTIFLOW_DASK_SCHEDULER=tcp://HOST:PORT" in stderr


def test_an_unreachable_scheduler_names_the_address_and_how_to_start_one(on_s3, af_home):
    address = f"tcp://127.0.0.1:{free_port()}"
    stderr = refused(af_home, "--executor", "dask", "--dask-scheduler", address, env={"ARTIFLOW_DASK_TIMEOUT": "1"})
    assert f"No Dask scheduler answered at {address} within 1 s" in stderr
    assert "`dask scheduler`" in stderr and "ARTIFLOW_DASK_TIMEOUT" in stderr


def test_a_local_datastore_with_dask_says_why_and_what_to_set(af_home, monkeypatch):
    stderr = refused(af_home, "--executor", "dask", "--dask-scheduler", "tcp://127.0.0.1:9")
    assert "cannot read this machine's datastore folder" in stderr
    assert str(af_home / ".artiflow" / "data") in stderr
    assert "ARTIFLOW_DATASTORE_ROOT=s3://bucket/prefix" in stderr and "ARTIFLOW_S3_ENDPOINT_URL" in stderr


def test_without_distributed_installed_the_run_says_how_to_install_it(on_s3, af_home, tmp_path):
    blocker = tmp_path / "no_dask"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['distributed'] = None  # as if not installed\n")
    stderr = refused(af_home, "--executor", "dask", "--dask-scheduler", "tcp://127.0.0.1:9",
                     env={"PYTHONPATH": str(blocker)})
    assert "needs Dask's distributed package" in stderr and "pip install 'artiflow[dask]'" in stderr


SLEEPER = """
import os, time
from artiflow import FlowSpec, step

class SleepFlow(FlowSpec):
    @step
    def start(self):
        print("sleeping in process", os.getpid(), flush=True)
        time.sleep(120)
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    SleepFlow()
"""


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert path.exists(), proc.communicate(timeout=30)


def read_line_matching(proc: subprocess.Popen, pattern: str, seconds: float = 60) -> re.Match:
    """Read the run's stdout as it comes until a line matches (the task is still running then)."""
    import select

    deadline, seen = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
    raise AssertionError(f"no line matching {pattern!r} within {seconds} s: {seen}")


def test_output_is_live_and_ctrl_c_stops_the_tasks_on_the_workers(on_dask, af_home):
    path = flow_file(af_home, SLEEPER)
    proc = subprocess.Popen([sys.executable, str(path), "run", "--executor", "dask"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        shown = read_line_matching(proc, r"^\[SleepFlow/\d+/start/1\] sleeping in process (\d+)$")
        task_pid = int(shown.group(1))  # shown while the task sleeps: the line came live, not with the result
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted: all its tasks were stopped" in stderr
    assert gone_within(task_pid, 10)  # the task on the worker was stopped, not left running
    run = latest("SleepFlow")
    assert not run.successful
    assert run["start"].task.attempts[0].exception.type == "Interrupted"


GATED = """
import os, sys, time
from artiflow import FlowSpec, step


class GatedFlow(FlowSpec):
    @step
    def start(self):
        print("waiting for the gate", flush=True)
        for i in range(3):
            print(f"progress {{i}}", end="\\r", flush=True)
        print("x" * 40_000, flush=True)   # longer than the console shows of a line
        print("a warning", file=sys.stderr, flush=True)
        while not os.path.exists({gate!r}):
            time.sleep(0.05)
        print("through the gate")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    GatedFlow()
"""


def test_a_running_tasks_logs_on_a_worker_can_be_read_while_it_runs(on_dask, af_home):
    import ui_server

    from artiflow.client import Task

    gate = af_home / "gate"
    path = flow_file(af_home, GATED.format(gate=str(gate)))
    proc = subprocess.Popen([sys.executable, str(path), "run", "--executor", "dask"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        with ui_server.running() as ui:
            def live() -> dict | None:
                answer = ui.get("/api/logs/GatedFlow/1/start/1", params={"stream": "stdout"})
                return answer.json() if answer.status_code == 200 else None

            deadline, seen = time.monotonic() + 60, None
            while time.monotonic() < deadline and not (seen and "waiting for the gate" in seen["text"]):
                time.sleep(0.2)
                seen = live()
            assert seen and "waiting for the gate" in seen["text"], seen   # stored while the task runs on a worker
            assert seen["done"] is False and seen["stored"] is True
        gate.touch()
        out, err = proc.communicate(timeout=60)
    finally:
        gate.touch()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    task = Task("GatedFlow/1/start/1")
    # the final log is the task's exact bytes, though what was stored while it ran was the console's view of its
    # lines (the \r updates coalesced, the long line cut): runtime/live_logs.py stores it again whole then
    assert task.stdout == ("waiting for the gate\nprogress 0\rprogress 1\rprogress 2\r" + "x" * 40_000 +
                           "\nthrough the gate\n")
    assert task.stderr == "a warning\n"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists()


def test_a_killed_runner_leaves_no_task_running_on_the_workers(on_dask, af_home):
    path = flow_file(af_home, SLEEPER)
    proc = subprocess.Popen([sys.executable, str(path), "run", "--executor", "dask"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        task_pid = int(read_line_matching(proc, r"sleeping in process (\d+)$").group(1))
    finally:
        proc.kill()  # SIGKILL: the runner cannot stop anything itself
        proc.communicate()
    assert gone_within(task_pid, 20)  # Dask dropped the dead client's tasks; the worker killed the running one



def test_a_scheduler_that_dies_mid_run_fails_the_run_with_the_reason(on_s3, endpoint, af_home, monkeypatch):
    with dask_cluster(worker_env(endpoint), nworkers=1, nthreads=1) as own:  # its own: this one's scheduler dies
        monkeypatch.setenv("ARTIFLOW_DASK_SCHEDULER", own.address)
        path = flow_file(af_home, SLEEPER)
        proc = subprocess.Popen([sys.executable, str(path), "run", "--executor", "dask"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        try:
            task_pid = int(read_line_matching(proc, r"sleeping in process (\d+)$").group(1))
            os.killpg(own.scheduler.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert gone_within(task_pid, 60)  # the worker lost its scheduler and ended; its host killed the task
    assert proc.returncode != 0
    assert f"Dask cancelled the task on {own.address.rsplit(':', 1)[0]}" in stderr, stderr
    assert f"the connection to the scheduler at {own.address} was lost" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    task = latest("SleepFlow")["start"].task
    assert task.attempts[0].status == "failed"

# -- a worker killed mid-task (last: the cluster restarts that worker) -----------------------------------------
def victim_prelude(marker: Path) -> str:
    """A worker-kill flow's imports, and `hold_until_killed()`: name the task's Dask worker in `marker`, then wait."""
    return f"""import os, time
from artiflow import FlowSpec, current, retry, step

MARKER = {str(marker)!r}
{WORKER_PID}

def hold_until_killed():
    with open(MARKER + ".tmp", "w") as f:
        f.write(str(worker_pid()))
    os.rename(MARKER + ".tmp", MARKER)
    time.sleep(120)
"""


KILLED = """
{prelude}

class KillFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.victim)

    @retry(times=1)
    @step
    def victim(self):
        if current.retry_count == 0:
            hold_until_killed()
        self.attempt = current.retry_count
        self.next(self.end)

    @step
    def end(self):
        print("survived on attempt", self.attempt)

if __name__ == "__main__":
    KillFlow()
"""


def test_a_worker_killed_mid_task_fails_that_attempt_and_the_retry_completes_the_run(on_dask, af_home):
    marker = af_home / "worker.pid"
    path = flow_file(af_home, KILLED.format(prelude=victim_prelude(marker)))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, str(path), "run", "--executor", "dask"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(marker, proc)
        worker_pid = int(marker.read_text())
        assert worker_pid in on_dask.worker_pids().values()
        os.kill(worker_pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "survived on attempt 1" in stdout
    assert "was lost (killed, or its machine went away)" in stderr
    victim = latest("KillFlow")["victim"].task
    first, second = victim.attempts
    assert (first.number, first.status, second.number, second.status) == (0, "failed", 1, "succeeded")
    assert first.exception.type == "TaskDied" and "the Dask worker tcp://127.0.0.1:" in first.exception.message
    wait_for_workers(on_dask, 2)  # its nanny restarts the killed worker for the tests after this one


BATCH_KILLED = """
{prelude}

class BatchKillFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(24))
        self.next(self.work, foreach="items")

    @retry(times=1)
    @step
    def work(self):
        if self.input == 12 and current.retry_count == 0:  # by then the step's tasks are known to be short
            hold_until_killed()
        self.value = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("values", len(self.values))

if __name__ == "__main__":
    BatchKillFlow()
"""


def _dask_keys(address: str) -> list[str]:
    from distributed import Client

    with Client(address, timeout=10, set_as_default=False) as client:
        return list(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))


def test_a_worker_killed_mid_batch_fails_only_the_attempt_it_ran_and_places_the_rest_again(on_s3, endpoint, af_home,
                                                                                         monkeypatch):
    marker = af_home / "worker.pid"
    with dask_cluster(worker_env(endpoint), nworkers=1, nthreads=1) as own:  # one thread: later attempts wait in batches
        monkeypatch.setenv("ARTIFLOW_DASK_SCHEDULER", own.address)
        path = flow_file(af_home, BATCH_KILLED.format(prelude=victim_prelude(marker)))
        proc = subprocess.Popen([sys.executable, str(path), "run", "--executor", "dask"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        try:
            wait_for(marker, proc)
            batches = [key for key in _dask_keys(own.address) if "-and-" in key]
            os.kill(int(marker.read_text()), signal.SIGKILL)  # its nanny starts a new worker process
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert batches, "no attempts were waiting in a shared Dask task when the worker was killed"
    assert proc.returncode == 0, stderr
    assert "values 24" in stdout
    tasks = {task.data.value: task for task in latest("BatchKillFlow")["work"]}
    victim = tasks.pop(12)
    assert [(a.number, a.status) for a in victim.attempts] == [(0, "failed"), (1, "succeeded")]
    assert "was lost (killed, or its machine went away)" in victim.attempts[0].exception.message
    # the attempts that had not started when their worker died ran once, as attempt 0: none was counted as failed
    assert {value: [(a.number, a.status) for a in task.attempts] for value, task in tasks.items()} == \
        {value: [(0, "succeeded")] for value in tasks}
