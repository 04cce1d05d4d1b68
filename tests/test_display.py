"""The notebook views (`_repr_html_`) of Flow, Run, Step, Task, DataArtifact and task.data, over real runs.

The runs are made by the real CLI (tests/flows/display_flow.py); the views are parsed with html.parser and
checked for what a person looks for (steps, statuses, artifact names, types, sizes, previews), for escaping,
for what they load (a spy on the real content store) and for how many metadata queries they cost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser

import pytest
from conftest import FLOWS, REPO, ok, run_flow

from artiflow.cli.inspect import format_size
from artiflow.client import Flow, Metaflow, Run, namespace
from artiflow.client import context as client_context
from artiflow.client import display, preview
from artiflow.datastore.store import ContentStore
from artiflow.metadata.sql import SQLMetadata

EVIL = "<script>alert('owned')</script>"


class Page(HTMLParser):
    """An HTML fragment parsed: its tags (with attributes), its text, and the rows of its tables."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.texts).split())

    def tag_names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    def row(self, first: str) -> list[str]:
        """The table row whose first cell is `first`."""
        found = [r for r in self.rows if r and r[0] == first]
        assert found, f"no row starting with {first!r} in {self.rows}"
        return found[0]


def view(obj) -> Page:
    return Page(obj._repr_html_())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """DisplayFlow/1 (succeeded, one foreach task retried) and DisplayFlow/2 (its join failed), by user tester."""
    home = tmp_path_factory.mktemp("display")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARTIFLOW_ROOT", str(home / ".artiflow"))
        patch.setenv("ARTIFLOW_USER", "tester")
        for name in ("METAFLOW_USER", "ARTIFLOW_DATASTORE_ROOT", "ARTIFLOW_METADATA_URL", "METAFLOW_DATASTORE",
                     "METAFLOW_DATATOOLS_S3ROOT"):
            patch.delenv(name, raising=False)
        patch.chdir(home)
        ok(run_flow("display_flow.py", "run", "--tag", "nb<tag>"))
        failed = run_flow("display_flow.py", "run", "--fail", "true")
        assert failed.returncode != 0 and "join broke" in failed.stderr + failed.stdout
        client_context.clear_cache()
        yield home
        client_context.clear_cache()


@pytest.fixture(autouse=True)
def own_namespace(monkeypatch, runs):
    """Each test starts in the default namespace (user:tester)."""
    monkeypatch.setattr(client_context, "_namespace", client_context._UNSET)


@pytest.fixture
def loads(monkeypatch):
    """The blob keys the content store loads in this process while the test runs (the real store, spied)."""
    keys: list[str] = []
    real = ContentStore.load

    def spied(self, ref, *args, **kwargs):
        keys.append(ref.key)
        return real(self, ref, *args, **kwargs)

    monkeypatch.setattr(ContentStore, "load", spied)
    return keys


@pytest.fixture
def queries(monkeypatch):
    """The SQL statements the metadata store runs in this process while the test runs."""
    seen: list[str] = []
    real = SQLMetadata._query

    def counted(self, sql, args=()):
        seen.append(sql)
        return real(self, sql, args)

    monkeypatch.setattr(SQLMetadata, "_query", counted)
    return seen


# -- a run ----------------------------------------------------------------------------------------------------
def test_a_run_shows_its_steps_in_order_with_tasks_status_duration_and_retries():
    page = view(Run("DisplayFlow/1"))
    assert page.tag_names() >= {"table", "tr", "td"}
    assert "Run DisplayFlow/1 succeeded" in page.text and "rows=25" in page.text and "nb<tag>" in page.text
    steps = [r[0] for r in page.rows[1:]]
    assert steps == ["start", "work", "join", "end"]
    header = page.rows[0]
    work = dict(zip(header, page.row("work")))
    assert work["tasks"] == "3" and work["status"] == "succeeded" and work["retries"] == "1"
    assert work["duration"].endswith("s") and work["started"].startswith("20")
    assert dict(zip(header, page.row("start")))["retries"] == "-"


def test_a_failed_run_shows_which_task_failed():
    page = view(Run("DisplayFlow/2"))
    assert "Run DisplayFlow/2 failed" in page.text
    join = dict(zip(page.rows[0], page.row("join")))
    assert join["status"] == "failed"
    failed = Run("DisplayFlow/2")["join"].task.pathspec
    assert f"failed {failed}" in page.text


