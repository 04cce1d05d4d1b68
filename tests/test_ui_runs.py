"""The UI's runs list, run page, step pages and compare page, over real runs, through the real `artiflow ui` server.

One store is filled once for the module (real runs of tests/flows/ui_runs_flow.py: retried, step-cached, failed,
resumed, another version of the code; HelloFlow by another user; 60 runs and a run without a stored graph
recorded through the metadata store's own API) and one server reads it; the live test and the metadata-level
tests (SQLite and PostgreSQL) make their own.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import ui_server
from conftest import FLOWS, REPO, ok, run_flow
from old_schema import database_at

from artiflow.metadata import open_metadata
from artiflow.metadata.browse import RunFilter

FLOW = FLOWS / "ui_runs_flow.py"
SCRIPT_NOTE = "<script>alert('note')</script>"
SCRIPT_TAG = "<script>alert('tag')</script>"
PAGED = 60
TODAY = date.today()


# -- the module's store and server ---------------------------------------------------------------------
def _env(root: Path, **extra: str) -> dict[str, str]:
    return {"ARTIFLOW_ROOT": str(root), "ARTIFLOW_USER": "tester",
            "ARTIFLOW_METADATA_URL": f"sqlite:///{root}/metadata.db", "ARTIFLOW_DATASTORE_ROOT": str(root / "data"),
            **extra}


def _record_paged_runs(meta) -> None:
    """PAGED runs of PagedFlow, recorded as the runner records them (no tasks): for paging."""
    for n in range(PAGED):
        run_id = meta.new_run("PagedFlow", "pager", ["paged"], {"n": n})
        meta.finish_run("PagedFlow", run_id, "succeeded")


def _record_legacy_run(meta) -> None:
    """A run with tasks but no stored graph (as runs made before runs kept it): start -> a, b -> end."""
    run_id = meta.new_run("LegacyFlow", "tester", [], {})
    tasks = [("start", 1, []), ("a", 2, ["start/1"]), ("b", 3, ["start/1"]), ("end", 4, ["a/2", "b/3"])]
    for step, task_id, parents in tasks:
        meta.start_task("LegacyFlow", run_id, step, task_id, 0, [], parents)
        meta.finish_task("LegacyFlow", run_id, step, task_id, 0, "succeeded", {}, None, None, None)
    meta.finish_run("LegacyFlow", run_id, "succeeded")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The module's filled store: its root and environment."""
    base = tmp_path_factory.mktemp("ui_runs")
    root = base / ".artiflow"
    env = _env(root)
    ok(run_flow(FLOW, "run", "--cache", "--note", SCRIPT_NOTE, "--tag", SCRIPT_TAG, "--tag", "team-a",
                env={**env, "UI_RUNS_ITEMS": "55", "UI_RUNS_FLAKY": "1"}))                  # 1: a retry
    ok(run_flow(FLOW, "run", "--cache", "--note", SCRIPT_NOTE, env={**env, "UI_RUNS_ITEMS": "55"}))  # 2: cached
    failed = run_flow(FLOW, "run", "--alpha", "0.3", env={**env, "UI_RUNS_FAIL": "1"})       # 3: fails
    assert failed.returncode != 0, failed.stdout
    ok(run_flow(FLOW, "resume", env=env))                                                     # 4: resumes 3
    changed = base / "v2" / FLOW.name
    changed.parent.mkdir()
    changed.write_text(FLOW.read_text().replace('VERSION = "one"', 'VERSION = "two"'))
    ok(run_flow(changed, "run", "--alpha", "0.3", env=env))                                   # 5: other code
    ok(run_flow("hello_flow.py", "run", env={**env, "ARTIFLOW_USER": "other"}))
    meta = open_metadata(env["ARTIFLOW_METADATA_URL"])
    _record_paged_runs(meta)
    _record_legacy_run(meta)
    meta.close()
    return env


@pytest.fixture(scope="module")
def ui(store):
    with ui_server.running(env=store) as server:
        yield server


# -- reading pages ---------------------------------------------------------------------------------------
ROW = re.compile(r'<tr class="run-row" data-flow="([^"]*)" data-run-id="(\d+)" data-status="([^"]*)">')
NODE = re.compile(r'<g class="dag-node" data-step="([^"]*)" data-state="([^"]*)"')


def page_ok(ui, path: str) -> str:
    response = ui.get(path)
    assert response.status_code == 200, f"GET {path}: {response.status_code}\n{response.text[:3000]}"
    return response.text


