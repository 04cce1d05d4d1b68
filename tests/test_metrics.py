"""Metrics end to end: `self.log_metric` / `current.log_metric` in real runs, read back through the client
(`task.metrics`, `step.metrics()`, `run.metrics()`, `attempt.metrics`, `.to_pandas()`) and `artiflow metrics`,
on SQLite and PostgreSQL; failed, retried and killed attempts, resume clones, gc, bad input, and the
migration of a version-3 database.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
import time

import pytest

from conftest import FLOWS, REPO, ok, run_flow
from old_schema import database_at

from artiflow import Flow
from artiflow.client import MetricRecord, MetricSet
from artiflow.exceptions import ArtiflowException, MetricError

pytestmark = pytest.mark.both_backends

CRASH = "metrics_crash_flow.py"
CRASH_FILE = str(FLOWS / CRASH)
BAD_LINE = next(n for n, line in enumerate(open(CRASH_FILE), 1) if "the line the error names" in line)


def artiflow(*args: str) -> subprocess.CompletedProcess:
    """The `artiflow` command (as `python -m artiflow`), run in the test's folder and settings."""
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def failed(result: subprocess.CompletedProcess) -> str:
    """The stderr of a command that must fail with exit code 1."""
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stderr


def points(metric_set) -> list[tuple]:
    """(name, value, step, attempt) of each record, NaN as the string 'nan' (NaN != NaN)."""
    return [(r.name, "nan" if math.isnan(r.value) else r.value, r.step, r.attempt) for r in metric_set]


@pytest.fixture
def metrics_run(af_home):
    """A finished run of MetricsFlow (start logs odd values, a foreach of 3 trainings logs loss and acc)."""
    ok(run_flow("metrics_flow.py", "run"))
    return Flow("MetricsFlow").latest_run


# -- the client ------------------------------------------------------------------------------------
def test_a_tasks_points_come_back_in_order_with_every_kind_of_value(metrics_run):
    start = metrics_run["start"].task
    assert points(start.metrics) == [("setup_seconds", 2.0, None, 0), ("weird", "nan", None, 0),
                                     ("weird", math.inf, 1, 0), ("weird", 0.5, 2, 0), ("from_current", 7.0, None, 0)]
    record = start.metrics[0]
    assert isinstance(record, MetricRecord) and type(record.value) is float and type(start.metrics[3].step) is int
    assert record.pathspec == start.pathspec and (record.step_name, record.task_id) == ("start", int(start.id))
    assert abs(record.timestamp - time.time()) < 120 and start.metrics[0].timestamp <= start.metrics[-1].timestamp
    assert start.metrics.names == ["setup_seconds", "weird", "from_current"]
    assert start.metrics.latest("weird").value == 0.5 and start.metrics.values("weird")[1:] == [math.inf, 0.5]
    assert isinstance(start.metrics[1:3], MetricSet) and len(start.metrics[1:3]) == 2
    assert repr(start.metrics) == f"<MetricSet of {start.pathspec}: 5 points of setup_seconds, weird, from_current>"
    assert points(start.attempts[0].metrics) == points(start.metrics)
    assert len(metrics_run["end"].task.metrics) == 0 and repr(metrics_run["end"].task.metrics).endswith(": 0 points>")


def test_run_and_step_metrics_gather_every_task_in_task_order_and_by_name(metrics_run):
    train = metrics_run["train"]
    tasks = sorted(train, key=lambda t: int(t.id))
    losses = metrics_run.metrics("loss")
    assert [r.pathspec for r in losses] == [t.pathspec for t in tasks for _ in range(4)]
    rates = [[0.1, 0.2, 0.3][t.index] for t in tasks]
    assert losses.values("loss") == [rate / (epoch + 1) for rate in rates for epoch in range(4)]
    assert [r.step for r in losses] == [0, 1, 2, 3] * 3
    one = tasks[1].metrics  # a task's own points: loss and acc interleaved as logged
    assert [(r.name, r.step) for r in one] == [(n, e) for e in range(4) for n in ("loss", "acc")]
    assert train.metrics().names == ["loss", "acc"] and len(train.metrics()) == 24 == len(train.metrics("acc")) * 2
    assert len(metrics_run.metrics()) == 5 + 24 and metrics_run.metrics().names[:2] == ["setup_seconds", "weird"]
    assert len(metrics_run.metrics("nothing")) == 0
    with pytest.raises(ArtiflowException, match=r"No metric named 'nope' in MetricsFlow/1; metrics: "):
        metrics_run.metrics().latest("nope")


