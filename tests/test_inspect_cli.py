"""`artiflow status|show|logs` and the per-flow `dump`/`logs` functions, over runs built with the metadata API."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import click
import pytest
from click.testing import CliRunner

from artiflow.cli import inspect
from artiflow.client import InvalidPathspec, get_namespace
from artiflow.exceptions import NotFound
from test_client import hello, store  # noqa: F401  (fixtures)

pytestmark = pytest.mark.both_backends  # once on SQLite, once on PostgreSQL (conftest.py)


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("artiflow")
    inspect.register(group)
    return group


def invoke(cli: click.Group, *args: str):
    return CliRunner().invoke(cli, list(args))


def assert_fails(result, *fragments: str) -> None:
    """Exit code 1, each fragment on stderr, and no traceback anywhere."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def lines_of(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


# -- status ----------------------------------------------------------------------------------------------
def test_status_lists_every_users_runs_newest_first(hello, cli):
    lines = lines_of(invoke(cli, "status", "HelloFlow"))
    assert lines[0].split() == ["ID", "STATUS", "STARTED", "DURATION", "USER", "TAGS"]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[1]) for r in rows] == [("4", "running"), ("3", "succeeded"), ("2", "failed"), ("1", "succeeded")]
    assert rows[2][-2:] == ["bob", "exp"] and rows[1][-2:] == ["best,", "exp"] and rows[3][-1] == "-"
    assert datetime.strptime(f"{rows[0][2]} {rows[0][3]}", "%Y-%m-%d %H:%M:%S")
    assert get_namespace() == "user:alice"  # the CLI does not change the caller's namespace


def test_status_columns_are_aligned(hello, cli):
    lines = lines_of(invoke(cli, "status", "HelloFlow"))
    column = lines[0].index("STATUS")
    assert all(line[column - 2:column] == "  " and line[column] != " " for line in lines)


def test_status_of_a_missing_flow(hello, cli):
    assert_fails(invoke(cli, "status", "HeloFlow"), "Flow HeloFlow does not exist; flows: HelloFlow, OtherFlow")


# -- show ------------------------------------------------------------------------------------------------
def test_show_flow_lists_runs(hello, cli):
    lines = lines_of(invoke(cli, "show", "HelloFlow"))
    assert lines[0] == "Flow HelloFlow" and lines[2].startswith("ID")
    assert [line.split()[0] for line in lines[3:]] == ["4", "3", "2", "1"]


def test_show_run_lists_steps_with_counts_and_status(hello, cli):
    lines = lines_of(invoke(cli, "show", "HelloFlow/3"))
    assert lines[0] == "Run HelloFlow/3"
    assert any(line.split() == ["status", "succeeded"] for line in lines)
    assert any(line.split() == ["tags", "best,", "exp"] for line in lines)
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["STEP", "TASKS", "STATUS", "REUSED", "DURATION"]
    assert [line.split()[:3] for line in table[1:]] == [
        ["start", "1", "succeeded"], ["train", "3", "succeeded"], ["join", "1", "succeeded"], ["end", "1", "succeeded"]]


def test_show_run_of_another_user_with_a_failed_step(hello, cli):
    lines = lines_of(invoke(cli, "show", "HelloFlow/2/"))
    assert any(line.split() == ["user", "bob"] for line in lines)
    assert [line.split()[:3] for line in lines if line.startswith("train")] == [["train", "1", "failed"]]


def test_show_run_parameters(hello, cli):
    assert any(line.split() == ["parameters", "alpha=0.5"] for line in lines_of(invoke(cli, "show", "HelloFlow/1")))


def test_show_step_lists_tasks_with_foreach_index(hello, cli):
    lines = lines_of(invoke(cli, "show", "HelloFlow/3/train"))
    assert lines[0] == "Step HelloFlow/3/train: 3 tasks"
    assert lines[2].split() == ["TASK", "STATUS", "INDEX", "ATTEMPT", "DURATION"]
    assert [line.split()[:4] for line in lines[3:6]] == [
        ["2", "succeeded", "0", "0"], ["3", "succeeded", "1", "0"], ["4", "succeeded", "2", "0"]]
    assert lines[6:] == ["", "To see one task's artifacts: artiflow show HelloFlow/3/train/TASK, e.g. HelloFlow/3/train/2."]
    assert lines_of(invoke(cli, "show", "HelloFlow/3/join"))[3].split()[:3] == ["5", "succeeded", "-"]