def listed(ui, query: str = "") -> list[tuple[str, int, str]]:
    return [(flow, int(run_id), status) for flow, run_id, status in ROW.findall(page_ok(ui, "/" + query))]


def api_runs(ui, query: str = "") -> dict:
    return ui.json("/api/runs" + query)


def nodes(text: str) -> dict[str, str]:
    return dict(NODE.findall(text))


def table(text: str, table_id: str) -> str:
    found = re.search(rf'<table id="{re.escape(table_id)}"[^>]*>(.*?)</table>', text, re.S)
    assert found, f"no table #{table_id} in the page"
    return found.group(1)


def error_message(text: str) -> str:
    found = re.search(r'<p class="message">(.*?)</p>', text, re.S)
    assert found, text[:2000]
    return html.unescape(found.group(1))


# -- the runs list ----------------------------------------------------------------------------------------
def test_the_list_shows_every_flows_runs_newest_first(ui):
    text = page_ok(ui, "/")
    rows = listed(ui)
    assert len(rows) == 50
    assert "<h1>Runs</h1>" in text and "Runs 1–50 of 67" in text  # 5 + 1 + 60 + 1
    assert rows[0] == ("LegacyFlow", 1, "succeeded")  # recorded last
    paged = [r for r in rows if r[0] == "PagedFlow"][:2]
    assert paged == [("PagedFlow", 60, "succeeded"), ("PagedFlow", 59, "succeeded")]
    everything = api_runs(ui, "?page=2")["runs"]
    flows = [(r["flow"], r["run_id"]) for r in everything]
    assert flows[-6:] == [("HelloFlow", 1), ("UIRunsFlow", 5), ("UIRunsFlow", 4), ("UIRunsFlow", 3),
                          ("UIRunsFlow", 2), ("UIRunsFlow", 1)]
    first = next(r for r in everything if (r["flow"], r["run_id"]) == ("UIRunsFlow", 1))
    assert first["user"] == "tester" and set(first["tags"]) == {SCRIPT_TAG, "team-a"}
    assert first["url"] == "/run/UIRunsFlow/1" and first["duration"].endswith("s") and first["started"]


def test_each_row_links_its_run_and_shows_status_user_tags(ui):
    text = page_ok(ui, "/?flow=UIRunsFlow")
    assert '<a href="/run/UIRunsFlow/3">UIRunsFlow/3</a>' in text
    row3 = re.search(r'data-run-id="3" data-status="failed">(.*?)</tr>', text, re.S).group(1)
    assert 'class="badge run-status failed">failed<' in row3 and ">tester<" in row3
    row1 = re.search(r'data-run-id="1" data-status="succeeded">(.*?)</tr>', text, re.S).group(1)
    assert ">team-a</a>" in row1


@pytest.mark.parametrize("query, expected", [
    ("?flow=UIRunsFlow", [5, 4, 3, 2, 1]),
    ("?flow=UIRunsFlow&status=failed", [3]),
    ("?flow=UIRunsFlow&status=succeeded", [5, 4, 2, 1]),
    ("?tag=team-a", [1]),
    ("?user=other", [1]),
    ("?flow=UIRunsFlow&since=" + TODAY.isoformat(), [5, 4, 3, 2, 1]),
    ("?flow=UIRunsFlow&until=" + TODAY.isoformat(), [5, 4, 3, 2, 1]),
    ("?flow=UIRunsFlow&until=" + (TODAY - timedelta(days=1)).isoformat(), []),
    ("?since=" + (TODAY + timedelta(days=1)).isoformat(), []),
    ("?q=uiruns", [5, 4, 3, 2, 1]),        # part of a flow name, any case
    ("?q=UIRunsFlow/4", [4]),              # a pathspec
    ("?q=TEAM", [1]),                      # part of a tag
    ("?q=oth", [1]),                       # part of a user
    ("?q=%25", []),                        # % is a character, not a wildcard
    ("?q=alert('tag')", [1]),              # a tag with quotes and brackets
])
def test_filters_and_search(ui, query, expected):
    runs = api_runs(ui, query)["runs"]
    assert [r["run_id"] for r in runs] == expected, query
    assert api_runs(ui, query)["total"] == len(expected)
    assert len(listed(ui, query)) == len(expected)


def test_search_by_run_id_matches_that_id_in_every_flow(ui):
    found = {(r["flow"], r["run_id"]) for r in api_runs(ui, "?q=5")["runs"]}
    assert found == {("UIRunsFlow", 5), ("PagedFlow", 5)}


