"""Shared fixtures: an isolated ARTIFLOW_ROOT per test and a helper to run flows through the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FLOWS = Path(__file__).parent / "flows"
REPO = Path(__file__).parent.parent


@pytest.fixture
def af_home(tmp_path, monkeypatch):
    """A fresh artiflow root and user for one test (also seen by the client in this process)."""
    root = tmp_path / ".artiflow"
    monkeypatch.setenv("ARTIFLOW_ROOT", str(root))
    monkeypatch.setenv("ARTIFLOW_USER", "tester")
    for name in ("METAFLOW_USER", "ARTIFLOW_DATASTORE_ROOT", "ARTIFLOW_METADATA_URL", "METAFLOW_DATASTORE",
                 "METAFLOW_DATATOOLS_S3ROOT"):
        monkeypatch.delenv(name, raising=False)
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
