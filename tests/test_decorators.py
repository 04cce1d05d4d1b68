"""@retry, @catch, @timeout, stacked, from --with, and tasks that die: each through a real run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO, ok, run_flow
from failure_helpers import assert_all_artifacts_intact

FLOW = "failures_flow.py"


def work_tasks():
    from artiflow import Flow

    return {t.data.attempt_seen if "attempt_seen" in t.data else None: t
            for t in Flow("FailuresFlow").latest_run["work"]}


def task_at(index: int):
    from artiflow import Flow

    return next(t for t in Flow("FailuresFlow").latest_run["work"] if t.index == index)


def test_retry_keeps_every_attempt_with_its_logs(af_home):
    result = ok(run_flow(FLOW, "run", env={"MODE": "raise", "FAIL_AT": "1", "RETRIES": "2", "FAIL_ATTEMPTS": "2"}))
    assert "Attempt 0 failed (ValueError: bad item 1); retrying." in result.stderr
    task = task_at(1)
    assert task.successful and task.data.attempt_seen == 2
    attempts = task.attempts
    assert [a.status for a in attempts] == ["failed", "failed", "succeeded"]
    assert "attempt 0 of task 1 misbehaves" in attempts[0].stdout
    assert "attempt 1 of task 1 misbehaves" in attempts[1].stdout
    assert "ValueError: bad item 1" in attempts[0].stderr
    assert "ValueError" in str(attempts[1].exception)
    shown = ok(run_flow("failures_flow.py", "logs", f"1/work/{task.id}")).stdout
    assert f"--- FailuresFlow/1/work/{task.id} attempt 1 (failed) stdout ---" in shown
    assert "attempt 1 of task 1 misbehaves" in shown
    show = subprocess.run([sys.executable, "-m", "artiflow", "show", task.pathspec], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")}).stdout
    assert "ATTEMPT  STATUS" in show and "1        failed" in show and "2        succeeded" in show
    assert_all_artifacts_intact("FailuresFlow")


def test_retry_gives_up_after_times(af_home):
    result = run_flow(FLOW, "run", env={"MODE": "raise", "FAIL_AT": "0", "RETRIES": "1"})
    assert result.returncode == 1
    task = task_at(0)
    assert len(task.attempts) == 2 and not task.successful


def test_catch_stores_the_error_and_the_run_goes_on(af_home):
    ok(run_flow(FLOW, "run", env={"MODE": "raise", "FAIL_AT": "2", "CATCH": "1", "RETRIES": "1"}))
    from artiflow import Flow

    run = Flow("FailuresFlow").latest_run
    assert run.successful
    caught = task_at(2)
    assert caught.status == "caught" and not caught.successful
    assert len(caught.attempts) == 2
    problem = caught.data.problem
    assert problem.type == "builtins.ValueError" and problem.message == "bad item 2" and "misbehave" in problem.traceback
    assert caught.data.value == 20  # what the last attempt set before it raised is kept, as in Metaflow
    assert run["join"].task.data.values == [0, 10, 20, 30]
    assert run["join"].task.data.problems[2].startswith("Traceback") and "ValueError: bad item 2" in run["join"].task.data.problems[2]
    assert run["join"].task.data.problems[:2] == [None, None]
    assert task_at(1).data.problem is None  # @catch's artifact is None where the step worked
    assert_all_artifacts_intact("FailuresFlow")


def test_decorators_stack_in_any_order(af_home):
    ok(run_flow("stacked_flow.py", "run"))
    from artiflow import Flow

    run = Flow("StackedFlow").latest_run
    assert run["start"].task.data.attempts == 2 and len(run["start"].task.attempts) == 2
    assert run["middle"].task.status == "caught" and run["end"].task.data.err_type == "builtins.ValueError"


@pytest.mark.parametrize("mode, message", [
    ("sigkill", "killed by signal 9 (SIGKILL"),
    ("segfault", "killed by signal 11 (SIGSEGV: segmentation fault)"),
    ("exit", "exited with code 3"),
])
def test_a_task_that_dies_is_reported_and_retried(af_home, mode, message):
    result = run_flow(FLOW, "run", env={"MODE": mode, "FAIL_AT": "1"})
    assert result.returncode == 1
    assert message in result.stderr and "FailuresFlow/1/work/" in result.stderr
    died = task_at(1)
    assert not died.successful and "value" not in died.data
    assert message in str(died.exception)
    assert message in died.stderr  # the task's stored stderr says how it died (a segfault says so in words)
    ok(run_flow(FLOW, "run", env={"MODE": mode, "FAIL_AT": "1", "RETRIES": "1", "FAIL_ATTEMPTS": "1"}))
    assert task_at(1).successful and [a.status for a in task_at(1).attempts] == ["failed", "succeeded"]
    assert_all_artifacts_intact("FailuresFlow")


def test_timeout_stops_the_task_and_counts_as_an_attempt(af_home):
    result = run_flow(FLOW, "run", env={"MODE": "sleep", "FAIL_AT": "0", "TIMEOUT": "1", "RETRIES": "1",
                                        "FAIL_ATTEMPTS": "1"})
    assert result.returncode == 0, result.stderr
    assert "longer than its @timeout of 1 s" in result.stderr
    assert [a.status for a in task_at(0).attempts] == ["failed", "succeeded"]
    result = run_flow(FLOW, "run", env={"MODE": "sleep", "FAIL_AT": "0", "TIMEOUT": "1"})
    assert result.returncode == 1 and "timed out" in result.stderr
    assert_all_artifacts_intact("FailuresFlow")


def test_decorators_from_the_command_line(af_home):
    ok(run_flow(FLOW, "run", "--with", "retry:times=1,minutes_between_retries=0",
                env={"MODE": "raise", "FAIL_AT": "3", "FAIL_ATTEMPTS": "1"}))
    assert task_at(3).successful and len(task_at(3).attempts) == 2
    ok(run_flow(FLOW, "run", "--with", "catch:var=problem", env={"MODE": "raise", "FAIL_AT": "3"}))
    assert task_at(3).status == "caught" and task_at(3).data.problem.type == "builtins.ValueError"


@pytest.mark.parametrize("spec, message", [
    ("nope", "unknown decorator 'nope'"),
    ("retry:times=-1", "must be a number of 0 or more"),
    ("retry:tims=1", "does not take tims"),
    ("timeout", "needs a limit above 0"),
    ("retry:times", "expected name=value"),
])
def test_bad_with_is_a_clear_error(af_home, spec, message):
    result = run_flow("hello_flow.py", "run", "--with", spec)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_bad_decorator_in_the_flow_names_the_step_and_line(af_home):
    path = af_home / "bad_deco_flow.py"
    path.write_text(
        "from artiflow import FlowSpec, step, retry, timeout\n\n\n"
        "class BadDecoFlow(FlowSpec):\n"
        "    @timeout(seconds=0)\n"
        "    @step\n"
        "    def start(self):\n"
        "        self.next(self.end)\n\n"
        "    @retry\n    @retry\n    @step\n"
        "    def end(self):\n"
        "        pass\n\n\n"
        "if __name__ == '__main__':\n    BadDecoFlow()\n")
    result = run_flow(path, "run")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Step 'start'" in result.stderr and "bad_deco_flow.py:7" in result.stderr
    assert "needs a limit above 0" in result.stderr
