"""A real Dask cluster for tests: `dask scheduler` and `dask worker --nworkers N` on 127.0.0.1, as subprocesses.

The workers get the environment a deployment gives them (S3 endpoint and credentials, artiflow on the
path), never the test's own: what a task sees on a worker is the worker's environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from s3_server import free_port

REPO = Path(__file__).parent.parent
START_TIMEOUT = 60.0


def dask_command() -> str:
    """The `dask` console script of this Python's environment."""
    script = Path(sys.executable).with_name("dask")
    if not script.exists():
        raise RuntimeError("the dask CLI is not installed: pip install 'artiflow[dask]' (the test extra has it)")
    return str(script)


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: subprocess.Popen
    log_dir: str

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=30, set_as_default=False)

    def worker_pids(self) -> dict[str, int]:
        """Each worker's address → its process id (the processes that run the tasks' hosts)."""
        with self.client() as client:
            return client.run(os.getpid)

    def logs(self) -> str:
        return "\n".join(Path(self.log_dir, name).read_text(errors="replace")[-3000:]
                         for name in ("scheduler.log", "workers.log"))


@contextlib.contextmanager
def dask_cluster(env: dict[str, str], nworkers: int = 2, nthreads: int = 2, resources: str | None = None,
                 ) -> Iterator[Cluster]:
    """Start a scheduler and `nworkers` worker processes (each `nthreads`), wait until all joined, yield, stop."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log_dir = tempfile.mkdtemp(prefix="artiflow-dask-")
    path = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    full_env = {**os.environ, **env, "PYTHONPATH": path, "ARTIFLOW_CODE_CACHE": f"{log_dir}/code"}
    for name in ("ARTIFLOW_DATASTORE_ROOT", "ARTIFLOW_ROOT", "ARTIFLOW_METADATA_URL", "ARTIFLOW_USER"):
        full_env.pop(name, None)  # a worker knows the run's datastore from the run, not from its environment
    dask = dask_command()
    with open(f"{log_dir}/scheduler.log", "wb") as slog, open(f"{log_dir}/workers.log", "wb") as wlog:
        scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                      "--no-dashboard"], stdout=slog, stderr=subprocess.STDOUT, env=full_env,
                                     cwd=log_dir, start_new_session=True)
        extra = ["--resources", resources] if resources else []
        workers = subprocess.Popen([dask, "worker", address, "--nworkers", str(nworkers), "--nthreads", str(nthreads),
                                    "--no-dashboard", "--local-directory", f"{log_dir}/work", *extra],
                                   stdout=wlog, stderr=subprocess.STDOUT, env=full_env, cwd=log_dir,
                                   start_new_session=True)
    cluster = Cluster(address, scheduler, workers, log_dir)
    try:
        _wait_for_workers(cluster, nworkers)
        yield cluster
    finally:
        for proc in (workers, scheduler):
            stop_group(proc)
        shutil.rmtree(log_dir, ignore_errors=True)


def _wait_for_workers(cluster: Cluster, count: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for proc in (cluster.scheduler, cluster.workers):
            if proc.poll() is not None:
                raise RuntimeError(f"a dask process exited with {proc.returncode}:\n{cluster.logs()}")
        try:
            with cluster.client() as client:
                client.wait_for_workers(count, timeout=max(1.0, deadline - time.monotonic()))
                return
        except (OSError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"the Dask cluster did not start within {START_TIMEOUT} s:\n{cluster.logs()}")


def wait_for_workers(cluster: Cluster, count: int, timeout: float = 60.0) -> None:
    """Wait until the cluster has `count` workers again (after one was killed and its nanny restarted it)."""
    with cluster.client() as client:
        client.wait_for_workers(count, timeout=timeout)


def stop_group(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM a server's process group (a `dask worker` runs nannies and worker processes; `mlflow server` a
    uvicorn and its worker), then SIGKILL if it has not ended within `timeout` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