def test_paging(ui):
    first = api_runs(ui, "?flow=PagedFlow")
    second = api_runs(ui, "?flow=PagedFlow&page=2")
    assert first["total"] == second["total"] == PAGED
    assert [r["run_id"] for r in first["runs"]] == list(range(60, 10, -1))
    assert [r["run_id"] for r in second["runs"]] == list(range(10, 0, -1))
    text = page_ok(ui, "/?flow=PagedFlow&page=2")
    assert "Runs 51–60 of 60" in text and "page 2 of 2" in text
    assert 'rel="prev" href="/?flow=PagedFlow"' in text and 'rel="next"' not in text
    assert 'rel="next" href="/?flow=PagedFlow&amp;page=2"' in page_ok(ui, "/?flow=PagedFlow")


@pytest.mark.parametrize("query, words", [
    ("?page=0", "page='0' is not a page number: give a whole number, 1 or more"),
    ("?page=two", "page='two' is not a page number"),
    ("?flow=PagedFlow&page=3", "page=3 is past the last page: these filters match 60 runs, 2 pages of 50"),
    ("?since=2024-02-30", "since='2024-02-30' is not a date: write it YYYY-MM-DD"),
    ("?until=yesterday", "until='yesterday' is not a date"),
    ("?since=2024-05-02&until=2024-05-01", "until=2024-05-01 is before since=2024-05-02"),
    ("?status=done", "status='done' is not accepted: give one of running, succeeded, failed, killed"),
])
def test_bad_filter_values_are_400_saying_what_is_accepted(ui, query, words):
    response = ui.get("/" + query)
    assert response.status_code == 400
    assert words in error_message(response.text)
    api = ui.get("/api/runs" + query)
    assert api.status_code == 400 and words in api.json()["error"]


def test_an_unknown_flow_in_the_filter_is_404_naming_it(ui):
    response = ui.get("/?flow=NoSuchFlow")
    assert response.status_code == 404
    message = error_message(response.text)
    assert "No flow named 'NoSuchFlow' has runs" in message and "UIRunsFlow" in message


# -- what is shown is escaped ---------------------------------------------------------------------------
def test_script_in_a_tag_and_a_parameter_is_shown_as_text(ui):
    for path in ("/", "/?flow=UIRunsFlow", "/run/UIRunsFlow/1", "/compare/UIRunsFlow/1/3"):
        text = page_ok(ui, path)
        assert "<script>alert(" not in text, path
    listing = page_ok(ui, "/?flow=UIRunsFlow")
    assert "&lt;script&gt;alert(&#39;tag&#39;)&lt;/script&gt;" in listing
    run = page_ok(ui, "/run/UIRunsFlow/1")
    params = table(run, "params")
    assert "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;" in params
    assert "&lt;script&gt;alert(&#39;tag&#39;)&lt;/script&gt;" in run


# -- the run page -----------------------------------------------------------------------------------------
def test_run_page_shows_parameters_tags_status_user(ui):
    text = page_ok(ui, "/run/UIRunsFlow/3")
    assert "<h1>Run UIRunsFlow/3" in text and 'id="run-status" class="badge failed">failed<' in text
    params = table(text, "params")
    assert re.search(r"<td>alpha</td><td class=\"mono\">0.3</td>", params)
    assert re.search(r"<td>note</td><td class=\"mono\">plain</td>", params)
    assert '<dd id="run-user">tester</dd>' in text
    assert re.search(r'id="run-system-tags"><span class="tag system-tag">user:tester</span>', text)
    assert re.search(r'<dd id="run-duration">[\d.]+ (ms|s)</dd>', text)
    one = page_ok(ui, "/run/UIRunsFlow/1")
    assert '<a class="tag user-tag" href="/?tag=team-a">team-a</a>' in one


def test_a_resumed_run_names_its_origin(ui):
    text = page_ok(ui, "/run/UIRunsFlow/4")
    assert re.search(r'id="run-origin"><a href="/run/UIRunsFlow/3">UIRunsFlow/3</a>', text)
    assert "run-origin" not in page_ok(ui, "/run/UIRunsFlow/1")


