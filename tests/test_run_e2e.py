"""End-to-end runs through the real CLI, read back through the real client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FLOWS, REPO, ok, run_flow
from store_spy import run_spied


def latest(flow: str):
    from artiflow import Flow

    return Flow(flow).latest_run


def test_hello_run_stores_artifacts_and_logs(af_home):
    result = ok(run_flow("hello_flow.py", "run"))
    assert "[HelloFlow/1/end/2] Hello" in result.stdout
    run = latest("HelloFlow")
    assert run.id == "1" and run.successful and run.finished
    end = run["end"].task
    assert end.data.message == "Hello"
    assert "Hello" in end.stdout


def test_run_ids_are_allocated_in_order(af_home):
    ok(run_flow("hello_flow.py", "run"))
    ok(run_flow("hello_flow.py", "run", "--run-id-file", "rid.txt"))
    assert (af_home / "rid.txt").read_text() == "2"
    assert latest("HelloFlow").id == "2"


def test_identical_values_share_one_blob_and_untouched_pass_by_reference(af_home):
    spied = [run_spied(af_home, "hello_flow.py", "run", log_name=f"run{i}.tsv") for i in (1, 2)]
    for result, _ in spied:
        ok(result)
    from artiflow import Flow

    runs = list(Flow("HelloFlow"))
    shas = {r["start"].task["message"].sha for r in runs} | {r["end"].task["message"].sha for r in runs}
    assert len(shas) == 1
    (message_key,) = shas
    for run_id, (_, calls) in enumerate(spied, start=1):
        # `end` reads message (it prints it) and never sets it: it is passed on, not serialized again
        assert [c.where for c in calls.saves("message")] == [f"HelloFlow/{run_id}/start/1"]
        assert [c.where for c in calls.loads(message_key)] == [f"HelloFlow/{run_id}/end/2"]
        names = [c.name for c in calls.saves()]
        assert sorted(names) == sorted(set(names))  # and nothing else is saved twice either
    blobs = [p for p in (af_home / ".artiflow" / "data").rglob("*") if p.is_file()]
    assert not [p for p in blobs if p.name.startswith(".tmp-")]


def test_static_branches_are_isolated_ordered_and_merged(af_home):
    ok(run_flow("branch_flow.py", "run"))
    run = latest("BranchFlow")
    assert run["a"].task.data.seen_by_a == [] and run["b"].task.data.seen_by_b == []
    join = run["join"].task.data
    assert join.order == ["B", "A"]  # branch order as written: self.next(self.b, self.a)
    assert join.by_name == ["A", "B"]
    assert join.count == 2
    assert join.has_shared_before_merge is False
    end = run["end"].task.data
    assert (end.shared, end.only_a, end.only_b, end.conflict) == ("same", "A", "B", 3)


def test_foreach_nested_with_stack_and_static_branch_inside(af_home):
    result = ok(run_flow("foreach_flow.py", "run"))
    assert "a1 a2 b1 b2 c1 c2" in result.stdout
    run = latest("ForeachFlow")
    assert run["start"].task.data.top_index is None
    inner = sorted((t.data.word, t.data.my_index, t.index) for t in run["inner"])
    assert inner == [("a1", 0, 0), ("a2", 1, 1), ("b1", 0, 0), ("b2", 1, 1), ("c1", 0, 0), ("c2", 1, 1)]
    assert len(list(run["left"])) == 6 and len(list(run["side_join"])) == 6
    side = sorted(t.data.sides for t in run["side_join"])
    assert side == [["L", "R"]] * 6
    outer_join = run["outer_join"].task.data
    assert outer_join.stacks[0] == [(0, 3, "a"), (0, 2, 1)]
    assert outer_join.stacks[-1] == [(2, 3, "c"), (0, 2, 1)]
    letters = sorted(t.data.letter_here for t in run["inner_join"])
    assert letters == ["a", "b", "c"]


def test_parameters_types_env_and_current(af_home):
    data = af_home / "in.txt"
    data.write_text("some text")
    ok(run_flow("params_flow.py", "run", "--alpha", "0.5", "--needed", "7", "--config", '{"depth": 5}',
                "--flag", "--data", str(data), "--tag", "exp1", "--tag", "x y",
                env={"ARTIFLOW_RUN_COUNT": "9", "METAFLOW_RUN_WHO": "moon"}))
    run = latest("ParamsFlow")
    start = run["start"].task.data
    assert start.seen == {"alpha": 0.5, "count": 9, "who": "moon", "config": {"depth": 5}, "needed": 7,
                          "flag": True, "data": "some text"}
    assert "read-only" in start.write_error
    cur = start.cur
    assert cur["flow_name"] == "ParamsFlow" and cur["run_id"] == "1" and cur["step_name"] == "start"
    assert cur["pathspec"] == f"ParamsFlow/1/start/{cur['task_id']}"
    assert cur["retry_count"] == 0 and cur["username"] == "tester" and cur["namespace"] == "user:tester"
    assert cur["is_running_flow"] is True and sorted(cur["tags"]) == ["exp1", "x y"]
    assert set(cur["parameter_names"]) >= {"alpha", "needed", "data"}
    assert run["end"].task.data.alpha_in_end == 0.5
    assert "exp1" in run.tags


@pytest.mark.parametrize("args, message", [
    (["--alpha", "abc", "--needed", "1"], "'--alpha'"),
    (["--needed", "x"], "'--needed'"),
    ([], "--needed"),
    (["--needed", "1", "--config", "{bad"], "valid JSON"),
    (["--needed", "1", "--data", "missing.csv"], "missing.csv"),
    (["--needed", "1", "--tag", " "], "Invalid --tag"),
])
def test_bad_parameters_are_cli_errors_naming_them(af_home, args, message):
    result = run_flow("params_flow.py", "run", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_failing_task_exits_nonzero_with_user_traceback_and_pathspec(af_home):
    result = run_flow("fail_flow.py", "run")
    assert result.returncode == 1
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert "fail_flow.py" in result.stderr and "in divide" in result.stderr
    assert "artiflow/runtime" not in result.stderr  # only the user's frames
    assert "FailFlow/1/work/" in result.stderr
    run = latest("FailFlow")
    assert not run.successful
    failed = [t for t in run["work"] if not t.successful]
    assert len(failed) == 1 and "ZeroDivisionError" in str(failed[0].exception)
    assert "join" not in run


def test_unserializable_artifact_names_it_and_its_type(af_home):
    result = run_flow("bad_artifact_flow.py", "run")
    assert result.returncode == 1
    assert "Artifact 'gen'" in result.stderr and "generator" in result.stderr
    run = latest("BadArtifactFlow")
    assert not run["start"].task.successful
    assert run["start"].task.data.fine == 1  # a failed task keeps what it set before failing, for debugging


def test_too_many_splits_names_the_option(af_home):
    result = run_flow("splits_flow.py", "run", "--n", "5", "--max-num-splits", "3")
    assert result.returncode == 1
    assert "--max-num-splits" in result.stderr
    ok(run_flow("splits_flow.py", "run", "--n", "150", "--max-num-splits", "200", "--max-workers", "4"))
    run = latest("SplitsFlow")
    assert run["join"].task.data.ys == [2 * i for i in range(150)]


def test_six_concurrent_runs_get_distinct_ids(af_home):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    procs = [subprocess.Popen([sys.executable, str(FLOWS / "splits_flow.py"), "run", "--n", str(i + 1)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    from artiflow import Flow

    runs = list(Flow("SplitsFlow"))
    assert sorted(int(r.id) for r in runs) == [1, 2, 3, 4, 5, 6]
    assert sorted(len(r["join"].task.data.ys) for r in runs) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_tasks_and_marks_run_failed(af_home, sig):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, str(FLOWS / "slow_flow.py"), "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "sleeping" in line:
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (lines, out, err)
    assert "interrupted" in err
    run = latest("SlowFlow")
    assert not run.finished and run.status == "failed"
    assert all(not t.successful for t in run["sleep"])
    assert not [p for p in Path("/proc").glob("[0-9]*") if _is_sleep_task(p)]


def _is_sleep_task(proc_dir: Path) -> bool:
    """A leftover task process of slow_flow.py (it would be sleeping for a minute)."""
    try:
        return "slow_flow.py" in (proc_dir / "cmdline").read_text() and (proc_dir / "stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def artiflow_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=env)


def test_inspect_a_real_run_with_dump_logs_status_and_show(af_home):
    ok(run_flow("branch_flow.py", "run", "--tag", "nightly"))
    dump = ok(run_flow("branch_flow.py", "dump", "1/a")).stdout
    assert "only_a" in dump and "'A'" in dump
    whole = ok(run_flow("branch_flow.py", "dump", "1")).stdout
    assert "only_b" in whole and "conflict" in whole
    logs = ok(run_flow("branch_flow.py", "logs", "1/end")).stdout
    assert "shared same only_a A only_b B conflict 3" in logs
    status = artiflow_cli("status", "BranchFlow")
    assert status.returncode == 0 and "succeeded" in status.stdout and "nightly" in status.stdout
    run = artiflow_cli("show", "BranchFlow/1").stdout
    assert "join" in run and "succeeded" in run
    task_id = latest("BranchFlow")["end"].task.id
    task = artiflow_cli("show", f"BranchFlow/1/end/{task_id}").stdout
    assert "only_a" in task and "str" in task
    assert artiflow_cli("show", f"BranchFlow/1/end/{task_id}/conflict").stdout.strip() == "3"
    assert "shared same" in artiflow_cli("logs", "BranchFlow/1/end").stdout


@pytest.mark.parametrize("args, message", [
    (("show", "BranchFlow/9"), "BranchFlow/9"),
    (("show", "NoFlow"), "NoFlow"),
    (("show", "BranchFlow/1/nostep"), "nostep"),
    (("logs", "BranchFlow"), "does not name a step or a task"),
    (("status", "NoFlow"), "NoFlow"),
])
def test_inspect_errors_name_what_is_missing(af_home, args, message):
    ok(run_flow("branch_flow.py", "run"))
    result = artiflow_cli(*args)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_bad_parameter_from_the_environment_names_the_variable(af_home):
    result = run_flow("params_flow.py", "run", env={"ARTIFLOW_RUN_NEEDED": "x"})
    assert result.returncode == 2
    assert "'--needed'" in result.stderr and "environment variable ARTIFLOW_RUN_NEEDED" in result.stderr


def test_datastore_root_option_applies_to_dump(af_home):
    ok(run_flow("hello_flow.py", "--datastore-root", str(af_home / "blobs"), "run"))
    dump = ok(run_flow("hello_flow.py", "--datastore-root", str(af_home / "blobs"), "dump", "1/start")).stdout
    assert "'Hello'" in dump and "cannot load" not in dump


def test_del_drops_an_artifact_from_this_task_on(af_home):
    ok(run_flow("del_flow.py", "run"))
    run = latest("DelFlow")
    assert run["end"].task.data.seen == ["b"]
    assert "'nothing' is not available" in run["middle"].task.data.del_error
    assert "a" in run["start"].task.data and "a" not in run["middle"].task.data


@pytest.mark.parametrize("declaration, message", [
    ('index = Parameter("index", default=1)', "self.index is an attribute FlowSpec uses"),
    ('end_ = Parameter("bad name", default=1)', "must start with a letter"),
    ('a = Parameter("x", default=1)\n    b = Parameter("x", default=2)', "--x is also the option of self.a"),
])
def test_bad_parameter_declarations(af_home, declaration, message):
    path = af_home / "param_decl_flow.py"
    path.write_text("from artiflow import FlowSpec, Parameter, step\n\n\nclass DeclFlow(FlowSpec):\n"
                    f"    {declaration}\n\n    @step\n    def start(self):\n        self.next(self.end)\n\n"
                    "    @step\n    def end(self):\n        pass\n\n\nif __name__ == '__main__':\n    DeclFlow()\n")
    result = run_flow(path, "run")
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_a_process_left_running_by_a_step_does_not_hold_up_the_run(af_home):
    started = time.time()
    result = ok(run_flow("leftover_flow.py", "run", timeout=25))
    assert time.time() - started < 15
    assert "started a leftover process" in result.stdout and "done" in result.stdout
    os.kill(latest("LeftoverFlow")["start"].task.data.child, signal.SIGKILL)


def test_foreach_straight_into_its_join(af_home):
    ok(run_flow("foreach_direct_flow.py", "run"))
    assert latest("ForeachDirectFlow")["join"].task.data.seen == [(0, "a"), (1, "b"), (2, "c")]