def test_a_run_view_costs_two_metadata_queries_and_loads_nothing(queries, loads):
    run = Flow("DisplayFlow")[1]
    queries.clear()
    run._repr_html_()
    assert len(queries) == 2 and "FROM tasks" in queries[0] and "DISTINCT name FROM metrics" in queries[1], queries
    assert loads == []


def test_a_run_still_going_shows_running_tasks_and_time_so_far(runs):
    """A notebook watching a run: the view of a fresh Run object shows what runs now."""
    proc = subprocess.Popen([sys.executable, str(FLOWS / "slow_flow.py"), "run"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        page = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "SlowFlow" in [f.name for f in Metaflow().flows] and "sleep" in (run := Flow("SlowFlow").latest_run):
                page = view(run)
                if dict(zip(page.rows[0], page.row("sleep")))["tasks"] == "2":
                    break
            time.sleep(0.1)
        assert page is not None, "SlowFlow did not start its sleep tasks within 60 s"
        sleep = dict(zip(page.rows[0], page.row("sleep")))
        assert "Run SlowFlow/1 running" in page.text and sleep["status"] == "running"
        assert sleep["duration"].startswith("running for ") and "running for " in page.text.split("duration")[1]
        task_page = view(run["sleep"].task)
        assert "running" in task_page.text.split("started")[0] and "duration running for " in task_page.text
        assert "The task is still running: its artifacts are stored when it succeeds." in task_page.text
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


# -- a flow and a step ----------------------------------------------------------------------------------------
def test_a_flow_shows_its_newest_runs_first_with_status_and_tags(monkeypatch):
    page = view(Flow("DisplayFlow"))
    assert [r[:2] for r in page.rows[1:]] == [["2", "failed"], ["1", "succeeded"]]
    assert dict(zip(page.rows[0], page.row("1")))["tags"] == "nb<tag>"
    assert "2 in namespace user:tester" in page.text
    monkeypatch.setattr(display, "FLOW_RUNS", 1)
    page = view(Flow("DisplayFlow"))
    assert [r[0] for r in page.rows[1:]] == ["2"] and "The newest 1 of 2 runs" in page.text


def test_a_step_shows_its_tasks_with_index_and_attempts_without_a_query(queries, monkeypatch):
    step = Run("DisplayFlow/1")["work"]
    queries.clear()
    page = view(step)
    assert queries == []
    header = page.rows[0]
    tasks = [dict(zip(header, r)) for r in page.rows[1:]]
    assert [(t["index"], t["status"], t["attempts"]) for t in tasks] == [("0", "succeeded", "1"),
                                                                         ("1", "succeeded", "2"),
                                                                         ("2", "succeeded", "1")]
    monkeypatch.setattr(display, "STEP_TASKS", 2)
    page = view(step)
    assert len(page.rows) == 3 and "The first 2 of 3 tasks" in page.text


# -- a task ---------------------------------------------------------------------------------------------------
def test_a_task_lists_its_artifacts_with_types_sizes_and_previews():
    task = Run("DisplayFlow/1")["start"].task
    page = view(task)
    header = page.rows[0]
    assert header == ["artifact", "type", "size", "preview"]
    rows = {r[0]: dict(zip(header, r)) for r in page.rows[1:]}
    assert set(rows) >= {"frame", "matrix", "evil", "blob", "point", "items", "rows"}
    for artifact in task:
        row = rows[artifact.name]
        assert row["type"] == artifact.type and row["size"] == format_size(artifact.size)
    assert rows["frame"]["type"] == "pandas.DataFrame"
    assert rows["frame"]["preview"] == "DataFrame 25 × 2: city, score"
    assert rows["matrix"]["preview"].startswith("array (3, 4) float64: [[ 0. 1. 2. 3.]")
    assert rows["items"]["preview"] == "[1, 2, 3]" and rows["rows"]["preview"] == "25"


def test_a_large_artifact_is_not_loaded_for_a_preview(loads, queries):
    task = Run("DisplayFlow/1")["start"].task
    blob = task["blob"]
    assert blob.size > display.PREVIEW_MAX_BYTES
    queries.clear()
    page = view(task)
    assert dict(zip(page.rows[0], page.row("blob")))["preview"] == f"not loaded ({format_size(blob.size)})"
    assert blob.sha not in loads and task["frame"].sha in loads
    assert len([q for q in queries if "FROM artifacts" in q]) == 1 and len(queries) <= 3, queries


def test_a_task_previews_at_most_the_preview_budget(loads, monkeypatch):
    task = Run("DisplayFlow/1")["end"].task
    small = [a for a in task if a.size <= display.PREVIEW_MAX_BYTES]
    assert len(small) > display.PREVIEW_MAX_COUNT
    page = view(task)
    assert len(loads) == display.PREVIEW_MAX_COUNT
    skipped = [r for r in page.rows[1:] if r[3] == f"not loaded (only {display.PREVIEW_MAX_COUNT} previews per task)"]
    assert len(skipped) == len(small) - display.PREVIEW_MAX_COUNT


def test_an_artifact_this_process_cannot_unpickle_says_why():
    page = view(Run("DisplayFlow/1")["start"].task)
    preview_cell = dict(zip(page.rows[0], page.row("point")))["preview"]
    assert preview_cell.startswith("cannot load: ") and "Point" in preview_cell


def test_a_failed_task_shows_its_exception_escaped_and_why_it_has_few_artifacts():
    html = Run("DisplayFlow/2")["join"].task._repr_html_()
    assert "<b>join broke" not in html and "&lt;b&gt;join broke&lt;/b&gt;" in html
    page = Page(html)
    assert "Task DisplayFlow/2/join/" in page.text and "failed" in page.text
    assert "RuntimeError: <b>join broke</b>" in page.text
    assert {r[0] for r in page.rows[1:]} <= {"rows", "fail", "name"}  # parameters only: nothing was stored
    assert "The task failed: artifacts are stored only when a task succeeds." in page.text


def test_task_data_shows_the_artifact_table():
    task = Run("DisplayFlow/1")["join"].task
    page = view(task.data)
    assert f"Data of {task.pathspec}" in page.text
    assert dict(zip(page.rows[0], page.row("total")))["preview"] == "14"


# -- one artifact ---------------------------------------------------------------------------------------------
def test_a_dataframe_artifact_shows_as_a_table_of_its_first_rows():
    page = view(Run("DisplayFlow/1")["start"].task["frame"])
    assert "table" in page.tag_names()
    assert "DataFrame: 25 rows × 2 columns; the first 10 rows" in page.text
    cells = [r for r in page.rows if len(r) == 3]
    assert cells[0] == ["", "city", "score"] and cells[1] == ["0", "city-0", "0.0"] and cells[-1][1] == "city-9"
    assert "city-10" not in page.text


def test_an_array_artifact_shows_shape_dtype_and_values():
    page = view(Run("DisplayFlow/1")["start"].task["matrix"])
    assert "ndarray: shape (3, 4), dtype float64, 12 items" in page.text and "[ 8. 9. 10. 11.]]" in page.text
    assert "type numpy.ndarray" in page.text and "serializer" in page.text


def test_an_artifact_over_the_value_limit_is_not_loaded(loads, monkeypatch):
    blob = Run("DisplayFlow/1")["start"].task["blob"]
    monkeypatch.setattr(display, "VALUE_MAX_BYTES", 100_000)
    page = view(blob)
    assert f"Not loaded ({format_size(blob.size)}): read it with artifact.data." in page.text
    assert loads == []
    assert len(blob.data) == 200_000  # once loaded, the view shows it
    assert "200000 bytes" in view(blob).text


@pytest.mark.parametrize("where", ["task", "artifact", "data"])
def test_a_hostile_string_is_shown_as_text_never_as_markup(where):
    task = Run("DisplayFlow/1")["start"].task
    obj = {"task": task, "artifact": task["evil"], "data": task.data}[where]
    html = obj._repr_html_()
    page = Page(html)
    assert "script" not in page.tag_names() and "<script>" not in html
    assert EVIL in page.text


def test_every_view_is_self_contained():
    run = Run("DisplayFlow/1")
    task = run["start"].task
    for obj in (Flow("DisplayFlow"), run, run["work"], task, task["frame"], task["matrix"], task.data):
        page = view(obj)
        assert not page.tag_names() & {"script", "style", "link", "iframe", "img", "object"}, obj
        assert not any(name.startswith("on") or "http" in value for _, attrs in page.tags
                       for name, value in attrs.items() if value), obj


def test_views_see_the_namespace_of_their_object():
    namespace(None)
    assert "2 in every namespace" in view(Flow("DisplayFlow")).text


# -- metrics ------------------------------------------------------------------------------------------------
def test_a_metric_set_shows_a_row_per_metric_with_points_last_min_max_and_a_sparkline(queries):
    metrics = Run("DisplayFlow/1").metrics()
    queries.clear()
    html = metrics._repr_html_()
    assert queries == []  # the points are loaded already
    page = Page(html)
    assert "Metrics of DisplayFlow/1" in page.text and "points 21" in page.text
    header = page.rows[0]
    loss = dict(zip(header, page.row("loss")))
    assert (loss["points"], loss["tasks"], loss["min"], loss["max"]) == ("15", "3", "0.2", "3")
    assert loss["last"] in {"0.2", "0.4", "0.6"}  # the last point logged: one task's final epoch
    acc = dict(zip(header, page.row("<b>acc</b>")))  # a NaN point counts, but is no minimum
    assert (acc["points"], acc["min"], acc["max"]) == ("6", "0.5", "1.5")
    assert "<b>acc" not in html and "&lt;b&gt;acc&lt;/b&gt;" in html


def test_a_sparkline_follows_the_mean_over_tasks_at_each_step():
    page = view(Run("DisplayFlow/1").metrics("loss"))
    (line,) = [attrs["points"] for tag, attrs in page.tags if tag == "polyline"]
    ys = [float(point.split(",")[1]) for point in line.split()]
    assert len(ys) == 5 and ys == sorted(ys) and ys[0] < ys[-1]  # loss falls: the line goes down the box


def test_a_task_view_shows_its_metrics_and_a_run_view_names_them():
    task = Run("DisplayFlow/1")["work"].task
    page = view(task)
    assert f"Metrics of {task.pathspec}" in page.text and page.row("loss")[1] == "5"
    run_page = view(Run("DisplayFlow/1"))
    assert "metrics <b>acc</b>, loss (run.metrics() shows them)" in run_page.text
    start = Run("DisplayFlow/1")["start"].task
    assert "Metrics of" not in view(start).text
    assert "No metrics logged" in view(start.metrics).text and repr(start.metrics).startswith("<MetricSet of")


# -- plain reprs stay Metaflow's ----------------------------------------------------------------------------------
def test_plain_reprs_say_what_the_object_is_as_on_metaflow():
    run = Run("DisplayFlow/1")
    task = run["start"].task
    assert repr(Flow("DisplayFlow")) == "Flow('DisplayFlow')" and repr(run) == "Run('DisplayFlow/1')"
    assert repr(run["start"]) == "Step('DisplayFlow/1/start')" and repr(task) == f"Task('{task.pathspec}')"
    assert repr(task["frame"]) == f"DataArtifact('{task.pathspec}/frame')"
    assert repr(task.data).startswith(f"<data of {task.pathspec}: blob, evil")


# -- value previews on their own -------------------------------------------------------------------------------
def test_long_text_is_cut_and_says_how_long_it_was():
    page = Page(preview.value_html("é<" * 5000))
    assert page.text.startswith("é<é<") and "the first 2,000 of 10,000 characters" in page.text
    assert len(preview.short_text("x" * 10_000)) == preview.SHORT_CHARS


def test_a_wide_dataframe_shows_its_first_and_last_columns_and_cuts_long_cells():
    import pandas as pd

    frame = pd.DataFrame([[f"{'w' * 80}{i}" for i in range(30)]], columns=[f"c{i}" for i in range(30)])
    page = Page(preview.value_html(frame))
    assert page.rows[0] == ["", *[f"c{i}" for i in range(10)], *[f"c{i}" for i in range(20, 30)]]
    assert "the first and last 10 columns" in page.text
    assert all(len(cell) <= preview.CELL_CHARS for cell in page.rows[1][1:])


# -- in a real Jupyter kernel -------------------------------------------------------------------------------
def test_a_notebook_cell_showing_a_run_renders_its_html(runs):
    """A tiny notebook run by nbclient in an ipykernel: the cell's output carries our text/html and text/plain."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from artiflow import Run\nrun = Run('DisplayFlow/1')\nrun"),
        nbformat.v4.new_code_cell("run['start'].task['frame']"),
    ])
    NotebookClient(notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(runs)}}).execute()
    shown = [cell.outputs[0] for cell in notebook.cells]
    assert all(out.output_type == "execute_result" for out in shown), shown
    run_page = Page(shown[0].data["text/html"])
    assert "Run DisplayFlow/1 succeeded" in run_page.text and [r[0] for r in run_page.rows[1:]][0] == "start"
    assert shown[0].data["text/plain"] == "Run('DisplayFlow/1')"
    frame_page = Page(shown[1].data["text/html"])
    assert "table" in frame_page.tag_names() and "city-9" in frame_page.text