def test_dag_nodes_show_each_steps_state(ui):
    assert nodes(page_ok(ui, "/run/UIRunsFlow/1")) == {"start": "done", "train": "done", "join": "done",
                                                      "end": "done"}
    assert nodes(page_ok(ui, "/run/UIRunsFlow/2")) == {"start": "cached", "train": "cached", "join": "cached",
                                                      "end": "cached"}
    assert nodes(page_ok(ui, "/run/UIRunsFlow/3")) == {"start": "done", "train": "failed", "join": "pending",
                                                      "end": "pending"}
    resumed = page_ok(ui, "/run/UIRunsFlow/4")
    assert nodes(resumed) == {"start": "cached", "train": "done", "join": "done", "end": "done"}
    counts = re.search(r'data-step="train".*?class="dag-counts">([^<]*)<', resumed, re.S).group(1)
    assert counts == "3 tasks · 2 reused"


def test_dag_is_drawn_from_the_stored_graph(ui):
    text = page_ok(ui, "/run/UIRunsFlow/3")
    assert "dag-guessed" not in text
    assert re.search(r'<g class="dag-edge foreach" data-source="start" data-target="train">.*?foreach items</text>',
                     text, re.S)
    # join and end never ran, yet the stored graph draws them and their edges
    for source, target in (("train", "join"), ("join", "end")):
        assert f'data-source="{source}" data-target="{target}"' in text
    counts = re.search(r'data-step="train".*?class="dag-counts">([^<]*)<', text, re.S).group(1)
    assert counts == "3 tasks · 1 failed"


def test_a_run_without_a_stored_graph_is_drawn_from_its_tasks(ui):
    text = page_ok(ui, "/run/LegacyFlow/1")
    assert 'id="dag-guessed"' in text
    assert nodes(text) == {"start": "done", "a": "done", "b": "done", "end": "done"}
    edges = set(re.findall(r'class="dag-edge next" data-source="([^"]*)" data-target="([^"]*)"', text))
    assert edges == {("start", "a"), ("start", "b"), ("a", "end"), ("b", "end")}


def timeline_bars(data: dict) -> list[tuple]:
    """The timeline API's columns as one (row, attempt, status, start, end) per attempt."""
    statuses = [data["statuses"][i] for i in data["status"]]
    return list(zip(data["row"], data["attempt"], statuses, data["start_ms"], data["end_ms"]))


def test_timeline_has_every_attempt_with_retries_as_bars_of_their_own(ui):
    data = ui.json("/api/run/UIRunsFlow/1/timeline")
    bars = timeline_bars(data)
    assert len(data["rows"]) == 58 and len(bars) == 59 and not data["truncated"]
    by_row: dict[int, list] = {}
    for row, attempt, status, start, end in bars:
        by_row.setdefault(row, []).append((attempt, status))
        assert 0 <= start <= end
    retried = [(data["rows"][row], bars) for row, bars in by_row.items() if len(bars) == 2]
    assert len(retried) == 1 and retried[0][0].startswith("train/")
    assert retried[0][1] == [(0, "failed"), (1, "succeeded")]
    assert data["rows"][0].startswith("start/")
    cached = ui.json("/api/run/UIRunsFlow/2/timeline")
    assert {bar[2] for bar in timeline_bars(cached)} == {"cached"}
    assert 'id="timeline" class="chart timeline" data-rows="58"' in page_ok(ui, "/run/UIRunsFlow/1")   # sized at once


def test_task_tables_show_the_first_page_and_link_the_rest(ui):
    text = page_ok(ui, "/run/UIRunsFlow/1")
    train = table(text, "tasks-train")
    rows = re.findall(r'<tr class="task-row" data-task-id="(\d+)" data-status="([^"]*)">', train)
    assert len(rows) == 50 and {status for _, status in rows} == {"succeeded"}
    assert 'href="/run/UIRunsFlow/1/step/train?page=2">more tasks: 55 in all, page 2' in text
    retried = re.search(r'<td class="task-attempts">2</td>\s*<td class="task-foreach">(.*?)</td>', train)
    assert retried and retried.group(1) == 'items[1] of 55 <span class="task-value mono">= 1</span>'
    # the element is read from the preview of the list (its first 20 items): later ones show their index only
    assert re.search(r'<td class="task-foreach">items\[30\] of 55</td>', train)
    second = page_ok(ui, "/run/UIRunsFlow/1/step/train?page=2")
    assert "tasks 51–55 of 55" in second
    assert len(re.findall(r'class="task-row"', table(second, "tasks-train"))) == 5
    assert 'rel="prev" href="?page=1"' in second and 'rel="next"' not in second
    first_ids = [int(i) for i, _ in rows]
    second_ids = [int(i) for i in re.findall(r'data-task-id="(\d+)"', table(second, "tasks-train"))]
    assert sorted(first_ids + second_ids) == first_ids + second_ids and len(set(first_ids + second_ids)) == 55


