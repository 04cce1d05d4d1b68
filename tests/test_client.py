"""The client API (Flow, Run, Step, Task, DataArtifact, namespaces) over runs built with the metadata API."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from artiflow.client import (
    ArtifactNotFound, DataArtifact, Flow, InvalidPathspec, Metaflow, Run, Step, Task, TaskData,
    default_namespace, from_pathspec, get_namespace, namespace,
)
from artiflow.client import context as client_context
from artiflow.config import load_config
from artiflow.datastore import open_store
from artiflow.exceptions import ArtiflowException, NamespaceMismatch, NotFound
from artiflow.metadata import open_metadata

pytestmark = pytest.mark.both_backends  # once on SQLite, once on PostgreSQL (conftest.py)

ENV_VARS = ["ARTIFLOW_DATASTORE_ROOT", "ARTIFLOW_METADATA_URL", "METAFLOW_DATASTORE", "METAFLOW_DATATOOLS_S3ROOT",
            "METAFLOW_USER"]


@dataclass
class Store:
    """The metadata and content stores of a test's ARTIFLOW_ROOT, and helpers to record runs in them."""

    meta: Any
    store: Any
    root: Any
    ids: dict = field(default_factory=dict)

    def run(self, flow: str, user: str = "alice", tags: tuple = (), params: dict | None = None) -> int:
        run_id = self.meta.new_run(flow, user, list(tags), params or {})
        self.ids[(flow, run_id)] = itertools.count(1)
        return run_id

    def task(self, flow: str, run_id: int, step: str, artifacts: dict | None = None, status: str = "succeeded",
             stdout: str = "", stderr: str = "", exception: dict | None = None, foreach: list | None = None,
             attempt: int = 0, task_id: int | None = None, finish: bool = True) -> int:
        task_id = task_id or next(self.ids[(flow, run_id)])
        self.meta.start_task(flow, run_id, step, task_id, attempt, foreach or [], [])
        if finish:
            refs = {k: self.store.save(k, v) for k, v in (artifacts or {}).items()} if status == "succeeded" else {}
            out = self.store.put_bytes([stdout.encode()]) if stdout else None
            err = self.store.put_bytes([stderr.encode()]) if stderr else None
            self.meta.finish_task(flow, run_id, step, task_id, attempt, status, refs, out, err, exception)
        return task_id


@pytest.fixture
def store(tmp_path, monkeypatch, metadata_backend) -> Store:
    """An empty ARTIFLOW_ROOT for user alice, with fresh client caches and the default namespace (and its
    metadata on SQLite, or on a fresh PostgreSQL database: the module runs on both)."""
    monkeypatch.setenv("ARTIFLOW_ROOT", str(tmp_path / ".artiflow"))
    monkeypatch.setenv("ARTIFLOW_USER", "alice")
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    if metadata_backend is not None:
        monkeypatch.setenv("ARTIFLOW_METADATA_URL", metadata_backend)
    monkeypatch.setattr(client_context, "_namespace", client_context._UNSET)
    client_context.clear_cache()
    config = load_config()
    yield Store(open_metadata(config.metadata_url), open_store(config.datastore_root), config.root)
    client_context.clear_cache()


FOREACH = [{"step": "start", "var": "grid", "index": i, "num_splits": 3} for i in range(3)]
BOOM = {"type": "ValueError", "message": "bad value", "traceback": "Traceback ...\nValueError: bad value\n"}


@pytest.fixture
def hello(store: Store) -> Store:
    """HelloFlow runs: 1 alice ok, 2 bob failed in train, 3 alice ok with a foreach, 4 alice running."""
    r1 = store.run("HelloFlow", params={"alpha": 0.5})
    store.task("HelloFlow", r1, "start", {"message": "Hello"}, stdout="starting\n")
    store.task("HelloFlow", r1, "end", {"message": "Hello"}, stdout="Hello\n", stderr="a warning\n")
    store.meta.finish_run("HelloFlow", r1, "succeeded")
    r2 = store.run("HelloFlow", user="bob", tags=("exp",))
    store.task("HelloFlow", r2, "start", {"x": 1})
    store.task("HelloFlow", r2, "train", {"ignored": 1}, status="failed", stderr="oops\n", exception=BOOM)
    store.meta.finish_run("HelloFlow", r2, "failed")
    r3 = store.run("HelloFlow", tags=("exp", "best"))
    store.task("HelloFlow", r3, "start", {"grid": [0.1, 1.0, 10.0]})
    for frame, value in zip(FOREACH, [0.1, 1.0, 10.0]):
        store.task("HelloFlow", r3, "train", {"score": value * 2, "model": f"m{value}"}, foreach=[frame],
                   stdout=f"training {value}\n")
    store.task("HelloFlow", r3, "join", {"best": 20.0})
    store.task("HelloFlow", r3, "end", {"best": 20.0, "message": "done"})
    store.meta.finish_run("HelloFlow", r3, "succeeded")
    r4 = store.run("HelloFlow")
    store.task("HelloFlow", r4, "start", finish=False)
    other = store.run("OtherFlow", user="bob")
    store.task("OtherFlow", other, "start", {"y": 1})
    return store