def test_show_step_of_one_task_also_shows_its_artifacts(hello, cli):
    lines = lines_of(invoke(cli, "show", "HelloFlow/3/join"))
    assert lines[0] == "Step HelloFlow/3/join: 1 task" and lines[4:6] == ["", "Artifacts of task HelloFlow/3/join/5:"]
    assert lines[6].split() == ["NAME", "TYPE", "SIZE", "PREVIEW"]
    assert [line.split()[0] for line in lines[7:]] == ["best"]


def test_show_task_lists_artifacts_with_type_size_preview(hello, cli):
    lines = lines_of(invoke(cli, "show", "HelloFlow/3/train/4"))
    assert lines[0] == "Task HelloFlow/3/train/4"
    assert any(line.split()[:2] == ["foreach", "grid[2]"] for line in lines)
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["NAME", "TYPE", "SIZE", "PREVIEW"]
    model, score = (line.split() for line in table[1:])
    assert model[:2] == ["model", "str"] and model[-1] == "'m10.0'" and model[3] == "B"
    assert score[:2] == ["score", "float"] and score[-1] == "20.0"


def test_show_task_previews_are_short_and_large_values_are_not_loaded(store, cli, monkeypatch):
    run = store.run("BigFlow")
    store.task("BigFlow", run, "start", {"big": b"x" * 2_500_000, "long": list(range(1000)), "text": "a\nb"})
    loaded = []
    original = type(store.store).load
    monkeypatch.setattr(type(store.store), "load", lambda self, ref, *names: loaded.append(ref.type) or original(self, ref, *names))
    lines = lines_of(invoke(cli, "show", f"BigFlow/{run}/start/1"))
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in ("big", "long", "text")}
    assert rows["big"].endswith("<2.5 MB>") and "2.5 MB" in rows["big"]
    preview = rows["long"][rows["long"].index("[0, 1"):]
    assert len(preview) == inspect.PREVIEW_WIDTH and preview.endswith("...")
    assert rows["text"].endswith("'a\\nb'")
    assert "bytes" not in loaded and sorted(loaded) == ["list", "str"]


def test_show_failed_task_says_why_it_has_no_artifacts(hello, cli):
    lines = lines_of(invoke(cli, "show", "HelloFlow/2/train/2"))
    assert any(line.split()[:3] == ["exception", "ValueError:", "bad"] for line in lines)
    assert lines[-1] == "No artifacts (the task failed: artifacts are stored only on success)."


def test_show_artifact_prints_its_value(hello, cli):
    assert lines_of(invoke(cli, "show", "HelloFlow/3/end/6/message")) == ["done"]
    assert lines_of(invoke(cli, "show", "HelloFlow/3/start/1/grid")) == ["[0.1, 1.0, 10.0]"]


@pytest.mark.parametrize("spec, fragments", [
    ("A/b/c/d/e/f", ["Invalid pathspec", "has 6 components; at most 5"]),
    ("HelloFlow/x", ["Run HelloFlow/x does not exist; runs of HelloFlow: 1, 2, 3, 4"]),
    ("HelloFlow/9", ["Run HelloFlow/9 does not exist"]),
    ("HelloFlow/3/nope", ["Step HelloFlow/3/nope does not exist; steps of HelloFlow/3: start, train, join, end"]),
    ("HelloFlow/3/train/9", ["tasks of HelloFlow/3/train: 2, 3, 4"]),
    ("HelloFlow/3/train/2/nope", ["Artifact nope does not exist in task HelloFlow/3/train/2; artifacts: model, score"]),
    ("Nope", ["Flow Nope does not exist"]),
])
def test_show_errors(hello, cli, spec, fragments):
    assert_fails(invoke(cli, "show", spec), *fragments)


# -- logs ------------------------------------------------------------------------------------------------
def test_logs_of_a_task(hello, cli):
    assert lines_of(invoke(cli, "logs", "HelloFlow/1/end/2", "--stdout")) == ["Hello"]
    assert lines_of(invoke(cli, "logs", "HelloFlow/1/end/2", "--stderr")) == ["a warning"]
    assert lines_of(invoke(cli, "logs", "HelloFlow/1/end")) == [
        "--- HelloFlow/1/end/2 stdout ---", "Hello", "--- HelloFlow/1/end/2 stderr ---", "a warning"]