def test_the_step_api_gives_the_task_tables_rows(ui):
    first = ui.json("/api/run/UIRunsFlow/1/step/train")
    assert (first["step"], first["total"], first["page"], first["pages"], first["per_page"]) == ("train", 55, 1, 2, 50)
    rows = {row["id"]: row for row in first["tasks"]}
    html_ids = re.findall(r'data-task-id="(\d+)"', table(page_ok(ui, "/run/UIRunsFlow/1"), "tasks-train"))
    assert [str(row["id"]) for row in first["tasks"]] == html_ids   # the rows the page shows, in its order
    (retried,) = [row for row in rows.values() if row["attempts"] == 2]
    assert retried["foreach"] == "items[1] of 55" and retried["value"] == "1" and retried["status"] == "succeeded"
    assert retried["status_class"] == "ok" and retried["url"] == f"/task/UIRunsFlow/1/train/{retried['id']}"
    second = ui.json("/api/run/UIRunsFlow/1/step/train", params={"page": 2})
    assert len(second["tasks"]) == 5 and not set(rows) & {row["id"] for row in second["tasks"]}
    cached = ui.json("/api/run/UIRunsFlow/2/step/train")["tasks"][0]
    assert cached["status"] == "cached" and cached["from_url"].startswith("/task/UIRunsFlow/1/train/")
    for path, status, words in [("/api/run/UIRunsFlow/1/step/train?page=3", 400, "page=3 is past the last page"),
                                ("/api/run/UIRunsFlow/1/step/nostep", 404, "Run UIRunsFlow/1 has no step 'nostep'")]:
        response = ui.get(path)
        assert response.status_code == status and words in response.json()["error"], response.text


def test_task_tables_say_where_a_cached_task_came_from(ui):
    train = table(page_ok(ui, "/run/UIRunsFlow/2"), "tasks-train")
    assert 'data-status="cached"' in train and "succeeded" not in train
    assert re.search(r'class="task-from"><a href="/task/UIRunsFlow/1/train/\d+">UIRunsFlow/1/train/\d+</a>', train)
    resumed = table(page_ok(ui, "/run/UIRunsFlow/4"), "tasks-train")
    assert resumed.count('data-status="reused"') == 2 and resumed.count('data-status="succeeded"') == 1


@pytest.mark.parametrize("path, status, words", [
    ("/run/UIRunsFlow/1/step/train?page=3", 400, "page=3 is past the last page: step UIRunsFlow/1/train has 55 tasks"),
    ("/run/UIRunsFlow/1/step/train?page=-1", 400, "page='-1' is not a page number"),
    ("/run/UIRunsFlow/1/step/nostep", 404, "Run UIRunsFlow/1 has no step 'nostep'; its steps: start, train, join, end"),
    ("/run/NoSuchFlow/1", 404, "No flow named 'NoSuchFlow' has runs"),
    ("/run/UIRunsFlow/99", 404, "Run UIRunsFlow/99 does not exist"),
    ("/run/UIRunsFlow/latest", 404, "There is no run UIRunsFlow/latest: run ids are whole numbers"),
    ("/compare/UIRunsFlow/1/99", 404, "Run UIRunsFlow/99 does not exist"),
    ("/compare/UIRunsFlow/1?other=x", 400, "other='x' does not name a run to compare UIRunsFlow/1 with"),
])
def test_bad_addresses(ui, path, status, words):
    response = ui.get(path)
    assert response.status_code == status
    assert words in error_message(response.text)


def test_the_live_json_of_an_unknown_run_is_a_404_json(ui):
    response = ui.get("/api/run/UIRunsFlow/99")
    assert response.status_code == 404 and "Run UIRunsFlow/99 does not exist" in response.json()["error"]


def test_live_json_of_a_finished_run(ui):
    data = ui.json("/api/run/UIRunsFlow/3")
    assert data["status"] == "failed" and data["running"] is False
    assert data["steps"]["train"]["state"] == "failed" and data["steps"]["train"]["by_status"] == {"succeeded": 2,
                                                                                                  "failed": 1}
    assert "join" not in data["steps"]


