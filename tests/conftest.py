"""Shared fixtures: an isolated ARTIFLOW_ROOT per test and a helper to run flows through the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import s3_mode

FLOWS = Path(__file__).parent / "flows"
REPO = Path(__file__).parent.parent


@pytest.fixture
def af_home(tmp_path, monkeypatch, metadata_backend, request):
    """A fresh artiflow root and user for one test (also seen by the client in this process).

    Its metadata is the SQLite file under the root, or a fresh PostgreSQL database in a `both_backends` module.
    With ARTIFLOW_TEST_DATASTORE=s3 its datastore is a fresh prefix of a moto S3 bucket (see s3_mode.py)."""
    root = tmp_path / ".artiflow"
    monkeypatch.setenv("ARTIFLOW_ROOT", str(root))
    monkeypatch.setenv("ARTIFLOW_USER", "tester")
    for name in ("METAFLOW_USER", "ARTIFLOW_DATASTORE_ROOT", "ARTIFLOW_METADATA_URL", "METAFLOW_DATASTORE",
                 "METAFLOW_DATATOOLS_S3ROOT"):
        monkeypatch.delenv(name, raising=False)
    if metadata_backend is not None:
        monkeypatch.setenv("ARTIFLOW_METADATA_URL", metadata_backend)
    if s3_mode.enabled():
        s3_mode.point_at_s3(request, monkeypatch)
    monkeypatch.chdir(tmp_path)
    from artiflow.client import context

    context.clear_cache()
    context.default_namespace()
    yield tmp_path
    context.clear_cache()


def run_flow(flow: str | Path, *args: str, launcher: bool = False, env: dict | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    """`python flows/<flow> args...` (or `python -m artiflow <flow> args...`), capturing its output."""
    path = Path(flow) if Path(flow).is_absolute() else FLOWS / flow
    cmd = [sys.executable, "-m", "artiflow", str(path), *args] if launcher else [sys.executable, str(path), *args]
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """Assert a run succeeded, showing its output if not."""
    assert result.returncode == 0, f"exit {result.returncode}\nSTDOUT:\n{result.stdout}\nSTDERR:\n{result.stderr}"
    return result


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs, mounted for the test (root, and a kernel that lets us mount) and unmounted after."""
    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root and mount(8) to make a small real filesystem; the simulated test covers the rest")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here ({made.stderr.strip()}); the simulated test covers the rest")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


# -- PostgreSQL: a real server for the session, a fresh database per test, both backends for marked modules ----
BACKENDS = ("sqlite", "postgresql")
REQUIRE_POSTGRES = "ARTIFLOW_TEST_REQUIRE_POSTGRES"  # set by `make test`: a missing server fails instead of skipping


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "both_backends: run each test of the module (that uses af_home or the "
                                       "client's `store`) once on SQLite and once on a fresh PostgreSQL database")
    s3_mode.configure(config)
    if not hasattr(config, "workerinput"):  # once per session: in xdist's controller, before its workers start
        compile_artiflow()


def compile_artiflow() -> None:
    """Write artiflow's bytecode (`src/**/__pycache__`, git-ignored) once, for the thousands of flows and CLIs the
    tests start: with PYTHONDONTWRITEBYTECODE set, each of them would otherwise compile every module it imports
    again (measured: a hello run 0.29 -> 0.16 CPU s). No stale file is read: Python checks each one's source mtime."""
    import compileall

    compileall.compile_dir(REPO / "src", quiet=1)


def pytest_collection_modifyitems(config, items) -> None:
    s3_mode.select(config, items)  # ARTIFLOW_TEST_DATASTORE=s3: the flow tests only, on S3


@pytest.fixture(scope="session")
def s3_session_bucket():
    """(endpoint, bucket) of one moto_server for the session: the datastore of the flow tests in S3 mode."""
    with s3_mode.session_bucket() as found:
        yield found


def pytest_generate_tests(metafunc) -> None:
    """In a `both_backends` module, every test reaching the `metadata_backend` fixture runs once per backend."""
    if metafunc.definition.get_closest_marker("both_backends") and "metadata_backend" in metafunc.fixturenames:
        metafunc.parametrize("metadata_backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server of Debian's binaries on 127.0.0.1 for the session (skipped, with why, if not installed)."""
    import pg_server as server_module

    reason = server_module.unavailable_reason()
    if reason is not None:
        if os.environ.get(REQUIRE_POSTGRES, "") not in ("", "0"):
            pytest.fail(f"{reason} ({REQUIRE_POSTGRES} is set: the PostgreSQL tests may not be skipped)", pytrace=False)
        pytest.skip(reason)
    with server_module.postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL (with a password) of an empty PostgreSQL database for this test: a schema of its own."""
    return pg_server.new_schema()


@pytest.fixture
def metadata_backend(request) -> str | None:
    """The ARTIFLOW_METADATA_URL of this test: None for the default SQLite file, or a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    return request.getfixturevalue("pg_url")