def test_logs_of_a_foreach_step(hello, cli):
    lines = lines_of(invoke(cli, "logs", "HelloFlow/3/train", "--stdout"))
    assert lines == ["--- HelloFlow/3/train/2 stdout ---", "training 0.1", "--- HelloFlow/3/train/3 stdout ---",
                     "training 1.0", "--- HelloFlow/3/train/4 stdout ---", "training 10.0"]
    assert lines_of(invoke(cli, "logs", "HelloFlow/3/join", "--stderr")) == ["(no stderr recorded)"]


def test_logs_errors(hello, cli):
    assert_fails(invoke(cli, "logs", "HelloFlow/1"), "does not name a step or a task", "Flow/run/step[/task]")
    assert_fails(invoke(cli, "logs", "HelloFlow/1/train"), "Step HelloFlow/1/train does not exist")


# -- the per-flow functions: python flow.py dump / logs ------------------------------------------
def test_dump_a_step_prints_each_tasks_artifacts(hello):
    out: list[str] = []
    inspect.dump("HelloFlow", "3/train", echo=out.append)
    text = "\n".join(out).splitlines()
    assert [line for line in text if line.startswith("Task")] == [
        "Task HelloFlow/3/train/2 (succeeded)", "Task HelloFlow/3/train/3 (succeeded)",
        "Task HelloFlow/3/train/4 (succeeded)"]
    assert sum(1 for line in text if line.split()[:2] == ["score", "float"]) == 3


def test_dump_a_run_and_a_task(hello):
    out: list[str] = []
    inspect.dump("HelloFlow", "HelloFlow/1", echo=out.append)
    assert [line for line in "\n".join(out).splitlines() if line.startswith("message")][0].split()[-1] == "'Hello'"
    assert len(out) == 2
    out.clear()
    inspect.dump("HelloFlow", "2/train/2", echo=out.append)  # another user's run: the CLI sees all
    assert "No artifacts" in out[0]


def test_dump_as_json(hello):
    out: list[str] = []
    inspect.dump("HelloFlow", "1/start/1", echo=out.append, as_json=True)
    doc = json.loads(out[0])
    assert doc["HelloFlow/1/start/1"]["message"]["type"] == "str"
    assert doc["HelloFlow/1/start/1"]["message"]["preview"] == "'Hello'"


def test_dump_and_logs_errors(hello):
    with pytest.raises(InvalidPathspec, match=r"give RUN\[/STEP\[/TASK\]\]"):
        inspect.dump("HelloFlow", "1/start/1/message")
    with pytest.raises(InvalidPathspec, match=r"give RUN/STEP\[/TASK\]"):
        inspect.logs("HelloFlow", "1", None)
    with pytest.raises(NotFound, match="Run HelloFlow/7 does not exist"):
        inspect.dump("HelloFlow", "7")
    with pytest.raises(InvalidPathspec, match="Unknown log stream"):
        inspect.logs("HelloFlow", "1/end", "both")


def test_logs_function(hello):
    out: list[str] = []
    inspect.logs("HelloFlow", "1/start/1", "stdout", echo=out.append)
    assert out == ["starting"]
    out.clear()
    inspect.logs("HelloFlow", "2/train", "stderr", echo=out.append)
    assert out == ["oops"]


# -- formatting ------------------------------------------------------------------------------------------
def test_formatting_helpers():
    start = datetime(2026, 1, 1)
    assert inspect.format_duration(start, start + timedelta(seconds=0.123)) == "0.12s"
    assert inspect.format_duration(start, start + timedelta(seconds=42.5)) == "42.5s"
    assert inspect.format_duration(start, start + timedelta(seconds=192)) == "3m 12s"
    assert inspect.format_duration(start, start + timedelta(hours=2, minutes=5)) == "2h 05m"
    assert inspect.format_duration(None, None) == "-"
    assert [inspect.format_size(n) for n in (512, 1500, 2_500_000, 3 * 10**9)] == ["512 B", "1.5 KB", "2.5 MB", "3.0 GB"]
    assert inspect.status_summary(["failed", "succeeded", "succeeded"]) == "1 failed, 2 succeeded"
    assert inspect.table(["A", "BB"], [["xxx", 1]]) == ["A    BB", "xxx  1"]