# -- namespaces ------------------------------------------------------------------------------------
def test_namespace_functions(store):
    assert get_namespace() == "user:alice"
    assert namespace(None) is None and get_namespace() is None
    assert namespace("exp") == "exp" and get_namespace() == "exp"
    assert default_namespace() == "user:alice" and get_namespace() == "user:alice"


def test_run_outside_namespace_is_a_mismatch_that_says_how_to_see_it(hello):
    for reach in (lambda: Run("HelloFlow/2"), lambda: Flow("HelloFlow")["2"], lambda: Step("HelloFlow/2/start"),
                  lambda: Task("HelloFlow/2/start/1"), lambda: DataArtifact("HelloFlow/2/start/1/x")):
        with pytest.raises(NamespaceMismatch) as err:
            reach()
        message = str(err.value)
        assert "HelloFlow/2" in message and "'user:alice'" in message
        assert "user:bob" in message and "namespace(None)" in message
    namespace(None)
    assert Run("HelloFlow/2").user == "bob"
    namespace("user:bob")
    assert Task("HelloFlow/2/start/1").data.x == 1


def test_tag_namespace_sees_tagged_runs(hello):
    namespace("exp")
    assert [run.id for run in Flow("HelloFlow")] == ["3", "2"]


def test_metaflow_lists_visible_flows(hello):
    assert [f.name for f in Metaflow().flows] == ["HelloFlow"]
    namespace(None)
    assert [f.name for f in Metaflow()] == ["HelloFlow", "OtherFlow"]
    assert repr(Metaflow()) == "Metaflow()"


# -- Flow ------------------------------------------------------------------------------------------
def test_flow_iterates_visible_runs_newest_first(hello):
    flow = Flow("HelloFlow")
    assert [run.id for run in flow] == ["4", "3", "1"]
    assert flow.pathspec == flow.id == flow.name == "HelloFlow" and flow.parent is None
    assert flow.latest_run == Run("HelloFlow/4")
    assert flow.latest_successful_run.id == "3"
    assert isinstance(flow.created_at, datetime)
    namespace(None)
    assert [run.id for run in flow] == ["4", "3", "1"]  # a Flow keeps the namespace it was made in
    assert [run.id for run in Flow("HelloFlow")] == ["4", "3", "2", "1"]


def test_flow_runs_with_tags(hello):
    flow = Flow("HelloFlow")
    assert [r.id for r in flow.runs("exp")] == ["3"]
    assert [r.id for r in flow.runs("exp", "best")] == ["3"]
    assert [r.id for r in flow.runs()] == ["4", "3", "1"]
    namespace(None)
    assert [r.id for r in Flow("HelloFlow").runs("exp")] == ["3", "2"]
    assert [r.id for r in Flow("HelloFlow").runs("user:bob")] == ["2"]


def test_flow_indexing_and_contains(hello):
    flow = Flow("HelloFlow")
    assert flow["3"].pathspec == "HelloFlow/3" and flow[3].id == "3"
    assert "3" in flow and 3 in flow
    assert "2" not in flow and "99" not in flow and "x" not in flow
    with pytest.raises(NotFound, match=r"Run HelloFlow/99 does not exist; runs of HelloFlow: 1, 2, 3, 4\."):
        flow["99"]
    with pytest.raises(NotFound, match="Run HelloFlow/x does not exist"):
        flow["x"]


def test_missing_flow_lists_the_flows(hello):
    with pytest.raises(NotFound, match=r"Flow HeloFlow does not exist; flows: HelloFlow, OtherFlow\."):
        Flow("HeloFlow")
    with pytest.raises(NotFound, match="Flow HeloFlow does not exist"):
        Run("HeloFlow/1")


def test_nothing_recorded_says_where_it_looked_and_creates_nothing(store):
    with pytest.raises(NotFound, match=f"no runs are recorded in {re.escape(store.meta.describe())}"):
        Flow("HelloFlow")
    assert not (store.root / "metadata.db").exists()
    assert Metaflow().flows == []


