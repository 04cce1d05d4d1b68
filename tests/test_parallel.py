"""@parallel and num_parallel: a gang of tasks, current.parallel, the control task, retry and catch of a gang."""

from __future__ import annotations

from conftest import ok, run_flow

FLOW = "parallel_flow.py"


def latest():
    from artiflow import Flow

    return Flow("ParallelFlow").latest_run


def test_a_gang_runs_its_tasks_and_the_join_gets_each(af_home):
    out = ok(run_flow(FLOW, "run")).stdout
    assert "nodes [0, 1, 2] matched True" in out
    run = latest()
    tasks = sorted(run["train"], key=lambda t: t.data.node)
    assert [t.data.nodes for t in tasks] == [3, 3, 3]
    control = tasks[0]
    assert {t.data.control for t in tasks} == {control.id}
    assert control.metadata_dict.get("internal_task_type") == "control"
    assert all("internal_task_type" not in t.metadata_dict for t in tasks[1:])
    assert [t.id for t in run["train"].control_tasks()] == [control.id]


def test_one_failing_node_retries_the_whole_gang(af_home):
    result = ok(run_flow(FLOW, "run", env={"FAIL_NODE": "1", "RETRIES": "2", "FAIL_ATTEMPTS": "1"}))
    assert "A task of the @parallel gang failed (RuntimeError: node 1 fails on attempt 0); all 3 tasks run again" in result.stderr
    assert "nodes [0, 1, 2] matched True" in result.stdout
    for task in latest()["train"]:
        assert [a.number for a in task.attempts] == [0, 1] and task.successful


def test_a_gang_that_keeps_failing_fails_the_run(af_home):
    result = run_flow(FLOW, "run", env={"FAIL_NODE": "2"})
    assert result.returncode == 1 and "node 2 fails on attempt 0" in result.stderr
    assert "join" not in {s.id for s in latest()}


def test_catch_on_a_gang_of_killed_tasks_goes_on_with_the_control_task(af_home):
    result = ok(run_flow(FLOW, "run", env={"FAIL_NODE": "1", "KILL": "1", "CATCH": "1", "RETRIES": "1"}))
    assert "nodes [-1] matched False" in result.stdout  # one input: the control task, with what it received
    tasks = {t.metadata_dict.get("internal_task_type"): t for t in latest()["train"]}
    control = tasks["control"]
    assert control.data.problem.type.endswith("FailureHandledByCatch")
    assert sorted(m.value for m in control.metadata if m.type == "attempt") == ["0", "1", "2"]


def test_catch_of_an_exception_keeps_each_node(af_home):
    result = ok(run_flow(FLOW, "run", env={"FAIL_NODE": "1", "CATCH": "1"}))
    assert "nodes [0, 1, 2] matched True" in result.stdout
    node1 = next(t for t in latest()["train"] if t.data.node == 1)
    assert node1.data.problem.exception == "node 1 fails on attempt 0"
    assert node1.data.problem.type == "builtins.RuntimeError"


def test_resume_runs_a_failed_gang_again_whole(af_home):
    assert run_flow(FLOW, "run", env={"FAIL_NODE": "0"}).returncode == 1
    out = ok(run_flow(FLOW, "resume")).stdout
    assert "nodes [0, 1, 2] matched True" in out
    assert all(t.origin_pathspec is None for t in latest()["train"])
