"""Client details Metaflow code relies on: KeyError lookups, finished, metadata, logs, task DAG, origins, namespaces."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime

import pytest

from artiflow.client import DataArtifact, Flow, Metadata, Run, Step, Task, namespace
from artiflow.exceptions import NamespaceMismatch, NotFound
from conftest import FLOWS, ok, run_flow
from test_client import hello, store  # noqa: F401  (fixtures)

pytestmark = pytest.mark.both_backends  # once on SQLite, once on PostgreSQL (conftest.py)

Entry = namedtuple("Entry", "field value type tags")


def _equal_properties(task1: Task, task2: Task) -> None:
    """Every property Task defines (but those the suite skips) gives equal values on two instances."""
    skipped = {"parent_tasks", "parent_task_pathspecs", "child_tasks", "child_task_pathspecs", "metadata", "data",
               "artifacts", "code"}
    names = [n for n, v in type(task1).__dict__.items() if isinstance(v, property) and n not in skipped]
    assert {"attempts", "current_attempt", "metadata_dict", "finished", "origin_pathspec"} <= set(names)
    for name in names:
        assert getattr(task1, name) == getattr(task2, name), name


# -- lookups ---------------------------------------------------------------------------------------------------
def test_missing_steps_and_artifacts_are_key_errors(af_home):
    ok(run_flow("hello_flow.py", "run"))
    run = Flow("HelloFlow").latest_run
    with pytest.raises(KeyError) as err:
        run["nostep"]
    assert str(err.value) == "Step HelloFlow/1/nostep does not exist; steps of HelloFlow/1: start, end."
    task = run["start"].task
    with pytest.raises(KeyError, match="Artifact noartifact does not exist in task HelloFlow/1/start/1"):
        task["noartifact"]
    with pytest.raises(KeyError, match="Task HelloFlow/1/start/9 does not exist"):
        run["start"]["9"]
    with pytest.raises(AttributeError, match="Artifact nope does not exist"):
        task.data.nope
    assert isinstance(err.value, NotFound)


# -- finished and successful, as on Metaflow -------------------------------------------------------------------
def test_a_failed_run_and_task_are_not_finished(af_home):
    assert run_flow("fail_flow.py", "run").returncode == 1
    run = Flow("FailFlow").latest_run
    assert not run.finished and not run.successful and run.status == "failed"
    failed = next(t for t in run["work"] if t.status == "failed")
    assert not failed.finished and not failed.successful
    assert run["start"].task.finished and run["start"].task.successful


def test_a_caught_task_is_finished_but_not_successful(af_home):
    ok(run_flow("failures_flow.py", "run", env={"MODE": "raise", "FAIL_AT": "1", "CATCH": "1"}))
    run = Flow("FailuresFlow").latest_run
    caught = next(t for t in run["work"] if t.index == 1)
    assert caught.status == "caught" and caught.finished and not caught.successful
    assert run.finished and run.successful


# -- metadata, attempts and logs -------------------------------------------------------------------------------
def test_task_metadata_records_every_attempt(af_home):
    ok(run_flow("failures_flow.py", "run", env={"MODE": "raise", "FAIL_AT": "1", "RETRIES": "1", "FAIL_ATTEMPTS": "1"}))
    run = Flow("FailuresFlow").latest_run
    retried = next(t for t in run["work"] if t.index == 1)
    entries = retried.metadata
    assert all(isinstance(m, Metadata) for m in entries) and Metadata._fields == ("name", "value", "created_at",
                                                                                    "type", "task")
    assert sorted(m.value for m in entries if m.type == "attempt") == ["0", "1"]
    assert all(isinstance(m.created_at, int) and m.task == retried for m in entries)
    assert retried.metadata_dict["attempt"] == "1" and retried.current_attempt == 1 and retried.attempt == 1
    once = next(t for t in run["work"] if t.index == 0)
    assert once.current_attempt == 0 and [a.number for a in once.attempts] == [0]


def test_loglines_and_log_sizes(af_home):
    ok(run_flow("hello_flow.py", "run"))
    end = Flow("HelloFlow").latest_run["end"].task
    lines = list(end.loglines("stdout"))
    assert [line for _, line in lines] == ["Hello"] and all(isinstance(stamp, datetime) for stamp, _ in lines)
    assert list(end.loglines("stdout", as_unicode=False))[0][1] == b"Hello"
    assert list(end.loglines("stderr")) == [] and end.stdout_size == len("Hello\n") and end.stderr_size == 0
    with pytest.raises(ValueError, match="Unknown log stream 'stdlog': use 'stdout' or 'stderr'"):
        list(end.loglines("stdlog"))


def test_what_a_local_run_has_not(af_home):
    ok(run_flow("hello_flow.py", "run"))
    run = Flow("HelloFlow").latest_run
    task = run["start"].task
    assert task.environment_info is None  # a run's environment is run.environment (artiflow's own)
    assert run.code.flowspec == task.code.flowspec == (FLOWS / "hello_flow.py").read_text()
    assert run["start"].environment_info is None and task.runtime_name is None
    artifact = task["message"]
    assert artifact.finished_at == artifact.created_at == task.finished_at
    assert artifact.path_components == ["HelloFlow", "1", "start", "1", "message"]
    assert task.path_components == ["HelloFlow", "1", "start", "1"] and run["start"].path_components[-1] == "start"


# -- the step and task graph -----------------------------------------------------------------------------------
def test_parent_and_child_steps(af_home):
    ok(run_flow("branch_flow.py", "run"))
    run = Flow("BranchFlow").latest_run
    assert sorted(s.name for s in run["start"].child_steps) == ["a", "b"] and run["start"].parent_steps == []
    assert sorted(s.name for s in run["join"].parent_steps) == ["a", "b"]
    assert [s.name for s in run["join"].child_steps] == ["end"] and run["end"].child_steps == []
    assert all(isinstance(s, Step) for s in run["a"].parent_steps)


def test_parent_and_child_tasks_in_a_nested_foreach(af_home):
    ok(run_flow("foreach_flow.py", "run"))
    run = Flow("ForeachFlow").latest_run
    start = run["start"].task
    assert start.parent_task_pathspecs == [] and len(start.child_tasks) == 3
    for outer in run["outer"]:
        assert outer.parent_task_pathspecs == [start.pathspec]
        children = outer.child_tasks
        assert len(children) == 2 and all(outer.pathspec in c.parent_task_pathspecs for c in children)
        assert outer.child_task_pathspecs == [c.pathspec for c in children]
    for join in run["side_join"]:
        assert sorted(p.step_name for p in join.parent_tasks) == ["left", "right"]
        for parent in join.parent_tasks:
            _equal_properties(parent, Task(parent.pathspec, _namespace_check=False))


def test_two_instances_of_a_retried_task_are_equal_in_every_property(af_home):
    ok(run_flow("failures_flow.py", "run", env={"MODE": "raise", "FAIL_AT": "1", "RETRIES": "1", "FAIL_ATTEMPTS": "1"}))
    for task in Flow("FailuresFlow").latest_run["work"]:
        _equal_properties(task, Task(task.pathspec))


# -- origins of a resumed run ----------------------------------------------------------------------------------
def test_origin_pathspecs_after_resume(af_home):
    assert run_flow("failures_flow.py", "run", env={"MODE": "raise", "FAIL_AT": "1"}).returncode == 1
    ok(run_flow("failures_flow.py", "resume"))
    first, resumed = Run("FailuresFlow/1"), Run("FailuresFlow/2")
    assert first.origin_pathspec is None and first["start"].origin_pathspec is None
    assert resumed.origin_pathspec == "FailuresFlow/1"
    assert resumed["start"].origin_pathspec == "FailuresFlow/1/start"
    cloned = resumed["start"].task
    assert cloned.origin_pathspec == "FailuresFlow/1/start/1"
    assert cloned["items"].origin_pathspec == "FailuresFlow/1/start/1/items"
    assert cloned.metadata_dict["origin-run-id"] == "1" and cloned.metadata_dict["origin-task-id"] == "1"
    rerun = next(t for t in resumed["work"] if t.index == 1)
    assert rerun.origin_pathspec is None and resumed["end"].task.origin_pathspec is None


# -- namespaces --------------------------------------------------------------------------------------------------
def test_namespace_check_can_be_turned_off(hello):
    with pytest.raises(NamespaceMismatch):
        Task("HelloFlow/2/start/1")
    assert Task("HelloFlow/2/start/1", _namespace_check=False).data.x == 1
    assert Step("HelloFlow/2/start", _namespace_check=False).task.id == "1"
    assert DataArtifact("HelloFlow/2/start/1/x", _namespace_check=False).data == 1
    run = Run("HelloFlow/2", _namespace_check=False)
    assert run["start"].task.data.x == 1 and run.parent.name == "HelloFlow"
    assert [r.id for r in Flow("HelloFlow", _namespace_check=False)] == ["4", "3", "2", "1"]
    namespace("user:nobody")
    assert [r.id for r in Flow("HelloFlow", _namespace_check=False)] == ["4", "3", "2", "1"]


def test_objects_keep_their_namespace_and_children_inherit_it(hello):
    flow = Flow("HelloFlow")
    namespace("user:bob")
    assert [r.id for r in flow] == ["4", "3", "1"]
    with pytest.raises(NamespaceMismatch, match=r"Run HelloFlow/2 is not in the current namespace 'user:alice'"):
        flow["2"]
    assert [r.id for r in Flow("HelloFlow")] == ["2"]
    run = Run("HelloFlow/2")
    namespace("user:alice")
    assert run["start"].task.data.x == 1 and [r.id for r in run.parent] == ["2"]


# -- control tasks -----------------------------------------------------------------------------------------------
def test_control_tasks_are_found_by_their_metadata(hello):
    hello.meta.add_task_metadata("HelloFlow", 3, "train", 3, 0, [Entry("internal_task_type", "control", "", [])])
    step = Run("HelloFlow/3")["train"]
    assert [t.id for t in step.control_tasks()] == ["3"] and step.control_task.id == "3"
    assert step.control_tasks("not_a_tag") == [] and [t.id for t in step.control_tasks("exp")] == ["3"]
    assert Run("HelloFlow/3")["start"].control_tasks() == [] and Run("HelloFlow/3")["start"].control_task is None


def test_task_exception_has_metaflows_attribute_names(af_home):
    assert run_flow("fail_flow.py", "run").returncode == 1
    failed = next(t for t in Flow("FailFlow").latest_run["work"] if t.status == "failed")
    assert failed.exception.exception == "division by zero" == failed.exception.message
    assert "ZeroDivisionError" in str(failed.exception) and "divide" in failed.exception.stacktrace


def test_client_objects_pickle_as_their_pathspec(hello):
    import pickle

    run = Run("HelloFlow/3")
    for obj in (Flow("HelloFlow"), run, run["train"], run["train"]["3"], run["train"]["3"]["score"]):
        again = pickle.loads(pickle.dumps(obj))
        assert again == obj and again._namespace == "user:alice" and again._namespace_check
    assert pickle.loads(pickle.dumps(Task("HelloFlow/2/start/1", _namespace_check=False))).data.x == 1


def test_run_data_of_a_caught_end_task(store):
    run = store.run("EndFlow")
    store.task("EndFlow", run, "start", {"a": 1})
    store.task("EndFlow", run, "end", status="caught")
    caught = Run(f"EndFlow/{run}")
    assert list(caught.data) == [] and caught.finished and not caught.successful  # as on Metaflow
