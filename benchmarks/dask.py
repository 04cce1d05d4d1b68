#!/usr/bin/env python3
"""The 1,000-task foreach on a local Dask cluster with an S3 datastore (moto_server), beside the local executor.

    python benchmarks/dask.py [--n 1000] [--repeat 1] [--against-metaflow PY] [--json OUT]

Starts moto_server (its request log to a file, to count requests), a `dask scheduler` and a
`dask worker --nworkers 2 --nthreads 2` on 127.0.0.1 (the tests' fixtures), then runs
benchmarks/flows/foreach.py (ForeachFlow, `--n N`: start, N trivial `work` tasks, join, end) as
`artiflow flows/foreach.py run`, alternating:

- dask/s3      `--executor dask` on an S3 datastore: wall time, tasks/s, S3 requests per task (by method);
- local/s3     the local executor on the same S3 datastore;
- dask/memdir  `--executor dask` on the `memdir://` plug-in store (tests/plugin_store, files in one folder):
               no S3 requests, so what remains is the executor's own cost;
- local/memdir the local executor on that store;
- metaflow     (with --against-metaflow PY) Metaflow's local run of the same flow, for the ratio.

CPU seconds are sampled with psutil from every process of a run: the driver, the Dask scheduler,
the worker processes and their task hosts with their fork servers (each `self` only), and the task
processes (reaped by the fork servers, or by the driver for the local executor), and the S3 broker processes that make the
tasks' small-blob requests (datastore/s3broker.py; shown apart, as "S3 broker CPU/task": it is the
requests' cost, not the executor's). "executor CPU/task" is everything but the task and broker processes, less what the idle cluster burns anyway over the run's wall time (heartbeats,
ticks, monitors: measured for 5 s before the runs), divided by the number of tasks: the executor's
own cost per task, beside the task (whose own cost, with S3, is mostly its requests). "per extra
task" subtracts the --n-small run from the --n run. Figures are medians over --repeat rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# this file is named like the dask package: its folder must not shadow the real one
sys.path[:] = [os.path.join(REPO, "src"), os.path.join(REPO, "tests"),
               *(p for p in sys.path if os.path.abspath(p or os.curdir) != HERE)]

from dask_cluster import dask_cluster  # noqa: E402  (the tests' cluster fixture)
from s3_server import CREDENTIALS, free_port, moto_server_command, s3_client  # noqa: E402

BROKER_NAME = "artiflow-s3"  # the name the S3 broker process gives itself (datastore/s3broker.py)
FORK_SERVER_NAME = "artiflow-forks"  # and a task host's fork server (runtime/executors/forkserver.py)

FLOW = os.path.join(HERE, "flows", "foreach.py")
PLUGIN = os.path.join(REPO, "tests", "plugin_store")
REQUEST_LINE = re.compile(rb'"(?:\x1b\[[0-9;]*m)*(GET|PUT|HEAD|POST|DELETE) /([^ ?]*)')  # (colored when 206)


# -- the S3 server, with a request log we can count ------------------------------------------------------
class Moto:
    """moto_server on a free port, its log (one line per request) in a file."""

    def __init__(self, log_path: str) -> None:
        self.endpoint = f"http://127.0.0.1:{free_port()}"
        self.log_path = log_path
        self.log = open(log_path, "wb")
        port = self.endpoint.rsplit(":", 1)[1]
        self.proc = subprocess.Popen([*moto_server_command(), "-H", "127.0.0.1", "-p", port],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not start")

    def cpu(self) -> float:
        import psutil

        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def offset(self) -> int:
        self.log.flush()
        return os.path.getsize(self.log_path)

    def requests_since(self, offset: int, bucket: str) -> Counter:
        """Requests to `bucket` logged after `offset`, by method."""
        time.sleep(0.2)  # the server writes its log line after answering
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            counts: Counter = Counter()
            for method, path in REQUEST_LINE.findall(f.read()):
                if path.decode().startswith(bucket):
                    counts[method.decode()] += 1
        return counts

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


# -- CPU of a run's processes ---------------------------------------------------------------------------
class CpuSampler:
    """Samples every 0.1 s the CPU of the processes under `roots`: executor processes (the driver, the Dask
    scheduler and workers, the task hosts: each its own CPU) and task processes (counted when their parent,
    a task host or the local driver, reaps them: `children` CPU)."""

    def __init__(self, driver: int, roots: list[int]) -> None:
        import psutil

        self.psutil = psutil
        self.driver = driver
        self.roots = [driver, *roots]
        self.kind: dict[int, str] = {}          # pid → "reaper" (reaps tasks), "task", "other"
        self.role: dict[int, str] = {}          # pid → driver, scheduler, worker (with nannies), host
        self.self_cpu: dict[int, float] = {}
        self.reaped: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample()
        self.base_self, self.base_reaped = dict(self.self_cpu), dict(self.reaped)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            self._sample()

    def _classify(self, proc) -> str:
        """A task is forked from the local driver or from a task host (and has its command line): tell them apart."""
        if proc.pid == self.driver:
            self.role[proc.pid] = "driver"
            return "reaper"
        try:
            if proc.name() == BROKER_NAME:  # the S3 requests of the tasks forked beside it: not the executor's
                self.role[proc.pid] = "s3 broker"
                return "broker"
            parent = self.psutil.Process(proc.ppid())  # a host's fork server forks and reaps the host's tasks:
            if proc.name() == FORK_SERVER_NAME and parent.name() != FORK_SERVER_NAME:  # (a task has its name briefly)
                self.role[proc.pid] = "host"
                self.kind[parent.pid] = "other"  # (the host reaps only its server, at the end: not tasks)
                self.role[parent.pid] = "host"
                return "reaper"
            if parent.pid == self.driver or self._is_host(parent):
                return "task"
            if self._is_host(proc):
                self.role[proc.pid] = "host"
                return "reaper"
            self.role[proc.pid] = "scheduler" if " scheduler" in " ".join(proc.cmdline()) else "worker"
        except self.psutil.Error:
            pass
        return "other"

    def _young_task(self, proc) -> bool:
        """A process taken for a task while under a second old: a helper a host forked (its fork server, its
        S3 broker) takes its name just after it starts, so it is looked at again until then."""
        try:
            return self.kind[proc.pid] == "task" and time.time() - proc.create_time() < 1.0
        except self.psutil.Error:
            return False

    @staticmethod
    def _is_host(proc) -> bool:
        return any("executors.hostproc" in part for part in proc.cmdline())

    def _sample(self) -> None:
        for root in self.roots:
            try:
                processes = [self.psutil.Process(root)]
                processes += processes[0].children(recursive=True)
            except self.psutil.NoSuchProcess:
                continue
            for proc in processes:
                if proc.pid not in self.kind or self._young_task(proc):
                    self.kind[proc.pid] = self._classify(proc)
                try:
                    times = proc.cpu_times()
                except self.psutil.Error:
                    continue
                self.self_cpu[proc.pid] = times.user + times.system
                self.reaped[proc.pid] = times.children_user + times.children_system

    def totals(self) -> tuple[float, float]:
        """(CPU of the executor's processes, CPU of the task processes) since the start."""
        executor = sum(cpu - self.base_self.get(pid, 0.0) for pid, cpu in self.self_cpu.items()
                       if self.kind.get(pid) not in ("task", "broker"))
        tasks = sum(cpu - self.base_reaped.get(pid, 0.0) for pid, cpu in self.reaped.items()
                    if self.kind.get(pid) == "reaper")
        return executor, tasks

    def by_role(self) -> dict[str, float]:
        """The executor's CPU seconds by process role."""
        roles: dict[str, float] = {}
        for pid, cpu in self.self_cpu.items():
            if self.kind.get(pid) != "task":
                role = self.role.get(pid, "other")
                roles[role] = roles.get(role, 0.0) + cpu - self.base_self.get(pid, 0.0)
        return {role: round(seconds, 2) for role, seconds in roles.items()}


# -- one measured run --------------------------------------------------------------------------------------
def idle_rate(roots: list[int], seconds: float = 5.0) -> float:
    """CPU seconds per second the idle cluster (scheduler, nanny, workers) burns: heartbeats, ticks, monitors."""
    import psutil

    def total() -> float:
        used = 0.0
        for root in roots:
            processes = [psutil.Process(root)]
            for proc in processes + processes[0].children(recursive=True):
                times = proc.cpu_times()
                used += times.user + times.system
        return used

    before = total()
    time.sleep(seconds)
    return (total() - before) / seconds


def run_once(kind: str, n: int, env: dict, roots: list[int], moto: Moto | None, bucket: str | None,
             idle: float = 0.0, run_args: tuple = ()) -> dict:
    """One `run` of the foreach flow: wall seconds, tasks/s, CPU split, and S3 requests when on S3."""
    executor = kind.split("/")[0]
    cmd = [sys.executable, "-m", "artiflow", FLOW, "--quiet", "run", "--n", str(n), "--max-num-splits", str(n + 10),
           *run_args]
    if executor == "dask":
        cmd += ["--executor", "dask"]
    offset = moto.offset() if moto else 0
    server_cpu = moto.cpu() if moto and bucket else 0.0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with CpuSampler(proc.pid, roots) as cpu:
        out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed ({proc.returncode}):\n{err[-2000:]}")
    tasks = n + 3
    executor_cpu, task_cpu = cpu.totals()
    beyond_idle = executor_cpu - (idle * wall if roots else 0.0)  # the cluster's idle load is not the run's
    record = {"case": kind, "wall_s": round(wall, 2), "tasks": tasks, "tasks_per_s": round(tasks / wall, 1),
              "executor_cpu_ms_per_task": round(beyond_idle / tasks * 1000, 2),
              "executor_cpu_ms_per_task_with_idle": round(executor_cpu / tasks * 1000, 2),
              "task_cpu_ms_per_task": round(task_cpu / tasks * 1000, 2), "executor_cpu_s_by_process": cpu.by_role()}
    broker_cpu = cpu.by_role().get("s3 broker")
    if broker_cpu is not None:  # the small-blob requests the tasks handed to it (datastore/s3broker.py)
        record["s3_broker_cpu_ms_per_task"] = round(broker_cpu / tasks * 1000, 2)
    if moto and bucket:
        counts = moto.requests_since(offset, bucket)
        record["s3_requests"] = dict(counts)
        record["s3_requests_per_task"] = round(sum(counts.values()) / tasks, 2)
        record["s3_server_cpu_s"] = round(moto.cpu() - server_cpu, 2)  # what the S3 server itself spent
    return record


def metaflow_once(python: str, n: int, workdir: str) -> dict:
    """Metaflow's local run of the same flow (local datastore and metadata), invoked as benchmarks/run.py does."""
    home = tempfile.mkdtemp(dir=workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFLOW_", "METAFLOW_"))}
    env.update(METAFLOW_HOME=os.path.join(home, ".metaflowconfig"), METAFLOW_DATASTORE_SYSROOT_LOCAL=home,
               METAFLOW_DEFAULT_DATASTORE="local", METAFLOW_DEFAULT_METADATA="local", METAFLOW_USER="bench",
               USERNAME="bench", USER="bench")
    start = time.perf_counter()
    subprocess.run([os.path.abspath(python), FLOW, "--no-pylint", "--datastore=local", "--metadata=local", "run", "--n", str(n),
                    "--max-num-splits", str(n + 10)], env=env, cwd=home, check=True, capture_output=True)
    wall = time.perf_counter() - start
    return {"case": "metaflow", "wall_s": round(wall, 2), "tasks": n + 3, "tasks_per_s": round((n + 3) / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="foreach tasks (default 1000)")
    parser.add_argument("--n-small", type=int, default=100,
                        help="also run with this many tasks (default 100; 0: don't): the difference gives the cost of "
                             "one more task, without each run's fixed start-up")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (default 1); medians are printed")
    parser.add_argument("--cases", default="dask/s3,local/s3,dask/memdir,local/memdir")
    parser.add_argument("--against-metaflow", metavar="PY", help="a python with metaflow installed")
    parser.add_argument("--cluster-env", metavar="NAME=VALUE", action="append", default=[], type=lambda t: t.split("=", 1),
                        help="an environment variable for the scheduler and workers, e.g. "
                             "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False (repeatable)")
    parser.add_argument("--max-workers", type=int, help="--max-workers of every run (default: artiflow's, 16)")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "dask.json"))
    args = parser.parse_args()
    run_args = ("--max-workers", str(args.max_workers)) if args.max_workers else ()
    workdir = tempfile.mkdtemp(prefix="artiflow-bench-dask-")
    moto = Moto(os.path.join(workdir, "moto.log"))
    records: list[dict] = []
    try:
        worker_env = {**CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                      "ARTIFLOW_S3_ENDPOINT_URL": moto.endpoint, "PYTHONPATH": PLUGIN, **dict(args.cluster_env)}
        with dask_cluster(worker_env, nworkers=2, nthreads=2) as cluster:
            roots = [cluster.scheduler.pid, cluster.workers.pid]
            idle = idle_rate(roots)
            print(f"idle cluster: {idle:.3f} CPU-s/s (subtracted from the executor's CPU of Dask runs)", flush=True)
            cases = [c for c in args.cases.split(",") if c]
            for round_no in range(args.repeat):
                order = cases if round_no % 2 == 0 else list(reversed(cases))
                for kind in order:
                    for n in ([args.n_small] if args.n_small else []) + [args.n]:
                        records.append(measure(kind, n, workdir, moto, cluster, roots, idle, run_args))
                        print(json.dumps(records[-1]), flush=True)
                if args.against_metaflow:
                    records.append(metaflow_once(args.against_metaflow, args.n, workdir))
                    print(json.dumps(records[-1]), flush=True)
    finally:
        moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarize(records, args.n, args.n_small)
    print_table(summary)
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "records": records, "summary": summary}, f, indent=1)


