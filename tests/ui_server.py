"""The real `artiflow ui` for tests: started as a subprocess on a free loopback port, stopped after.

    import ui_server
    ui = ui_server.fixture()            # a fixture named `ui`: the UI over this test's af_home stores

    def test_runs_list(ui, af_home):
        ok(run_flow("hello.py", "run"))
        page = ui.get("/")              # an httpx.Response
        assert page.status_code == 200

Or, with a chosen environment (PostgreSQL + S3, a token, another user):

    with ui_server.running(env={"ARTIFLOW_METADATA_URL": url, "ARTIFLOW_DATASTORE_ROOT": "s3://b/p", ...},
                           args=["--token", token]) as ui:
        ui.get("/api/runs", headers={"Authorization": f"Bearer {token}"})

The server reads the stores on every request, so runs made after it started are shown.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Iterator, Mapping, Sequence

import httpx
import pytest

REPO = Path(__file__).parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class UIServer:
    """A running `artiflow ui`: its base URL, an httpx client on it, and what it printed on stderr."""

    def __init__(self, url: str, proc: subprocess.Popen, log: IO[bytes], token: str | None) -> None:
        self.url = url  # e.g. http://127.0.0.1:41234 (no trailing slash)
        self.proc = proc
        self._log = log
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=url, headers=headers, timeout=30.0, follow_redirects=False)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET `path` (e.g. "/run/HelloFlow/1") from the server."""
        return self.client.get(path, **kwargs)

    def json(self, path: str, **kwargs: Any) -> Any:
        """GET `path` and return its JSON, asserting it answered 200 (with the body in the message if not)."""
        response = self.get(path, **kwargs)
        assert response.status_code == 200, f"GET {path}: {response.status_code}\n{response.text[:2000]}"
        return response.json()

    def stderr(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """This process's environment (where af_home put ARTIFLOW_ROOT), `env` on top, our sources first on the path."""
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = str(REPO / "src") + os.pathsep + full.get("PYTHONPATH", "")
    full.setdefault("PYTHONUNBUFFERED", "1")
    return full


def _wait_until_up(server: UIServer, deadline: float) -> None:
    """Poll /api/health until it answers 200; fail with the server's output if it exits or takes too long."""
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"artiflow ui exited with {server.proc.returncode} before answering on {server.url}:\n"
                               f"{server.stderr()[-4000:]}")
        try:
            response = server.get("/api/health", timeout=2.0)
            if response.status_code == 200:
                return
            last_error = f"/api/health answered {response.status_code}: {response.text[:500]}"
        except httpx.TransportError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.05)
    raise RuntimeError(f"artiflow ui did not answer {server.url}/api/health within {START_TIMEOUT:.0f} s "
                       f"({last_error}). Its output:\n{server.stderr()[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running(env: Mapping[str, str] | None = None, args: Sequence[str] = (), token: str | None = None,
            timeout: float = START_TIMEOUT) -> Iterator[UIServer]:
    """Start `artiflow ui --port <free> *args` with `env` over this process's environment; yield it; stop it.

    `token` (passed as --token, unless `env` gives it as ARTIFLOW_UI_TOKEN) is sent as a Bearer header on every
    request of `server.get`."""
    given = "--token" in args or (env or {}).get("ARTIFLOW_UI_TOKEN") == token
    extra = [*args, *(["--token", token] if token and not given else [])]
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a pipe nobody reads would stall the server
        for attempt in range(3):  # the free port may be taken between choosing it and the server binding it
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", "artiflow", "ui", "--port", str(port), *extra],
                                    stdout=log, stderr=subprocess.STDOUT, env=_environment(env), cwd=os.getcwd())
            server = UIServer(f"http://127.0.0.1:{port}", proc, log, token)
            try:
                _wait_until_up(server, deadline)
                break
            except RuntimeError:
                _stop(proc)
                server.client.close()
                if attempt == 2 or "Cannot listen" not in server.stderr():
                    raise
        try:
            yield server
        finally:
            server.client.close()
            _stop(proc)


def fixture(name: str = "ui", **options: Any):
    """A pytest fixture (named `name`) yielding a UIServer over the test's environment (use it with af_home)."""

    @pytest.fixture(name=name)
    def ui_fixture(af_home) -> Iterator[UIServer]:
        with running(**options) as server:
            yield server

    return ui_fixture