def test_flow_without_visible_runs_is_a_mismatch(hello):
    flow = Flow("HelloFlow")
    namespace("user:nobody")
    with pytest.raises(NamespaceMismatch, match=r"Flow HelloFlow has no run in the current namespace 'user:nobody': "
                                                r"its runs are in user:alice, user:bob\. Call namespace\(None\)"):
        Flow("HelloFlow")
    assert flow.latest_run.id == "4"  # made before: it keeps its namespace
    namespace("exp")
    assert Flow("HelloFlow").latest_successful_run.id == "3"


# -- Run -------------------------------------------------------------------------------------------
def test_run_accessors(hello):
    run = Run("HelloFlow/1")
    assert (run.id, run.pathspec, run.flow_name, repr(run)) == ("1", "HelloFlow/1", "HelloFlow", "Run('HelloFlow/1')")
    assert run.successful and run.finished and run.status == "succeeded"
    assert isinstance(run.created_at, datetime) and run.finished_at >= run.created_at
    assert run.user == "alice" and run.user_tags == frozenset() and run.system_tags == {"user:alice"}
    assert run.tags == {"user:alice"}
    assert run.parameters == {"alpha": 0.5}
    assert run.parent == Flow("HelloFlow")
    assert Run("HelloFlow/3").tags == {"best", "exp", "user:alice"} and Run("HelloFlow/3").user_tags == {"best", "exp"}


def test_running_and_failed_runs(hello):
    running = Run("HelloFlow/4")
    assert not running.finished and not running.successful and running.finished_at is None
    namespace(None)
    failed = Run("HelloFlow/2")
    assert not failed.finished and not failed.successful and failed.status == "failed"  # as on Metaflow


def test_run_steps_in_execution_order(hello):
    run = Run("HelloFlow/3")
    assert [s.name for s in run.steps()] == ["start", "train", "join", "end"]
    assert [s.id for s in run] == ["start", "train", "join", "end"]
    assert "train" in run and "nope" not in run
    assert run["train"].pathspec == "HelloFlow/3/train"
    with pytest.raises(NotFound, match=r"Step HelloFlow/3/trian does not exist; steps of HelloFlow/3: "
                                       r"start, train, join, end\."):
        run["trian"]


def test_run_data_is_the_end_steps_data(hello):
    run = Run("HelloFlow/3")
    assert run.data.best == 20.0 and run.data.message == "done"
    assert run.end_task.pathspec == "HelloFlow/3/end/6"


def test_run_data_without_end_task_explains(hello):
    namespace(None)
    run = Run("HelloFlow/2")
    assert run.end_task is None
    with pytest.raises(NotFound, match=r"Run HelloFlow/2 has no end task yet \(run status: failed\).*"
                                       r"run\['train'\]\.task\.data"):
        run.data


def test_run_data_while_end_task_runs_or_failed(store):
    run = store.run("EndFlow")
    store.task("EndFlow", run, "start", {"a": 1})
    store.task("EndFlow", run, "end", finish=False)
    with pytest.raises(NotFound, match=r"Run EndFlow/1 is still running its end task \(run status: running\)"):
        Run("EndFlow/1").data
    store.meta.finish_task("EndFlow", run, "end", 2, 0, "failed", {}, None, None, BOOM)
    with pytest.raises(NotFound, match=r"has an end task that failed.*run\['end'\]\.task\.data"):
        Run("EndFlow/1").data
    assert Run("EndFlow/1").end_task.status == "failed"


# -- Step ------------------------------------------------------------------------------------------
def test_step_of_one_task(hello):
    step = Run("HelloFlow/1")["start"]
    assert step.data.message == "Hello"  # the seed's run['train'].data.model
    assert step.task.pathspec == "HelloFlow/1/start/1" and len(step) == 1
    assert step.parent == Run("HelloFlow/1") and step.name == "start"
    assert step.created_at <= step.finished_at and step.user == "alice" and step.tags == {"user:alice"}


def test_step_of_many_tasks(hello):
    step = Step("HelloFlow/3/train")
    assert [t.id for t in step] == ["2", "3", "4"] and [t.id for t in step.tasks()] == ["2", "3", "4"]
    assert step.task.id == "2"
    assert step["3"].data.score == 2.0 and step[4].data.score == 20.0
    assert "3" in step and 3 in step and "9" not in step
    with pytest.raises(ArtiflowException, match=r"has 3 tasks.*step\.task\.data.*iterate"):
        step.data
    with pytest.raises(NotFound, match=r"Task HelloFlow/3/train/9 does not exist; tasks of HelloFlow/3/train: "
                                       r"2, 3, 4\."):
        step["9"]