def measure(kind: str, n: int, workdir: str, moto: Moto, cluster, roots: list[int], idle: float,
            run_args: tuple = ()) -> dict:
    """Set up a fresh datastore and home for `kind` and time one run."""
    home = tempfile.mkdtemp(dir=workdir)
    env = {**os.environ, **CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "ARTIFLOW_ROOT": os.path.join(home, ".artiflow"), "ARTIFLOW_DASK_SCHEDULER": cluster.address,
           "PYTHONPATH": os.pathsep.join([os.path.join(REPO, "src"), PLUGIN])}
    bucket = None
    if kind.endswith("/s3"):
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        s3_client(moto.endpoint).create_bucket(Bucket=bucket)
        env.update(ARTIFLOW_DATASTORE_ROOT=f"s3://{bucket}/runs", ARTIFLOW_S3_ENDPOINT_URL=moto.endpoint)
    else:
        folder = os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else home, f"memdir-{uuid.uuid4().hex[:8]}")
        env["ARTIFLOW_DATASTORE_ROOT"] = f"memdir://{folder}"
    try:
        return run_once(kind, n, env, roots if kind.startswith("dask") else [], moto, bucket, idle, run_args)
    finally:
        if not kind.endswith("/s3"):
            shutil.rmtree(env["ARTIFLOW_DATASTORE_ROOT"].removeprefix("memdir://"), ignore_errors=True)


