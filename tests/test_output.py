"""Task output: shown live and readable, stored complete and byte-exact, in linear time and bounded memory."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import FLOWS, REPO, ok, run_flow

from artiflow.runtime import console as console_module
from artiflow.runtime.console import Console
from artiflow.runtime.output import (LOG_PIECE_BYTES, PARTS, SHOWN_LINE_BYTES, SPOOL_MEMORY_BYTES, LineView,
                                     Spool, read_log, store_log)

MB = 1 << 20


def _payload_module():
    spec = importlib.util.spec_from_file_location("output_flow", FLOWS / "output_flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def expected_bytes(kind: str, mb: float) -> bytes:
    """What output_flow.py prints for these parameters."""
    return b"".join(_payload_module().payload(kind, int(mb * MB)))


@dataclass
class Measured:
    """One run of output_flow.py: its console output and the rusage of the process that ran it."""

    returncode: int
    console: str
    cpu: float       # user + system seconds of the runner and the tasks it reaped
    max_rss_kb: int  # the largest resident set among them: the runner's

    def runner_cpu(self) -> float:
        """The runner's own CPU: the whole tree's minus what the printing task said it used."""
        return self.cpu - latest_start().data.task_cpu


# Measures in a small process of its own: a child's ru_maxrss starts at the RSS of the process that spawned it
# (Linux keeps the high-water mark across exec), and the pytest process is large by now.
MEASURE = """
import os, subprocess, sys
with open(sys.argv[1], "wb") as out:
    proc = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""


