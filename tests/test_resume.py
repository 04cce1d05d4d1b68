"""resume: reuse by reference, rerun only what failed, new code, killed runner, and each bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import FLOWS, REPO, ok, run_flow
from failure_helpers import assert_all_artifacts_intact, child_pids, kill_quietly
from store_spy import run_spied

FLOW = "failures_flow.py"


def run_of(flow: str, run_id: str | None = None):
    from artiflow import Flow

    return Flow(flow)[run_id] if run_id else Flow(flow).latest_run


def rerun_tasks(step) -> list:
    return [t for t in step if t.origin_pathspec is None]


def test_resume_after_an_exception_reruns_only_the_failed_tasks(af_home):
    assert run_flow(FLOW, "run", "--n", "6", env={"MODE": "raise", "FAIL_AT": "1,3"}).returncode == 1
    result, calls = run_spied(af_home, FLOW, "resume")
    assert "Resuming FailuresFlow/1 as run FailuresFlow/2 from step 'work'" in ok(result).stdout
    run = run_of("FailuresFlow")
    assert run.id == "2" and run.successful
    rerun = rerun_tasks(run["work"])
    assert sorted(t.index for t in rerun) == [1, 3]
    reused = [t for t in run["work"] if t.origin_pathspec]
    assert len(reused) == 4 and all(t.origin_pathspec.startswith("FailuresFlow/1/work/") for t in reused)
    assert run["start"].task.origin_pathspec == "FailuresFlow/1/start/1"
    for task in reused:  # by reference: the same blobs, not copies
        origin = task.origin_pathspec.split("/")[-1]
        assert task["value"].sha == run_of("FailuresFlow", "1")["work"][origin]["value"].sha
    # ... and not loaded and saved again: the resumed run stores `value` only for the tasks it reran, and
    # nothing of what `start` made (which no rerun task sets) is stored again by anyone
    assert sorted(c.where for c in calls.saves("value")) == sorted(t.pathspec for t in rerun)
    assert not [c for c in calls.saves() if c.name in ("items", "big", "n")]
    assert not [c for c in calls.calls if c.where in {t.pathspec for t in reused}]
    assert run["join"].task.data.values == [0, 10, 20, 30, 40, 50]
    assert run["start"].task.data.n == 6  # parameters come from the origin run
    assert_all_artifacts_intact("FailuresFlow")


def test_origin_run_id_is_current_origin_run_id(af_home):
    path = af_home / "origin_flow.py"
    path.write_text(textwrap.dedent("""
        import os
        from artiflow import FlowSpec, current, step

        class OriginFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                self.origin = current.origin_run_id
                if os.environ.get("FAIL"):
                    raise RuntimeError("boom")

        if __name__ == "__main__":
            OriginFlow()
    """))
    assert run_flow(path, "run", env={"FAIL": "1"}).returncode == 1
    ok(run_flow(path, "resume", "--origin-run-id", "1"))
    assert run_of("OriginFlow")["end"].task.data.origin == "1"  # a string, like run_id (as in Metaflow)


def test_reused_tasks_keep_the_logs_of_their_origin_last_attempt(af_home):
    path = af_home / "logs_flow.py"
    path.write_text(textwrap.dedent("""
        import sys
        from artiflow import FlowSpec, current, retry, step

        class LogsFlow(FlowSpec):
            @retry(times=1, minutes_between_retries=0)
            @step
            def start(self):
                print(f"start says hello on attempt {current.retry_count}")
                print("start warns", file=sys.stderr)
                if current.retry_count == 0:
                    raise RuntimeError("first attempt fails")
                self.next(self.end)

            @step
            def end(self):
                print("end ran")

        if __name__ == "__main__":
            LogsFlow()
    """))
    ok(run_flow(path, "run"))
    ok(run_flow(path, "resume", "end"))
    reused = run_of("LogsFlow")["start"].task
    assert reused.origin_pathspec == "LogsFlow/1/start/1"
    assert reused.stdout == "start says hello on attempt 1\n"
    assert reused.stderr == "start warns\n"


def test_partial_foreach_of_1000_reruns_only_the_3_failures(af_home):
    args = ("--n", "1000", "--max-num-splits", "1000")
    failed = run_flow(FLOW, "--quiet", "run", *args, env={"MODE": "raise", "FAIL_AT": "5,500,999"}, timeout=300)
    assert failed.returncode == 1
    ok(run_flow(FLOW, "--quiet", "resume", "--max-num-splits", "1000", timeout=300))
    run = run_of("FailuresFlow")
    assert sorted(t.index for t in rerun_tasks(run["work"])) == [5, 500, 999]
    assert run["join"].task.data.values == [10 * i for i in range(1000)]


def test_resume_from_a_killed_task(af_home):
    assert run_flow(FLOW, "run", env={"MODE": "sigkill", "FAIL_AT": "2"}).returncode == 1
    ok(run_flow(FLOW, "resume"))
    run = run_of("FailuresFlow")
    assert [t.index for t in rerun_tasks(run["work"])] == [2]
    assert_all_artifacts_intact("FailuresFlow")


def test_nested_foreach_resume_reruns_only_failed_inner_tasks(af_home):
    assert run_flow("nested_fail_flow.py", "run", env={"FAIL": "0-1,2-2"}).returncode == 1
    ok(run_flow("nested_fail_flow.py", "resume"))
    run = run_of("NestedFailFlow")
    rerun = sorted(tuple(f["index"] for f in t.foreach_stack) for t in rerun_tasks(run["inner"]))
    assert rerun == [(0, 1), (2, 2)]
    assert run["outer_join"].task.data.grid == [[0, 1, 2], [10, 11, 12], [20, 21, 22]]
    assert_all_artifacts_intact("NestedFailFlow")


def test_resume_a_successful_run_from_a_step_with_changed_code(af_home):
    path = af_home / "change_flow.py"
    source = textwrap.dedent("""
        from artiflow import FlowSpec, step

        class ChangeFlow(FlowSpec):
            @step
            def start(self):
                self.a = 1
                self.next(self.middle)

            @step
            def middle(self):
                self.b = self.a + VALUE
                self.next(self.end)

            @step
            def end(self):
                print("b is", self.b)

        VALUE = 10

        if __name__ == "__main__":
            ChangeFlow()
    """)
    path.write_text(source)
    ok(run_flow(path, "run"))
    no_step = run_flow(path, "resume")
    assert no_step.returncode == 1 and "nothing to resume" in no_step.stderr
    path.write_text(source.replace("VALUE = 10", "VALUE = 100"))
    result = ok(run_flow(path, "resume", "middle"))
    assert "b is 101" in result.stdout
    run = run_of("ChangeFlow")
    assert run["start"].task.origin_pathspec == "ChangeFlow/1/start/1"
    assert run["middle"].task.origin_pathspec is None and run["middle"].task.data.b == 101


@pytest.mark.parametrize("args, message", [
    (["resume", "nosuch"], "has no step 'nosuch'; its steps are: start, work, join, end"),
    (["resume", "--origin-run-id", "42"], "FailuresFlow has no run '42'"),
    (["resume", "--origin-run-id", "HelloFlow/1"], "is a run of flow HelloFlow, not of FailuresFlow"),
    (["resume", "--origin-run-id", "abc"], "FailuresFlow has no run 'abc'"),
])
def test_bad_resume_inputs(af_home, args, message):
    ok(run_flow("hello_flow.py", "run"))
    assert run_flow(FLOW, "run", env={"MODE": "raise", "FAIL_AT": "0"}).returncode == 1
    result = run_flow(FLOW, *args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_resume_with_no_earlier_run(af_home):
    result = run_flow(FLOW, "resume")
    assert result.returncode == 1 and "There is no run of FailuresFlow by user tester" in result.stderr


def start_background(flow: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    return subprocess.Popen([sys.executable, str(FLOWS / flow), *args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen, text: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
    raise AssertionError(f"{text!r} never printed")


def test_killed_runner_shows_failed_within_the_timeout_and_resumes(af_home, monkeypatch):
    monkeypatch.setenv("ARTIFLOW_HEARTBEAT_TIMEOUT", "3")
    proc = start_background(FLOW, "run", env={"MODE": "sleep", "FAIL_AT": "0"})
    wait_for_line(proc, "misbehaves")
    time.sleep(0.5)  # let the other tasks finish and be recorded
    tasks = child_pids(proc.pid)
    proc.kill()  # SIGKILL: no chance to clean up, like a lost machine
    kill_quietly(tasks, signal.SIGKILL)
    proc.communicate()
    running = run_flow(FLOW, "resume", env={"ARTIFLOW_HEARTBEAT_TIMEOUT": "600"})  # not yet known to be dead
    assert running.returncode == 1 and "is still running" in running.stderr
    deadline = time.time() + 15
    while run_of("FailuresFlow", "1").status == "running" and time.time() < deadline:
        time.sleep(0.5)
    assert run_of("FailuresFlow", "1").status == "failed"
    sleeping = next(t for t in run_of("FailuresFlow", "1")["work"] if t.index == 0)
    assert sleeping.status == "failed" and not sleeping.finished  # its runner is gone: it will never finish
    status = subprocess.run([sys.executable, "-m", "artiflow", "status", "FailuresFlow"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert "failed" in status.stdout, status.stdout + status.stderr
    ok(run_flow(FLOW, "resume", env={"ARTIFLOW_HEARTBEAT_TIMEOUT": "3"}))
    resumed = run_of("FailuresFlow")
    assert resumed.successful and [t.index for t in rerun_tasks(resumed["work"])] == [0]
    assert_all_artifacts_intact("FailuresFlow")


def test_ctrl_c_leaves_a_resumable_run(af_home):
    proc = start_background(FLOW, "run", env={"MODE": "sleep", "FAIL_AT": "0,1"})
    wait_for_line(proc, "misbehaves")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "resume --origin-run-id 1" in err
    ok(run_flow(FLOW, "resume"))
    run = run_of("FailuresFlow")
    assert run.successful and sorted(t.index for t in rerun_tasks(run["work"])) == [0, 1]
    assert_all_artifacts_intact("FailuresFlow")
