"""The runner always leaves a true record: under load, when it is killed, when its output or metadata fails."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import FLOWS, REPO, ok, run_flow
from failure_helpers import assert_all_artifacts_intact, child_pids, kill_quietly

FLOW = "load_flow.py"


def flow_env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra}


def start(*args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(FLOWS / FLOW), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=flow_env(**extra))


def runs():
    from artiflow import Flow
    from artiflow.client import context

    context.clear_cache()
    return list(Flow("LoadFlow"))


def test_a_closed_stdout_fails_the_run_at_once_and_says_why(af_home):
    proc = start("run", N="30", SLEEP="0.05")
    for _ in range(3):
        proc.stdout.readline()
    proc.stdout.close()  # as `| head -3` does
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    assert "failed because the runner itself hit an error: its output could not be written" in stderr
    assert "resume --origin-run-id 1" in stderr and "Traceback" not in stderr
    (run,) = runs()
    assert run.status == "failed" and run.finished_at is not None  # at once, not after the heartbeat expires
    assert all(task.status != "running" for step in run for task in step)
    ok(run_flow(FLOW, "resume", env={"N": "30"}))
    assert runs()[0].successful


def hold_lock(path, seconds: float) -> subprocess.Popen:
    """Another process that takes the metadata database's write lock and keeps it."""
    code = (f"import sqlite3, time; c = sqlite3.connect({str(path)!r}, isolation_level=None); "
            f"c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep({seconds})")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_locked_metadata_database_is_a_clear_error_and_no_stuck_run(af_home):
    ok(run_flow(FLOW, "run", env={"N": "2"}))  # creates the database
    database = af_home / ".artiflow" / "metadata.db"
    locker = hold_lock(database, 3)
    result = run_flow(FLOW, "run", env={"N": "2", "ARTIFLOW_METADATA_BUSY_TIMEOUT": "0.5"})
    locker.wait()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"The metadata database {database} is locked by another process" in result.stderr
    assert "ARTIFLOW_METADATA_BUSY_TIMEOUT" in result.stderr
    assert [r.id for r in runs()] == ["1"]  # the run that could not start left nothing behind


def test_a_database_locked_during_a_run_stops_it_and_it_reads_as_failed(af_home, monkeypatch):
    monkeypatch.setenv("ARTIFLOW_HEARTBEAT_TIMEOUT", "1")
    proc = start("run", N="4", SLEEP="1.5", ARTIFLOW_METADATA_BUSY_TIMEOUT="0.5")
    proc.stdout.readline()
    time.sleep(0.8)  # the work tasks are sleeping
    locker = hold_lock(af_home / ".artiflow" / "metadata.db", 3)
    _, stderr = proc.communicate(timeout=60)
    locker.wait()
    assert proc.returncode == 1 and "Traceback" not in stderr
    assert "failed because the runner itself hit an error: The metadata database" in stderr
    assert "locked by another process" in stderr and "resume --origin-run-id 1" in stderr
    time.sleep(1.2)
    (run,) = runs()
    assert run.status == "failed"  # recorded, or known dead by its heartbeat: never stuck as running
    ok(run_flow(FLOW, "resume", env={"N": "4"}))
    assert runs()[0].successful


def test_a_runner_killed_at_random_points_always_resumes(af_home, monkeypatch):
    monkeypatch.setenv("ARTIFLOW_HEARTBEAT_TIMEOUT", "1")
    rng = random.Random(20261201)
    points = sorted(rng.uniform(0.0, 0.6) for _ in range(20))  # seconds after the run has started
    for delay in points:
        proc = start("run", N="12", SLEEP="0.02")
        assert "starting" in proc.stdout.readline()
        time.sleep(delay)
        tasks = child_pids(proc.pid)
        proc.kill()
        kill_quietly(tasks, signal.SIGKILL)
        proc.communicate()
    time.sleep(1.2)
    killed = runs()
    assert len(killed) == 20 and all(r.status in ("failed", "succeeded") for r in killed)
    failed = [r for r in killed if r.status == "failed"]
    for run in failed:
        ok(run_flow(FLOW, "resume", "--origin-run-id", run.id, env={"N": "12"}))
    resumed = [r for r in runs() if r.id not in {k.id for k in killed}]
    assert len(resumed) == len(failed) and all(r.successful for r in resumed)
    assert all(r.data.total == sum(2 * i for i in range(12)) for r in resumed)
    assert_all_artifacts_intact("LoadFlow")