def run_measured(tmp_path: Path, *args: str) -> Measured:
    """Run output_flow.py through its CLI as a child reaped with wait4: its own CPU time and peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = tmp_path / "console.txt"
    command = [sys.executable, "-c", MEASURE, str(log), sys.executable, str(FLOWS / "output_flow.py"), "run", *args]
    code, cpu, rss = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.split()
    text = log.read_bytes().decode("utf-8", "replace")
    assert code == "0", text[-3000:]
    return Measured(int(code), text, float(cpu), int(rss))


def latest_start():
    from artiflow import Flow

    return Flow("OutputFlow").latest_run["start"].task


def stored(task, stream: str = "stdout") -> bytes:
    """The stored bytes of a stream, as the client reads them (undecoded, to compare byte for byte)."""
    return task.attempts[-1]._log_bytes(stream)


def blob_sizes(home: Path) -> list[int]:
    return [p.stat().st_size for p in (home / ".artiflow" / "data" / "blobs").rglob("*") if p.is_file()]


# -- through real runs -------------------------------------------------------------------------------
def test_progress_output_costs_linear_time_bounded_memory_and_is_stored_byte_exact(af_home):
    small = run_measured(af_home, "--kind", "progress", "--mb", "12.5")
    small_cpu = small.runner_cpu()
    assert stored(latest_start()) == expected_bytes("progress", 12.5)
    large = run_measured(af_home, "--kind", "progress", "--mb", "50")
    task = latest_start()
    assert stored(task) == expected_bytes("progress", 50)  # complete, invalid UTF-8 and all
    assert task.stdout_size == len(expected_bytes("progress", 50))
    # 4x the output may cost up to 4x the runner's CPU, with room for noise; quadratic work would be ~16x
    assert large.runner_cpu() <= 4 * 1.5 * small_cpu, (small_cpu, large.runner_cpu())
    # the runner's memory does not grow with the output: it is spooled to a file and stored in pieces
    assert large.max_rss_kb - small.max_rss_kb < 8 * 1024, (small.max_rss_kb, large.max_rss_kb)
    assert max(blob_sizes(af_home)) <= LOG_PIECE_BYTES
    # the live view stays readable: the line's first update and its final text, not 260,000 updates
    shown = [line for line in large.console.splitlines() if line.startswith("[OutputFlow/2/start/1]")]
    assert shown[1] == "[OutputFlow/2/start/1] starting"
    assert shown[-2] == "[OutputFlow/2/start/1] done"
    updates = shown[2:-2]
    assert 1 <= len(updates) <= 4 and "99%|" in updates[-1] and "\ufffd" in updates[-1]
    assert len(large.console) < 10_000


def test_a_100_mb_line_without_a_newline_is_stored_whole_and_shown_cut(af_home):
    tiny = run_measured(af_home, "--kind", "longline", "--mb", "0.1")
    measured = run_measured(af_home, "--kind", "longline", "--mb", "100")
    expected = expected_bytes("longline", 100)
    task = latest_start()
    assert stored(task) == expected
    assert task.stdout == expected.decode()
    assert measured.max_rss_kb - tiny.max_rss_kb < 16 * 1024, (tiny.max_rss_kb, measured.max_rss_kb)
    (line,) = [line for line in measured.console.splitlines() if "more bytes of this line not shown" in line]
    assert line.startswith("[OutputFlow/2/start/1] abc é ü 漢字 abc")
    assert f"{len(expected) - SHOWN_LINE_BYTES:,} more bytes" in line
    assert len(line.encode()) < SHOWN_LINE_BYTES + 200


def test_binary_garbage_is_shown_with_replacement_characters_and_stored_byte_exact(af_home):
    measured = run_measured(af_home, "--kind", "binary", "--mb", "6", "--stream", "stderr")
    expected = expected_bytes("binary", 6)
    task = latest_start()
    assert stored(task, "stderr") == expected and task.stdout == ""
    assert task.stderr == expected.decode("utf-8", "replace")
    assert [line for _, line in task.loglines("stderr", as_unicode=False)] == expected.splitlines()
    assert "\ufffd" in measured.console
    assert max(blob_sizes(af_home)) <= LOG_PIECE_BYTES


def test_the_logs_command_prints_a_log_stored_in_pieces(af_home):
    ok(run_flow("output_flow.py", "run", "--kind", "progress", "--mb", "9"))
    shown = ok(run_flow("output_flow.py", "logs", "1/start", "--stdout")).stdout
    text = expected_bytes("progress", 9).decode("utf-8", "replace").replace("\r", "\n")  # as a text pipe reads it
    assert text.rstrip("\n") in shown


# -- the pieces, directly ---------------------------------------------------------------------------
def views() -> tuple[LineView, list[tuple[str, bool]]]:
    shown: list[tuple[str, bool]] = []
    return LineView(lambda text, update: shown.append((text, update))), shown


def test_lines_are_shown_whole_whatever_the_chunks():
    view, shown = views()
    for chunk in (b"he", b"llo\nwor", b"ld\n\nno newline"):
        view.feed(chunk)
    view.close()
    assert shown == [("hello", False), ("world", False), ("", False), ("no newline", False)]


def test_carriage_returns_replace_the_line_and_only_the_last_update_of_a_chunk_is_offered():
    view, shown = views()
    view.feed(b"\r 10%\r 20%\r 30%")   # 30% may still be being written: 20% is the latest complete update
    view.feed(b"\r 40%\r")
    view.feed(b"\n")                   # tqdm's close: the line's final text is its last update
    view.feed(b"win\r\n")              # a Windows line end is a line end
    assert shown == [(" 20%", True), (" 40%", False), ("win", False)]  # 40% came within the offer gap


def test_a_long_line_is_cut_on_the_console_with_bounded_memory():
    view, shown = views()
    for _ in range(1000):
        view.feed(b"x" * 65536)
    assert len(view.text) == SHOWN_LINE_BYTES
    view.feed(b"\n")
    ((text, update),) = shown
    assert not update and text.startswith("x" * SHOWN_LINE_BYTES)
    assert f"[... {1000 * 65536 - SHOWN_LINE_BYTES:,} more bytes of this line not shown" in text


def test_spool_keeps_every_byte_and_stores_a_long_log_in_pieces(tmp_path):
    from artiflow.datastore import open_store

    spool = Spool()
    data = os.urandom(3 * SPOOL_MEMORY_BYTES + 5)
    for start in range(0, len(data), 4096):
        spool.write(data[start:start + 4096])
    spool += b"tail"
    assert spool.fd is not None and len(spool.buffer) < SPOOL_MEMORY_BYTES  # on disk, not in memory
    assert spool.getvalue() == data + b"tail"
    store = open_store(str(tmp_path))
    key = store_log(store, spool)
    pieces = list(Spool.pieces(spool, SPOOL_MEMORY_BYTES))
    assert len(pieces) == 4 and all(len(p) == SPOOL_MEMORY_BYTES for p in pieces[:-1])
    assert read_log(store, key) == data + b"tail"
    small = store_log(store, b"a short log")
    assert not small.startswith(PARTS) and read_log(store, small) == b"a short log"
    assert store_log(store, b"") is None and read_log(store, None) == b""
    big = os.urandom(LOG_PIECE_BYTES + 10)
    parts = store_log(store, big)
    assert parts.startswith(PARTS) and len(parts.split()) == 2 and read_log(store, parts) == big


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@dataclass(frozen=True)
class Spec:
    pathspec: str


@pytest.mark.parametrize("tty", [True, False])
def test_console_draws_updates_in_place_on_a_terminal_and_seldom_elsewhere(monkeypatch, tty):
    out = FakeTerminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    clock = [100.0]
    monkeypatch.setattr(console_module.time, "monotonic", lambda: clock[0])
    console, task, other = Console(), Spec("F/1/a/1"), Spec("F/1/b/2")
    assert console.task_line(task, "stdout", "10%", update=True)
    clock[0] += 0.01
    assert console.task_line(task, "stdout", "20%", update=True) is False  # too soon: offered again later
    clock[0] += 1
    assert console.task_line(task, "stdout", "30%", update=True) is tty
    console.task_line(other, "stdout", "a line of another task")
    console.task_line(task, "stdout", "100%")
    if tty:
        assert out.getvalue() == ("\r[F/1/a/1] 10%\x1b[K\r[F/1/a/1] 30%\x1b[K\n[F/1/b/2] a line of another task\n"
                                  "[F/1/a/1] 100%\n")
    else:
        assert out.getvalue() == "[F/1/a/1] 10%\n[F/1/b/2] a line of another task\n[F/1/a/1] 100%\n"


# -- live logs: what was stored while a task ran, and its final log -------------------------------------
class RecordedLogs:
    """Where LiveLogs records a running attempt's log keys (the metadata store's one call it makes)."""

    def __init__(self) -> None:
        self.keys: list[tuple] = []

    def set_attempt_logs(self, flow, run_id, step, task_id, attempt, stdout_key, stderr_key) -> None:
        self.keys.append((stdout_key, stderr_key))


def live_attempt(tmp_path, printed: bytes):
    """LiveLogs over a real content store, after one flush of an attempt that has printed `printed`."""
    from types import SimpleNamespace

    from artiflow.datastore import open_store
    from artiflow.runtime.live_logs import QUIET_SECONDS, LiveLogs

    store, recorded = open_store(str(tmp_path / "data")), RecordedLogs()
    logs = LiveLogs(store, recorded, "F", 1)
    spec = SimpleNamespace(step="s", task_id=1, attempt=0)
    spools = {"stdout": Spool(), "stderr": Spool()}
    spools["stdout"].write(printed)
    logs.flush([(spec, 0.0, spools)], now=QUIET_SECONDS + 5)
    return logs, spec, store, recorded


def test_a_final_log_that_begins_with_what_was_stored_keeps_those_parts(tmp_path):
    logs, spec, store, recorded = live_attempt(tmp_path, b"first line\n")
    (part,) = recorded.keys[0][0][len(PARTS):].split()
    final = logs.final_key(spec, "stdout", b"first line\nsecond line\n")
    assert final.startswith(PARTS) and final[len(PARTS):].split()[0] == part   # only the rest was stored
    assert read_log(store, final) == b"first line\nsecond line\n"


def test_a_final_log_that_differs_from_what_was_stored_is_stored_whole(tmp_path):
    # what a Dask executor held: the console's view of the lines (an update coalesced), not the task's bytes
    logs, spec, store, _ = live_attempt(tmp_path, b"waiting\nstep 3\r")
    exact = b"waiting\nstep 1\rstep 2\rstep 3\rdone\n"
    final = logs.final_key(spec, "stdout", exact)
    assert not final.startswith(PARTS) and read_log(store, final) == exact
    shorter = logs.final_key(spec, "stdout", b"wait")   # shorter than what was stored
    assert read_log(store, shorter) == b"wait"
