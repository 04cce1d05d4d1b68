"""A real `mlflow server` for tests: on 127.0.0.1 and a free port, its SQLite store and artifacts in a folder.

It is slow to start (10-20 s: it imports MLflow and migrates its database), so a test module starts one and
shares it. `unavailable_reason()` says why one cannot be started here (MLflow's server not installed).
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from dask_cluster import stop_group

START_TIMEOUT = 120.0  # a busy 2-core machine can take a minute to import MLflow and migrate
INSTALL_HINT = "pip install mlflow (the full package: it has the server; the test extra installs it)"


def server_command() -> list[str] | None:
    """How to start MLflow's server from this interpreter's environment, or None when it is not installed."""
    if importlib.util.find_spec("mlflow") is None or importlib.util.find_spec("mlflow.server") is None:
        return None
    if importlib.util.find_spec("uvicorn") is None and importlib.util.find_spec("gunicorn") is None:
        return None  # mlflow-skinny alone: the client, no server to run
    return [sys.executable, "-m", "mlflow", "server"]


def unavailable_reason() -> str | None:
    if server_command() is None:
        return f"MLflow's tracking server is not installed: {INSTALL_HINT}."
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refused_uri() -> str:
    """An http URI of 127.0.0.1 where nothing listens (a server that is down)."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class MlflowServer:
    """A running server: its URI, and the process and folder to clean up."""

    uri: str
    proc: subprocess.Popen
    base: Path

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    def log_tail(self) -> str:
        log = self.base / "server.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"


def _answers(uri: str) -> bool:
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return response.status == 200
    return False


def _start(base: Path) -> MlflowServer:
    command = server_command()
    assert command is not None, unavailable_reason()
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    with open(base / "server.log", "ab") as log:
        proc = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                                 "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}",
                                 "--default-artifact-root", str(base / "artifacts")],
                                stdout=log, stderr=subprocess.STDOUT, cwd=base, start_new_session=True)
    server = MlflowServer(uri, proc, base)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}; its log:\n{server.log_tail()}")
        if _answers(uri):
            return server
        time.sleep(0.25)
    stop_group(proc, timeout=5)  # its data is thrown away: no need to wait for a graceful end
    raise RuntimeError(f"mlflow server did not answer within {START_TIMEOUT:g} s; its log:\n{server.log_tail()}")


@contextlib.contextmanager
def mlflow_server(base: Path) -> Iterator[MlflowServer]:
    """Start a server storing into `base`, yield it once it answers, stop it and remove `base` after."""
    base.mkdir(parents=True, exist_ok=True)
    server = _start(base)
    try:
        yield server
    finally:
        stop_group(server.proc, timeout=5)
        shutil.rmtree(base, ignore_errors=True)