def test_missing_step_by_pathspec_lists_steps(hello):
    with pytest.raises(NotFound, match="Step HelloFlow/1/train does not exist; steps of HelloFlow/1: start, end"):
        Step("HelloFlow/1/train")


def test_step_still_running_has_no_finish_time(hello):
    assert Step("HelloFlow/4/start").finished_at is None


# -- Task ------------------------------------------------------------------------------------------
def test_task_data_is_lazy(hello, monkeypatch):
    task = Task("HelloFlow/3/train/3")
    loaded = []
    original = type(task._ctx.store).load
    monkeypatch.setattr(type(task._ctx.store), "load", lambda self, ref, *names: loaded.append(ref) or original(self, ref, *names))
    assert task.data.score == 2.0
    assert task.data.score == 2.0
    assert len(loaded) == 1
    assert isinstance(task.data, TaskData)
    assert "model" in task.data and "nope" not in task.data
    assert sorted(dir(task.data)) == ["model", "score"] and sorted(task.data) == ["model", "score"]
    assert len(task.data) == 2 and "score" in repr(task.data)
    assert len(loaded) == 1
    assert not hasattr(task.data, "nope")


def test_missing_artifact_lists_artifacts(hello):
    task = Task("HelloFlow/3/train/3")
    with pytest.raises(NotFound, match=r"Artifact nope does not exist in task HelloFlow/3/train/3; "
                                       r"artifacts: model, score\."):
        task.data.nope
    with pytest.raises(ArtifactNotFound):
        task["nope"]
    with pytest.raises(AttributeError):
        task.data.nope
    with pytest.raises(AttributeError, match="read-only"):
        task.data.score = 3


def test_task_accessors(hello):
    task = Run("HelloFlow/3")["train"]["4"]
    assert (task.id, task.pathspec, task.step_name) == ("4", "HelloFlow/3/train/4", "train")
    assert task.successful and task.finished and task.status == "succeeded"
    assert task.index == 2
    assert task.foreach_stack == [FOREACH[2]]
    assert task.stdout == "training 10.0\n" and task.stderr == ""
    assert task.exception is None and task.origin_pathspec is None
    assert task.created_at <= task.finished_at
    assert task.parent == Step("HelloFlow/3/train") and task.tags == {"best", "exp", "user:alice"} and task.user == "alice"
    assert Task("HelloFlow/3/start/1").index is None
    assert [a.attempt for a in [task]] == [0] and [a.status for a in task.attempts] == ["succeeded"]


def test_task_artifacts(hello):
    task = Task("HelloFlow/3/train/2")
    assert [a.name for a in task.artifacts] == ["model", "score"] and [a.name for a in task] == ["model", "score"]
    assert len(task.artifacts) == 2 and "score" in task.artifacts and "score" in task and "x" not in task
    assert task.artifacts.score.data == 0.2
    art = task["model"]
    assert art.data == "m0.1" and art.type == "str" and art.size > 0 and art.serializer == "json"
    assert (art.pathspec, art.id, art.name) == ("HelloFlow/3/train/2/model", "model", "model")
    assert len(art.sha) == 32 and art.parent is task and art.created_at == task.finished_at


def test_identical_values_share_a_blob(hello):
    assert Task("HelloFlow/1/start/1")["message"].sha == Task("HelloFlow/1/end/2")["message"].sha


def test_task_logs(hello):
    end = Task("HelloFlow/1/end/2")
    assert end.stdout == "Hello\n" and end.stderr == "a warning\n"


def test_failed_task(hello):
    namespace(None)
    task = Task("HelloFlow/2/train/2")
    assert not task.successful and not task.finished and task.status == "failed"  # as on Metaflow
    exc = task.exception
    assert (exc.type, exc.message) == ("ValueError", "bad value") and "Traceback" in exc.traceback
    assert str(exc) == "ValueError: bad value"
    assert task.stderr == "oops\n" and list(task.data) == []
    with pytest.raises(NotFound, match=r"artifacts: none\. The task failed: artifacts are stored only when"):
        task.data.ignored


def test_running_task(hello):
    task = Task("HelloFlow/4/start/1")
    assert not task.finished and task.finished_at is None and task.stdout == "" and task.exception is None