# -- compare ----------------------------------------------------------------------------------------------
def test_compare_parameters_metrics_and_artifacts(ui):
    text = page_ok(ui, "/compare/UIRunsFlow/1/3")
    assert "<h1>Compare UIRunsFlow/1 with UIRunsFlow/3</h1>" in text
    params = table(text, "params")
    assert re.search(r'data-name="alpha" class="differ"><td>alpha</td><td class="mono">0.5</td>'
                     r'<td class="mono">0.3</td>', params)
    assert 'data-name="note" class="differ"' in params
    metrics = table(text, "metrics")
    assert re.search(r'data-name="total" class="differ"><td>total</td><td class="mono">[\d.]+</td>'
                     r'<td class="mono">—</td>', metrics)
    assert 'data-name="loss"' in metrics
    artifacts = table(text, "artifacts")
    assert re.search(r'data-step="train" data-name="score" data-status="changed"', artifacts)
    assert re.search(r'data-step="end" data-name="total" data-status="only_a".*?only in A', artifacts, re.S)
    same = table(page_ok(ui, "/compare/UIRunsFlow/1/2"), "artifacts")
    assert 'data-status="changed"' not in same and 'data-step="train" data-name="score" data-status="same"' in same


def test_compare_shows_the_code_diff(ui):
    text = page_ok(ui, "/compare/UIRunsFlow/4/5")
    diff = re.search(r'<section class="panel" id="code-diff">(.*?)</section>', text, re.S).group(1)
    assert 'data-path="ui_runs_flow.py"' in diff
    assert '<span class="diff-del">-VERSION = &#34;one&#34;' in diff
    assert '<span class="diff-add">+VERSION = &#34;two&#34;' in diff
    assert "The code of both runs is the same." in page_ok(ui, "/compare/UIRunsFlow/1/2")


def test_the_run_page_offers_the_flows_other_runs_to_compare(ui):
    text = page_ok(ui, "/run/UIRunsFlow/1")
    picker = re.search(r'<form id="compare-picker" method="get" action="/compare/UIRunsFlow/1">(.*?)</form>', text,
                       re.S).group(1)
    assert re.findall(r'<option value="(\d+)">', picker) == ["5", "4", "3", "2"]
    response = ui.get("/compare/UIRunsFlow/1?other=3")
    assert response.status_code == 303 and response.headers["location"] == "/compare/UIRunsFlow/1/3"