FIGURES = ("wall_s", "tasks_per_s", "executor_cpu_ms_per_task", "task_cpu_ms_per_task", "s3_requests_per_task",
           "s3_server_cpu_s", "s3_broker_cpu_ms_per_task")


def summarize(records: list[dict], n: int, n_small: int) -> dict:
    """Medians per case at --n, and the marginal cost of one more task from the --n and --n-small runs."""
    summary: dict[str, dict] = {}
    for record in records:
        summary.setdefault(record["case"], {}).setdefault(record["tasks"], []).append(record)
    out = {}
    for case, by_size in summary.items():
        big = by_size[n + 3]
        row = {key: statistics.median(r[key] for r in big) for key in FIGURES if key in big[0]}
        if "s3_requests" in big[0]:
            row["s3_requests"] = big[-1]["s3_requests"]
        small = by_size.get(n_small + 3)
        if small and n > n_small:
            def total(rows: list[dict], key: str, per_task_ms: bool) -> float:
                value = statistics.median(r[key] for r in rows)
                return value * rows[0]["tasks"] / (1000 if per_task_ms else 1)

            extra = n - n_small
            walls = [statistics.median(r["wall_s"] for r in rows) for rows in (big, small)]
            row["marginal_wall_ms"] = round((walls[0] - walls[1]) / extra * 1000, 2)
            for key in ("executor_cpu_ms_per_task", "task_cpu_ms_per_task"):
                row["marginal_" + key] = round((total(big, key, True) - total(small, key, True)) / extra * 1000, 2)
            if "s3_requests_per_task" in big[0]:
                row["marginal_s3_requests"] = round(
                    (total(big, "s3_requests_per_task", False) - total(small, "s3_requests_per_task", False)) / extra, 2)
        out[case] = row
    return out