def test_retried_task_shows_the_latest_attempt(store):
    run = store.run("RetryFlow")
    store.task("RetryFlow", run, "start", status="failed", stdout="first\n", exception=BOOM, task_id=1)
    store.task("RetryFlow", run, "start", {"ok": True}, stdout="second\n", attempt=1, task_id=1)
    task = Task(f"RetryFlow/{run}/start/1")
    assert task.attempt == 1 and task.successful and task.stdout == "second\n" and task.exception is None
    first, second = task.attempts
    assert (first.number, first.status, second.number, second.status) == (0, "failed", 1, "succeeded")
    assert first.stdout == "first\n" and str(first.exception) == "ValueError: bad value" and "Attempt 0" in repr(first)
    assert isinstance(first.started_at, datetime) and task.data.ok is True


def test_missing_task_by_pathspec(hello):
    with pytest.raises(NotFound, match=r"Task HelloFlow/3/train/99 does not exist; tasks of HelloFlow/3/train: 2, 3, 4"):
        Task("HelloFlow/3/train/99")
    with pytest.raises(NotFound, match="Task HelloFlow/3/train/x does not exist"):
        Task("HelloFlow/3/train/x")


# -- DataArtifact and pathspecs ------------------------------------------------------------------
def test_data_artifact_by_pathspec(hello):
    art = DataArtifact("HelloFlow/1/start/1/message")
    assert art.data == "Hello" and art.type == "str" and art.parent == Task("HelloFlow/1/start/1")
    with pytest.raises(NotFound, match=r"Artifact nope does not exist in task HelloFlow/1/start/1; artifacts: message"):
        DataArtifact("HelloFlow/1/start/1/nope")


@pytest.mark.parametrize("make, spec, message", [
    (Run, "HelloFlow", "does not name a run.*Flow/run"),
    (Flow, "HelloFlow/1", "does not name a flow"),
    (Task, "A/b/c/d/e/f", "has 6 components; at most 5"),
    (Step, "HelloFlow//start", "empty component"),
    (DataArtifact, "HelloFlow/1/start/1", "does not name a artifact"),
    (from_pathspec, "A/b/c/d/e/f", "at most 5"),
])
def test_bad_pathspecs(hello, make, spec, message):
    with pytest.raises(InvalidPathspec, match=message):
        make(spec)


def test_non_numeric_run_id_is_not_found(hello):
    with pytest.raises(NotFound, match=r"Run HelloFlow/x does not exist; runs of HelloFlow: 1, 2, 3, 4"):
        Run("HelloFlow/x")


def test_from_pathspec_returns_each_kind(hello):
    kinds = [from_pathspec(s) for s in ("HelloFlow", "HelloFlow/1", "HelloFlow/1/start", "HelloFlow/1/start/1",
                                        "HelloFlow/1/start/1/message", "HelloFlow/1/")]
    assert [type(k).__name__ for k in kinds] == ["Flow", "Run", "Step", "Task", "DataArtifact", "Run"]


def test_long_listings_are_cut(store):
    for _ in range(25):
        store.task("BigFlow", store.run("BigFlow"), "start")
    with pytest.raises(NotFound, match=r"runs of BigFlow: \.\.\. \(5 more\), 6, 7, .*, 25\."):
        Run("BigFlow/99")


# -- process-wide stores, and reading many tasks -----------------------------------------------------
def test_stores_are_opened_once_per_configuration(store, tmp_path, monkeypatch):
    first = client_context.get_context()
    assert client_context.get_context() is first
    monkeypatch.setenv("ARTIFLOW_ROOT", str(tmp_path / "elsewhere"))
    assert client_context.get_context() is not first


def test_reading_one_artifact_of_many_tasks_uses_few_queries(store, monkeypatch):
    run = store.run("WideFlow")
    for i in range(1000):
        store.task("WideFlow", run, "work", {"y": i, "other": -i},
                   foreach=[{"step": "start", "var": "items", "index": i, "num_splits": 1000}])
    meta = client_context.get_context().meta
    calls: dict[str, int] = {}
    for name in ("tasks", "task", "artifacts", "artifact_in_tasks", "run", "runs", "attempts"):
        original = getattr(meta, name)
        monkeypatch.setattr(meta, name, lambda *a, _n=name, _o=original, **k: calls.update({_n: calls.get(_n, 0) + 1})
                            or _o(*a, **k))
    values = [task.data.y for task in Run(f"WideFlow/{run}")["work"]]
    assert values == list(range(1000))
    assert calls.get("tasks", 0) == 1 and calls.get("artifact_in_tasks", 0) == 1
    assert calls.get("artifacts", 0) == 0 and calls.get("task", 0) == 0 and calls.get("attempts", 0) == 0