# -- a run going on ---------------------------------------------------------------------------------------
def _wait(what, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_live_json_while_a_run_is_running(af_home, tmp_path):
    gate = tmp_path / "gate"
    env = {**os.environ, "UI_RUNS_GATE": str(gate), "PYTHONPATH": str(REPO / "src")}
    runner = subprocess.Popen([sys.executable, str(FLOW), "run"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        with ui_server.running() as ui:
            def running_train():
                if ui.get("/api/run/UIRunsFlow/1").status_code != 200:
                    return None
                data = ui.json("/api/run/UIRunsFlow/1")
                return data if data["steps"].get("train", {}).get("by_status", {}).get("running") == 3 else None

            data = _wait("the train tasks to run", running_train)
            assert data["status"] == "running" and data["running"] is True
            assert data["steps"]["start"]["state"] == "done" and data["steps"]["train"]["state"] == "running"
            assert data["steps"]["train"]["counts"] == "3 tasks · 3 running"
            listing = ui.json("/api/runs")
            assert listing["runs"][0]["status"] == "running" and listing["runs"][0]["status_class"] == "running"
            text = page_ok(ui, "/run/UIRunsFlow/1")
            assert nodes(text) == {"start": "done", "train": "running", "join": "pending", "end": "pending"}
            live = json.loads(re.search(r'<script type="application/json" id="run-data">(.*?)</script>', text).group(1))
            assert live == {"api": "/api/run/UIRunsFlow/1", "timeline": "/api/run/UIRunsFlow/1/timeline",
                            "steps": "/api/run/UIRunsFlow/1/step/", "running": True}
            train = ui.json("/api/run/UIRunsFlow/1/step/train")
            assert train["total"] == 3 and {t["status"] for t in train["tasks"]} == {"running"}
            assert train["tasks"][0]["status_class"] == "running" and train["tasks"][0]["url"].startswith("/task/")
            runs_live = json.loads(re.search(r'id="runs-data">(.*?)</script>', page_ok(ui, "/")).group(1))
            assert runs_live["running"] == [["UIRunsFlow", 1]] and runs_live["api"] == "/api/runs"
            bars = timeline_bars(ui.json("/api/run/UIRunsFlow/1/timeline"))
            assert sum(1 for bar in bars if bar[2] == "running" and bar[4] is None) == 3
            gate.write_text("go")
            out, _ = runner.communicate(timeout=120)
            assert runner.returncode == 0, out
            done = ui.json("/api/run/UIRunsFlow/1")
            assert done["status"] == "succeeded" and done["running"] is False
            assert {step["state"] for step in done["steps"].values()} == {"done"}
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()


# -- the queries themselves, on both backends -------------------------------------------------------------
def _meta():
    from artiflow.client.context import get_context

    return get_context().meta


@pytest.mark.both_backends
def test_find_runs_filters_pages_and_counts(af_home, metadata_backend):
    meta = _meta()
    for n in range(7):
        run_id = meta.new_run("FlowA" if n % 2 else "FlowB", "ann" if n < 4 else "bob", ["even"] if n % 2 == 0 else [],
                              {"n": n}, system_tags=["project:x"])
        meta.finish_run("FlowA" if n % 2 else "FlowB", run_id, "failed" if n == 3 else "succeeded")
    meta.new_run("Odd_%Flow", "cy", ["50%_off"], {})
    page = meta.find_runs(RunFilter(), 0, 3)
    assert page.total == 8 and [r.flow for r in page.runs] == ["Odd_%Flow", "FlowB", "FlowA"]
    assert [r.pathspec for r in meta.find_runs(RunFilter(), 6, 3).runs] == ["FlowA/1", "FlowB/1"]
    assert meta.find_runs(RunFilter(flow="FlowA")).total == 3
    assert [r.pathspec for r in meta.find_runs(RunFilter(status="failed")).runs] == ["FlowA/2"]
    assert [r.pathspec for r in meta.find_runs(RunFilter(status="running")).runs] == ["Odd_%Flow/1"]
    assert meta.find_runs(RunFilter(user="bob")).total == 3
    assert meta.find_runs(RunFilter(tag="even", user="ann")).total == 2
    assert meta.find_runs(RunFilter(tag="project:x")).total == 7  # system tags too
    assert [r.flow for r in meta.find_runs(RunFilter(q="_%")).runs] == ["Odd_%Flow"]  # literal, not wildcards
    assert [r.flow for r in meta.find_runs(RunFilter(q="0%_O")).runs] == ["Odd_%Flow"]  # a tag, any case
    assert meta.find_runs(RunFilter(q="flowa")).total == 3
    assert [r.pathspec for r in meta.find_runs(RunFilter(q="FlowB/2")).runs] == ["FlowB/2"]
    now = meta.now()
    assert meta.find_runs(RunFilter(since=now - 60, until=now + 60)).total == 8
    assert meta.find_runs(RunFilter(until=now - 60)).total == 0
    found = meta.find_runs(RunFilter(flow="FlowB", tag="even")).runs[0]
    assert found.tags == ["even"] and found.system_tags == ["project:x", "user:bob"] and found.params == {"n": 6}
    assert meta.run_users() == ["ann", "bob", "cy"]


@pytest.mark.both_backends
def test_a_lost_run_is_listed_as_failed(af_home, metadata_backend, monkeypatch):
    meta = _meta()
    meta.new_run("LostFlow", "ann", [], {})
    monkeypatch.setenv("ARTIFLOW_HEARTBEAT_TIMEOUT", "0.2")
    time.sleep(0.4)
    assert meta.find_runs(RunFilter(status="running")).total == 0
    lost = meta.find_runs(RunFilter(status="failed")).runs
    assert [r.pathspec for r in lost] == ["LostFlow/1"] and lost[0].lost and lost[0].status == "failed"


@pytest.mark.both_backends
def test_step_summaries_task_pages_spans_and_graphs(af_home, metadata_backend):
    meta = _meta()
    run_id = meta.new_run("F", "ann", [], {})
    assert meta.run_graph("F", run_id) is None
    meta.set_run_graph("F", run_id, {"version": 1, "steps": [{"name": "start", "next": ["w"]}]})
    assert meta.run_graph("F", run_id) == {"version": 1, "steps": [{"name": "start", "next": ["w"]}]}
    meta.start_task("F", run_id, "start", 1, 0, [], [])
    meta.finish_task("F", run_id, "start", 1, 0, "succeeded", {}, None, None, None)
    for task_id in range(2, 9):
        frame = [{"step": "start", "var": "xs", "index": task_id - 2, "num_splits": 7}]
        meta.start_task("F", run_id, "w", task_id, 0, frame, ["start/1"])
        if task_id == 3:  # fails, then succeeds on its retry
            meta.finish_task("F", run_id, "w", task_id, 0, "failed", {}, None, None, {"type": "E"})
            meta.start_task("F", run_id, "w", task_id, 1, frame, ["start/1"])
        if task_id != 8:
            meta.finish_task("F", run_id, "w", task_id, 1 if task_id == 3 else 0, "succeeded", {}, None, None, None)
    summaries = meta.step_summaries("F", run_id)
    assert [s.step for s in summaries] == ["start", "w"]
    assert summaries[1].counts == {"succeeded": 6, "running": 1} and summaries[1].total == 7
    assert summaries[1].cached == summaries[1].reused == 0 and summaries[1].finished_at is not None
    page = meta.task_page("F", run_id, "w", 5, 5)
    assert page.total == 7 and [t.task_id for t in page.tasks] == [7, 8]
    assert page.tasks[0].foreach_stack[0]["index"] == 5
    spans = meta.timeline("F", run_id)
    assert len(spans) == 9 and meta.attempt_count("F", run_id) == 9 and not spans.truncated
    assert [(a, s) for a, s, t in zip(spans.attempts, spans.statuses, spans.task_ids) if t == 3] == [
        (0, "failed"), (1, "succeeded")]
    assert spans.finished_ms[-1] is None and spans.statuses[-1] == "running" and not any(spans.reused)
    run = meta.run("F", run_id)
    timed = meta.timeline("F", run_id, run.created_at)
    assert all(isinstance(ms, int) and ms >= 0 for ms in timed.started_ms + timed.finished_ms[:-1])
    first = meta.timeline("F", run_id, limit=4)
    assert len(first) == 4 and first.truncated and first.task_ids == spans.task_ids[:4]
    assert len(meta.timeline("F", run_id + 99)) == 0
    assert meta.step_parents("F", run_id) == {"start": set(), "w": {"start"}}


def test_the_ui_on_postgresql_and_s3(af_home, pg_url, tmp_path):
    import s3_server

    with s3_server.moto_server() as endpoint:
        s3_server.s3_client(endpoint).create_bucket(Bucket="ui-runs")
        env = s3_server.s3_env(endpoint, "s3://ui-runs/store", ARTIFLOW_METADATA_URL=pg_url)
        ok(run_flow(FLOW, "run", "--tag", "on-s3", env=env))
        with ui_server.running(env=env) as ui:
            health = ui.json("/api/health")
            assert health["datastore"] == "s3://ui-runs/store" and "postgresql" in health["metadata"]
            assert [r["run_id"] for r in ui.json("/api/runs?tag=on-s3")["runs"]] == [1]
            text = page_ok(ui, "/run/UIRunsFlow/1")
            assert nodes(text) == {"start": "done", "train": "done", "join": "done", "end": "done"}
            assert len(timeline_bars(ui.json("/api/run/UIRunsFlow/1/timeline"))) == 6


def test_the_server_fixture_reports_a_server_that_cannot_start(af_home):
    with pytest.raises(RuntimeError, match="artiflow ui exited with"):
        with ui_server.running(args=["--host", "0.0.0.0"]):  # an open address without a token is refused
            pass



@pytest.mark.both_backends
def _no_graph_column(migrator) -> None:
    assert "graph" not in migrator.columns("runs")


def test_a_database_from_before_migration_6_gets_the_graph_column_and_keeps_its_runs(af_home, metadata_backend):
    from artiflow.metadata import schema

    database_at(_meta(), 5, check=lambda migrator: _no_graph_column(migrator))
    ok(run_flow(FLOW, "run"))  # the runner migrates the database, then stores the new run's graph
    meta = _meta()
    assert meta.schema_version() == schema.LATEST
    assert meta.run_graph("OldFlow", 1) is None
    graph = meta.run_graph("UIRunsFlow", 1)
    assert [(s["name"], s["type"], s["next"], s["foreach"]) for s in graph["steps"]] == [
        ("start", "foreach", ["train"], "items"), ("train", "linear", ["join"], None),
        ("join", "join", ["end"], None), ("end", "end", [], None)]
    assert graph["steps"][2]["join"] == "foreach" and graph["steps"][1]["decorators"] == ["cache", "retry"]
    assert [r.pathspec for r in meta.find_runs(RunFilter()).runs] == ["UIRunsFlow/1", "OldFlow/1"]
