"""A spy on the content store for tests: which process saved or loaded which artifact, in a real run.

`run_spied(flow, *args)` runs a flow file through the artiflow launcher with `ContentStore.save` and
`ContentStore.load` wrapped, in the runner and in every task it forks: each call appends one line
(operation, artifact name, blob key, the task's pathspec or `runner`) to a file the test then reads.
A "same key" check cannot tell an artifact passed on by reference from one loaded and saved again;
this can: an untouched artifact must not be saved by any later task.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SPY_FILE = "ARTIFLOW_TEST_STORE_SPY"


@dataclass(frozen=True)
class Call:
    """One recorded call: `save` (with the artifact's name) or `load` (a ref has no name: only its key)."""

    op: str
    name: str
    key: str
    where: str  # the task's pathspec, or "runner"


class StoreLog:
    """The calls recorded in one spy file."""

    def __init__(self, path: Path) -> None:
        lines = path.read_text().splitlines() if path.exists() else []
        self.calls = [Call(*line.split("\t")) for line in lines]

    def saves(self, name: str | None = None) -> list[Call]:
        """The saves, of one artifact name or of all."""
        return [c for c in self.calls if c.op == "save" and (name is None or c.name == name)]

    def loads(self, key: str) -> list[Call]:
        """The loads of one blob key."""
        return [c for c in self.calls if c.op == "load" and c.key == key]


def run_spied(tmp_path: Path, flow: str, *args: str, env: dict | None = None,
              log_name: str = "store-calls.tsv") -> tuple[subprocess.CompletedProcess, StoreLog]:
    """Run `flow` (a file in tests/flows) with the spy installed; its result and the calls it made."""
    from conftest import FLOWS, run_flow

    log = tmp_path / log_name
    log.unlink(missing_ok=True)
    result = run_flow(Path(__file__), str(FLOWS / flow), *args, env={**(env or {}), SPY_FILE: str(log)})
    return result, StoreLog(log)


def install(path: str) -> None:
    """Wrap ContentStore.save and .load so that every call is appended to `path` (one write, O_APPEND)."""
    from artiflow import current
    from artiflow.datastore.store import ContentStore

    save, load = ContentStore.save, ContentStore.load

    def record(op: str, name: str, key: str) -> None:
        where = current.pathspec if current.is_running_flow else "runner"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{op}\t{name}\t{key}\t{where}\n".encode())
        finally:
            os.close(fd)

    def spied_save(self, name, value, *args, **kwargs):  # type: ignore[no-untyped-def]
        ref = save(self, name, value, *args, **kwargs)
        record("save", name, ref.key)
        return ref

    def spied_load(self, ref, *args, **kwargs):  # type: ignore[no-untyped-def]
        record("load", "", ref.key)
        return load(self, ref, *args, **kwargs)

    ContentStore.save = spied_save  # type: ignore[method-assign]
    ContentStore.load = spied_load  # type: ignore[method-assign]


if __name__ == "__main__":  # `python store_spy.py FLOW.py ARGS...`: the artiflow launcher, spied
    install(os.environ[SPY_FILE])
    from artiflow.cli.main import launch_file

    launch_file(sys.argv[1], sys.argv[2:])
