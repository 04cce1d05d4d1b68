"""Helpers for failure tests: check every stored artifact, find a runner's task processes."""

from __future__ import annotations

import os
from pathlib import Path


def assert_all_artifacts_intact(flow_name: str) -> int:
    """Read every artifact of every successful task of every run through the client; return the count."""
    from artiflow import Flow

    count = 0
    for run in Flow(flow_name):
        for step in run:
            for task in step:
                if task.successful:
                    for artifact in task.artifacts:
                        artifact.data  # loading verifies the blob's hash
                        count += 1
    assert count > 0
    return count


def child_pids(pid: int) -> list[int]:
    """Direct children of a process (from /proc)."""
    found = []
    for task_dir in Path(f"/proc/{pid}/task").glob("*"):
        children = (task_dir / "children").read_text().split()
        found.extend(int(c) for c in children)
    return found


def kill_quietly(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