def test_to_pandas_gives_a_row_per_point(metrics_run):
    pd = pytest.importorskip("pandas")
    frame = metrics_run.metrics().to_pandas()
    assert list(frame.columns) == ["pathspec", "step_name", "task_id", "attempt", "name", "step", "value", "timestamp"]
    assert len(frame) == 29 and frame["value"].isna().sum() == 1 and frame["step"].isna().sum() == 3
    assert str(frame["step"].dtype) == "Int64" and str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    loss = frame[frame["name"] == "loss"]
    assert loss.groupby("pathspec")["value"].min().tolist() == pytest.approx([0.025, 0.05, 0.075])
    assert set(frame["step_name"]) == {"start", "train"} and frame["timestamp"].iloc[0] > pd.Timestamp("2020-01-01",
                                                                                                       tz="UTC")
    empty = metrics_run["end"].task.metrics.to_pandas()
    assert len(empty) == 0 and list(empty.columns) == list(frame.columns)


# -- failures, retries, kills ----------------------------------------------------------------------------
def test_a_failed_task_keeps_the_points_of_each_of_its_attempts(af_home):
    result = run_flow(CRASH, "run", "--mode", "raise")
    assert result.returncode == 1 and "this step fails after logging" in result.stderr
    task = Flow("MetricsCrashFlow").latest_run["start"].task
    assert task.status == "failed" and [a.number for a in task.attempts] == [0, 1]
    assert points(task.metrics) == [("attempt_loss", 10.0 + i, i, 1) for i in range(3)]  # the latest attempt's
    assert points(task.attempts[0].metrics) == [("attempt_loss", float(i), i, 0) for i in range(3)]


def test_a_retried_task_shows_its_successful_attempt_and_keeps_the_failed_ones(af_home):
    ok(run_flow(CRASH, "run", "--mode", "retry"))
    run = Flow("MetricsCrashFlow").latest_run
    task = run["start"].task
    assert task.successful and [p[1] for p in points(task.metrics)] == [10.0, 11.0, 12.0]
    assert [p[1] for p in points(task.attempts[0].metrics)] == [0.0, 1.0, 2.0]
    assert [r.attempt for r in run.metrics()] == [1, 1, 1]


@pytest.mark.parametrize("mode", ["sigkill", "exit"])
def test_a_task_killed_hard_keeps_the_points_it_had_spilled(af_home, mode):
    ok(run_flow(CRASH, "run", "--mode", mode))  # the retry succeeds
    task = Flow("MetricsCrashFlow").latest_run["start"].task
    first = task.attempts[0]
    assert first.status == "failed" and "The task died" in first.stderr
    # logged more than a second before the kill: spilled; the point logged just before it may be lost
    assert points(first.metrics)[:3] == [("attempt_loss", float(i), i, 0) for i in range(3)]
    assert [p[1] for p in points(task.metrics)] == [10.0, 11.0, 12.0]


# -- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, what", [
    ("str", "log_metric('loss', ...) in step 'start' at {where}: the value must be a number (an int or a float; "
            "numpy scalars work too), not a str: '0.5'; convert it first, e.g. float(text), if it holds a number."),
    ("bool", "log_metric('loss', ...) in step 'start' at {where}: the value is a bool (True), not a number; "
             "log float(True) if you mean 1.0/0.0."),
    ("name", "log_metric(3, ...) in step 'start' at {where}: the name must be a string, not an int: 3."),
    ("step", "log_metric('loss', ...) in step 'start' at {where}: step must be an integer (an iteration or epoch "
             "number) or None, not a float: 2.5."),
    ("empty", "log_metric('', ...) in step 'start' at {where}: the name is empty; give the metric a name, e.g. 'loss'."),
    ("array", "log_metric('loss', ...) in step 'start' at {where}: the value must be a number (an int or a float; "
              "numpy scalars work too), not a list: [1.0]."),
])
def test_a_bad_metric_fails_the_task_naming_the_step_and_the_call(af_home, kind, what, metadata_backend):
    if metadata_backend is not None and kind not in ("str", "name"):
        pytest.skip("the checks are the task's, whatever the metadata store: two of them run on PostgreSQL too")
    result = run_flow(CRASH, "run", "--mode", f"bad_{kind}")
    assert result.returncode == 1
    assert f"Invalid metric: {what.format(where=f'{CRASH_FILE}:{BAD_LINE}')}" in result.stderr
    task = Flow("MetricsCrashFlow").latest_run["start"].task
    assert task.exception.type == "MetricError" and len(task.metrics) == 3  # what it logged before is kept


def test_log_metric_outside_a_running_step_says_where_it_belongs(af_home):
    from artiflow import current

    with pytest.raises(MetricError) as err:
        current.log_metric("loss", 1.0)
    assert str(err.value).startswith(f"log_metric('loss', ...) at {__file__}:")
    assert "was called outside a running step" in str(err.value)