def test_32_runs_at_once_on_one_root(af_home):
    procs = [start("run", "--max-workers", "4", N="100") for _ in range(32)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for (_, err) in outputs if err][:1]
    all_runs = runs()
    assert sorted(int(r.id) for r in all_runs) == list(range(1, 33))
    assert all(r.successful and r.data.total == 9900 for r in all_runs)
    assert assert_all_artifacts_intact("LoadFlow") >= 32 * 100


RUN_AND_REPORT_RSS = """
import atexit, os, runpy, sys
runner = os.getpid()
def report():
    if os.getpid() == runner:  # forked tasks run exit handlers too: only the runner reports
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) pytest process across exec
        peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        sys.stderr.write("runner-peak-rss-kb %s\\n" % peak)
atexit.register(report)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_a_10000_task_foreach_completes_in_bounded_memory(af_home):
    result = subprocess.run([sys.executable, "-c", RUN_AND_REPORT_RSS, str(FLOWS / FLOW), "--quiet", "run",
                             "--max-num-splits", "10000"], capture_output=True, text=True, timeout=600,
                            env=flow_env(N="10000"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "total 99990000" in result.stdout
    peak_mb = int(result.stderr.split("runner-peak-rss-kb")[1].split()[0]) / 1024
    assert peak_mb < 300, f"the runner's peak RSS was {peak_mb:.0f} MB"
    assert len(runs()[0]["work"]) == 10000


def test_a_full_disk_under_the_metadata_stops_the_run_saying_so_and_resume_works(af_home, small_disk):
    subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)], check=True)
    # 1 MiB fills after about 100 tasks' records (the WAL grows until a checkpoint): 600 fill it surely, and
    # the resume (which runs the rest once there is space) stays cheap
    env = {"ARTIFLOW_METADATA_URL": f"sqlite:///{small_disk / 'metadata.db'}", "ARTIFLOW_HEARTBEAT_TIMEOUT": "1",
           "N": "600"}
    failed = run_flow(FLOW, "--quiet", "run", "--max-num-splits", "5000", env=env, timeout=300)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "the runner itself hit an error: The disk holding the metadata database" in failed.stderr
    assert "is full" in failed.stderr and "resume --origin-run-id 1" in failed.stderr
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    time.sleep(1.2)
    os.environ.update(env)
    try:
        from artiflow import Flow
        from artiflow.client import context

        context.clear_cache()
        assert Flow("LoadFlow")["1"].status == "failed"  # recorded, or known dead by its heartbeat
        ok(run_flow(FLOW, "--quiet", "resume", "--max-num-splits", "5000", env=env, timeout=300))
        context.clear_cache()
        assert Flow("LoadFlow")["2"].successful
    finally:
        for name in env:
            os.environ.pop(name, None)
        context.clear_cache()


def test_a_bad_busy_timeout_names_the_variable(af_home):
    result = run_flow(FLOW, "run", env={"N": "1", "ARTIFLOW_METADATA_BUSY_TIMEOUT": "soon"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "ARTIFLOW_METADATA_BUSY_TIMEOUT='soon' is not a number of seconds" in result.stderr


def test_a_run_whose_executor_cannot_open_is_recorded_as_failed(af_home, monkeypatch, capsys):
    """The executor fails after the run is recorded (a cluster gone between the checks and the start):
    the run reads as failed at once, not after its heartbeat expires, and the error reaches the user."""
    import importlib.util

    from artiflow import Flow
    from artiflow.exceptions import ConfigError
    from artiflow.graph import FlowGraph
    from artiflow.runtime import launch
    from artiflow.runtime.scheduler import RunOptions

    spec = importlib.util.spec_from_file_location("hello_flow_for_executor_fault", FLOWS / "hello_flow.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # where the graph reader finds the class's source
    spec.loader.exec_module(module)

    def no_cluster(*args, **kwargs):
        raise ConfigError("No Dask scheduler answered at tcp://127.0.0.1:1 within 2 s")

    monkeypatch.setattr(launch, "Scheduler", no_cluster)
    with pytest.raises(ConfigError, match="No Dask scheduler answered"):
        launch.start_run(module.HelloFlow, FlowGraph.from_flow(module.HelloFlow), {}, RunOptions(quiet=True), None, None)
    run = Flow("HelloFlow").latest_run
    assert run.status == "failed" and run.finished_at is not None
    assert "HelloFlow/1 could not start its tasks and is recorded as failed" in capsys.readouterr().err