def print_table(summary: dict) -> None:
    print(f"\n{'case':<14}{'wall s':>8}{'tasks/s':>9}{'exec CPU':>10}{'task CPU':>10}{'S3 req':>8}"
          f"   | per extra task: {'wall':>7}{'exec CPU':>10}{'task CPU':>10}{'S3 req':>8}")
    def cell(row: dict, key: str, width: int) -> str:
        value = row.get(key, "")
        return f"{value:>{width}.2f}" if isinstance(value, float) else f"{value:>{width}}"

    for case, row in summary.items():
        print(f"{case:<14}{row['wall_s']:>8.2f} {row['tasks_per_s']:>8.1f}{cell(row, 'executor_cpu_ms_per_task', 10)}"
              f"{cell(row, 'task_cpu_ms_per_task', 10)}{cell(row, 's3_requests_per_task', 8)}"
              f"   | {'':>16}{cell(row, 'marginal_wall_ms', 7)}{cell(row, 'marginal_executor_cpu_ms_per_task', 10)}"
              f"{cell(row, 'marginal_task_cpu_ms_per_task', 10)}{cell(row, 'marginal_s3_requests', 8)}")
    print("(CPU and wall per task in ms; 'per extra task': the difference between the --n and --n-small runs)")
    for case, row in summary.items():
        if "s3_broker_cpu_ms_per_task" in row:
            print(f"{case}: the S3 broker processes (the tasks' small-blob requests) spent "
                  f"{row['s3_broker_cpu_ms_per_task']} CPU ms per task")
        if "s3_server_cpu_s" in row:
            requests = sum(row["s3_requests"].values())
            print(f"{case}: the S3 server (moto) spent {row['s3_server_cpu_s']:.1f} CPU s on {requests} requests "
                  f"({row['s3_server_cpu_s'] / max(requests, 1) * 1000:.1f} ms each)")
    for case in ("dask/s3", "dask/memdir"):
        local = case.replace("dask", "local")
        if case in summary and local in summary:
            print(f"{case}: {summary[local]['wall_s'] / summary[case]['wall_s']:.2f}x the speed of {local}")
    if "metaflow" in summary and "dask/s3" in summary:
        print(f"dask/s3: {summary['metaflow']['wall_s'] / summary['dask/s3']['wall_s']:.1f}x faster than Metaflow's "
              f"local run")


if __name__ == "__main__":
    main()