# -- resume, caching, gc -------------------------------------------------------------------------------------
def test_a_task_reused_by_resume_shows_its_origins_points(af_home):
    assert run_flow("metrics_flow.py", "run", env={"METRICS_FAIL_END": "1"}).returncode == 1
    ok(run_flow("metrics_flow.py", "resume"))
    first, second = Flow("MetricsFlow")["1"], Flow("MetricsFlow")["2"]
    assert second["start"].task.origin_pathspec == first["start"].task.pathspec
    assert points(second["start"].task.metrics) == points(first["start"].task.metrics)
    assert [r.pathspec for r in second.metrics("loss")][::4] == [t.pathspec for t in sorted(second["train"],
                                                                                             key=lambda t: int(t.id))]
    assert [r.timestamp for r in second.metrics()] == [r.timestamp for r in first.metrics()]


def test_gc_deletes_a_dropped_runs_metrics(af_home):
    from artiflow.client.context import get_context

    ok(run_flow("metrics_flow.py", "run"))
    ok(run_flow("metrics_flow.py", "run"))
    ok(artiflow("gc", "--keep-last", "1"))
    meta = get_context().meta
    assert meta.metrics("MetricsFlow", 1) == [] and len(meta.metrics("MetricsFlow", 2)) == 29


# -- the CLI ------------------------------------------------------------------------------------------------
def test_the_cli_prints_an_aligned_table_by_default_for_a_flows_latest_run(metrics_run):
    lines = ok(artiflow("metrics", "MetricsFlow")).stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["TASK", "ATTEMPT", "NAME", "STEP", "VALUE", "TIME"]
    assert len(lines) == 30
    starts = [lines[0].index(h) for h in ("NAME", "VALUE")]
    assert all(line[starts[0]:].split()[0] in ("setup_seconds", "weird", "from_current", "loss", "acc")
               for line in lines[1:])
    weird = [line.split() for line in lines if " weird " in line]
    assert [row[3:5] for row in weird] == [["-", "nan"], ["1", "inf"], ["2", "0.5"]]
    train = ok(artiflow("metrics", f"{metrics_run.pathspec}/train", "--name", "acc")).stdout.splitlines()
    assert len(train) == 13 and all(line.split()[2] == "acc" for line in train[1:])


def test_the_cli_writes_csv_and_json_for_tools(metrics_run):
    task = metrics_run["start"].task
    rows = list(csv.DictReader(io.StringIO(ok(artiflow("metrics", task.pathspec, "--format", "csv")).stdout)))
    assert [r["name"] for r in rows] == ["setup_seconds", "weird", "weird", "weird", "from_current"]
    assert [r["value"] for r in rows[:3]] == ["2.0", "nan", "inf"] and [r["step"] for r in rows[:3]] == ["", "", "1"]
    assert float(rows[0]["timestamp"]) == task.metrics[0].timestamp and rows[0]["pathspec"] == task.pathspec
    doc = json.loads(ok(artiflow("metrics", task.pathspec, "--format", "json")).stdout)
    assert doc[1] == {"pathspec": task.pathspec, "attempt": 0, "name": "weird", "step": None, "value": "NaN",
                      "timestamp": task.metrics[1].timestamp}
    assert [d["value"] for d in doc] == [2.0, "NaN", "Infinity", 0.5, 7.0]
    loss = json.loads(ok(artiflow("metrics", metrics_run.pathspec, "--name", "loss", "--format", "json")).stdout)
    assert len(loss) == 12 and {d["name"] for d in loss} == {"loss"}


def test_the_cli_says_what_is_wrong_with_a_pathspec_or_a_missing_metric(metrics_run):
    run = metrics_run.pathspec
    assert failed(artiflow("metrics", f"{run}/end")) == (
        f"Not found:\nStep {run}/end has no metrics. A step records some with self.log_metric(name, value, "
        f"step=None).\n")
    assert failed(artiflow("metrics", run, "--name", "lost")) == (
        f"Not found:\nRun {run} has no metric named 'lost'; its metrics: setup_seconds, weird, from_current, "
        f"loss, acc.\n")
    assert failed(artiflow("metrics", f"{run}/start/1/x")) == (
        f"Invalid pathspec:\n'{run}/start/1/x' names an artifact; metrics belong to tasks: give Flow, Flow/run, "
        f"Flow/run/step or Flow/run/step/task, e.g. {run}/start/1.\n")
    assert "Run MetricsFlow/7 does not exist; runs of MetricsFlow: 1." in failed(artiflow("metrics", "MetricsFlow/7"))
    assert "Flow NoFlow does not exist" in failed(artiflow("metrics", "NoFlow"))
    assert "Invalid value for '--format': 'xml' is not one of 'table', 'csv', 'json'." in artiflow(
        "metrics", run, "--format", "xml").stderr


# -- the schema -----------------------------------------------------------------------------------------------
def test_a_version_3_database_gets_the_metrics_table_and_keeps_its_runs(af_home):
    from artiflow.client.context import get_context
    from artiflow.metadata import schema

    meta = get_context().meta
    database_at(meta, 3, check=lambda migrator: _no_metrics_table(migrator.conn, meta))
    ok(run_flow("metrics_flow.py", "run"))  # the runner migrates the database, then records the points
    meta = get_context().meta
    assert meta.schema_version() == schema.LATEST and "metrics" in _tables(meta.conn, meta)
    assert len(Flow("MetricsFlow").latest_run.metrics()) == 29
    old = Flow("OldFlow")["1"]
    assert old.status == "succeeded" and len(old.metrics()) == 0
    if meta.dialect.name == "postgresql":  # the packed points are stored as they are, not compressed again
        storage = meta._query("SELECT attname, attstorage FROM pg_attribute WHERE attrelid = 'metrics'::regclass "
                              "AND attname IN ('positions', 'steps', 'metric_values', 'stamps')")
        assert sorted(storage) == [("metric_values", "e"), ("positions", "e"), ("stamps", "e"), ("steps", "e")]


def _no_metrics_table(conn, meta) -> None:
    assert "metrics" not in _tables(conn, meta)


def _tables(conn, meta) -> set[str]:
    if meta.dialect.name == "sqlite":
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    else:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
    return {name for (name,) in rows}


# -- the example --------------------------------------------------------------------------------------------
def test_the_example_logs_a_loss_curve_per_learning_rate(af_home, metadata_backend):
    if metadata_backend is not None:
        pytest.skip("the example's points are stored as any others: SQLite is enough")
    out = ok(run_flow(REPO / "examples" / "metrics.py", "run", "--epochs", "5")).stdout
    assert "best rate 0.5" in out
    run = Flow("MetricsExampleFlow").latest_run
    curves = {task.index: task.metrics for task in run["train"]}
    assert [len(curves[i].named("loss")) for i in range(3)] == [5, 5, 5]
    assert all(c.values("loss") == sorted(c.values("loss"), reverse=True) for c in curves.values())  # falling
    assert [c.latest("final_loss").value for c in curves.values()] == [c.values("loss")[-1] for c in curves.values()]


# -- the pieces in the runner: spill files, listeners --------------------------------------------------------
def test_a_spill_file_cut_short_by_a_kill_gives_its_whole_frames(tmp_path):
    from artiflow.runtime.metrics import MetricPoints, read_spill, write_frame

    path = str(tmp_path / "points")
    write_frame(path, MetricPoints(["a", "a"], [1.0, float("nan")], [0, None], [1.5, 2.5]))
    write_frame(path, MetricPoints(["b"], [3.0], [7], [3.5]))
    whole = (tmp_path / "points").read_bytes()
    (tmp_path / "points").write_bytes(whole[:-3])  # the second frame torn
    found = read_spill(path)
    assert list(found)[0] == ("a", 1.0, 0, 1.5) and math.isnan(found[1][1]) and len(found) == 2
    (tmp_path / "points").write_bytes(whole)
    assert [p[0] for p in read_spill(path)] == ["a", "a", "b"] and len(read_spill(str(tmp_path / "none"))) == 0


def test_listeners_get_each_recorded_attempts_points_and_a_failing_one_only_warns(tmp_path):
    from artiflow.metadata import open_metadata
    from artiflow.runtime.metrics import MetricPoints
    from artiflow.runtime.run_metrics import RunMetrics
    from artiflow.runtime.spec import TaskResult, TaskSpec

    meta = open_metadata(f"sqlite:///{tmp_path / 'metadata.db'}")
    run_id = meta.new_run("F", "u", [], {})
    heard, warnings = [], []

    def broken(spec, status, points):
        raise ConnectionError("tracking server down")

    recorder = RunMetrics(meta, listeners=[lambda *args: heard.append(args), broken], warn=warnings.append)
    for task_id in (1, 2):
        spec = TaskSpec("F", run_id, "train", task_id, 0, {}, [], [], False, "u")
        points = MetricPoints(["loss"], [0.5 * task_id], [task_id], [time.time()])
        recorder.record(spec, "succeeded", TaskResult(ok=True, metrics=points).metrics)
    assert [(spec.task_id, status, list(points)[0][:3]) for spec, status, points in heard] == [
        (1, "succeeded", ("loss", 0.5, 1)), (2, "succeeded", ("loss", 1.0, 2))]
    assert warnings == ["Metrics of F/1/train/1 could not be passed on (ConnectionError: tracking server down); "
                        "the run goes on and its metrics are recorded."]
    assert [r.value for r in meta.metrics("F", run_id)] == [0.5, 1.0]
