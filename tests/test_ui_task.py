"""The task page, artifact pages, raw downloads, logs API, cards and lineage of `artiflow ui`, over real runs.

One run of tests/flows/ui_task_flow.py (a foreach with a retry, a card, metrics with NaN/inf and 100,000
points, artifacts of every preview kind, `<script>` in values, logs and an exception) is browsed
through the real server with httpx. Then: a running task's logs growing, and a run on S3 + PostgreSQL.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import ui_server
from conftest import FLOWS, REPO, ok, run_flow

FLOW = "ui_task_flow.py"
SCRIPT = "<script>alert('x')</script>"
CLEARED = ("METAFLOW_USER", "ARTIFLOW_DATASTORE_ROOT", "ARTIFLOW_METADATA_URL", "METAFLOW_DATASTORE",
           "METAFLOW_DATATOOLS_S3ROOT", "ARTIFLOW_S3_ENDPOINT_URL")
BIG_POINTS = 100_000
# task ids of the run: start 1, each 2-4 (each/3 is "b": fails once, then succeeds), join 5, end 6
START, B_TASK, A_TASK, JOIN, END = "start/1", "each/3", "each/2", "join/5", "end/6"

pytestmark = pytest.mark.timeout(300)


def _clean_env(mp: pytest.MonkeyPatch, root) -> None:
    mp.setenv("ARTIFLOW_ROOT", str(root / ".artiflow"))
    mp.setenv("ARTIFLOW_USER", "tester")
    for name in CLEARED:
        mp.delenv(name, raising=False)
    mp.chdir(root)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A store holding one run of the flow (its environment set for this module: flows, server, client)."""
    from artiflow.client import context

    root = tmp_path_factory.mktemp("ui_task")
    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, root)
        ok(run_flow(FLOW, "run", "--points", str(BIG_POINTS)))
        ok(run_flow(FLOW, "resume", "join"))  # run 2: start and each reused by resume, join from the step cache
        context.clear_cache()
        yield root
        context.clear_cache()


@pytest.fixture(scope="module")
def ui(home):
    with ui_server.running() as server:
        yield server


def task_url(task: str, run: int = 1) -> str:
    return f"/task/UITaskFlow/{run}/{task}"


def page_json(text: str, block: str):
    """The JSON of a page's `<script type="application/json" id=block>` (what its JS reads)."""
    found = re.search(rf'<script type="application/json" id="{block}">(.*?)</script>', text, re.S)
    assert found, f"no JSON block {block!r} in the page"
    return json.loads(found.group(1))


def section(text: str, element_id: str) -> str:
    """The HTML of the element with this id, up to its tag's first closing tag (none of ours nest in themselves)."""
    opening = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"', text)
    assert opening, f"no element with id {element_id!r} in the page"
    return text[opening.start():text.index(f"</{opening.group(1)}>", opening.start())]


def rows(text: str, table_id: str) -> list[str]:
    return re.findall(r"<tr[ >].*?</tr>", section(text, table_id), re.S)[1:]  # without the header row


def plain(fragment: str) -> str:
    """The text of an HTML fragment (tags removed, entities decoded, whitespace collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


# -- the task page --------------------------------------------------------------------------------------
def test_task_page_shows_status_step_times_and_links(ui):
    page = ui.get(task_url(START))
    assert page.status_code == 200, page.text
    assert "<h1>Task UITaskFlow/1/start/1</h1>" in page.text
    summary = plain(section(page.text, "summary"))
    assert "Status succeeded" in summary and "Step start" in summary
    assert re.search(r"Started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d Duration [\d.]+ (ms|s)", summary), summary
    assert 'href="/run/UITaskFlow/1/step/start"' in page.text
    children = section(page.text, "children")
    for task in ("each/2", "each/3", "each/4"):
        assert f'href="/task/UITaskFlow/1/{task}"' in children
    assert "none" in plain(section(page.text, "parents"))


def test_foreach_task_shows_index_value_and_parent(ui):
    page = ui.get(task_url(B_TASK))
    summary = plain(section(page.text, "summary"))
    assert "Foreach index 1 of 3 over items of step start: 'b'" in summary, summary
    assert 'href="/task/UITaskFlow/1/start/1"' in section(page.text, "parents")
    assert 'href="/task/UITaskFlow/1/join/5"' in section(page.text, "children")


def test_reused_tasks_link_the_task_they_came_from(ui):
    resumed = ui.get(task_url(B_TASK, run=2)).text
    assert ('<dd class="origin"><a class="task-link" href="/task/UITaskFlow/1/each/3">UITaskFlow/1/each/3</a> '
            '(reused by resume)</dd>') in resumed
    cached = ui.get(task_url(JOIN, run=2)).text
    assert ('<dd class="cached-from"><a class="task-link" href="/task/UITaskFlow/1/join/5">UITaskFlow/1/join/5</a> '
            '(step cache hit: its artifacts were reused)</dd>') in cached
    assert 'class="origin"' not in cached and 'class="cached-from"' not in ui.get(task_url(JOIN)).text


def test_attempts_table_lists_each_attempt_with_its_exception(ui):
    page = ui.get(task_url(B_TASK))
    first, second = rows(page.text, "attempts")
    assert 'data-attempt="0"' in first and 'data-attempt="1"' in second
    assert "failed" in plain(first) and "succeeded" in plain(second)
    assert "ValueError: first attempt of b fails <script>alert('x')</script>" in plain(first)
    assert '<details class="traceback"><summary>traceback</summary>' in first
    line = next(n for n, text in enumerate((FLOWS / FLOW).read_text().splitlines(), 1) if "raise ValueError" in text)
    assert f'ui_task_flow.py", line {line}, in each' in html.unescape(first)
    assert "(shown)" in plain(second) and "(shown)" not in plain(first)
    assert "<h2>Logs <span class=\"muted\">(attempt 1)</span></h2>" in page.text


def test_another_attempt_is_shown_with_its_own_logs_and_metrics(ui):
    page = ui.get(task_url(B_TASK), params={"attempt": 0})
    assert page.status_code == 200
    first = rows(page.text, "attempts")[0]
    assert "(shown)" in plain(first)
    assert page_json(page.text, "task-live")["attempt"] == 0
    stderr = html.unescape(section(page.text, "log-stderr"))
    assert "ValueError: first attempt of b fails" in stderr
    charts = {c["name"]: c for c in page_json(page.text, "task-charts")}
    assert [(s["attempt"], s["x"], s["y"]) for s in charts["acc"]["series"]] == [(0, [0], [0.1]),
                                                                                (1, [0, 1], [0.5, 0.9])]


# -- logs --------------------------------------------------------------------------------------------------
def test_logs_are_in_the_page_escaped(ui):
    page = ui.get(task_url(START))
    stdout = section(page.text, "log-stdout")
    assert "hello from start &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in stdout
    assert "a warning on stderr" in section(page.text, "log-stderr")


def test_logs_api_reads_from_an_offset(ui):
    base = "/api/logs/UITaskFlow/1/start/1"
    whole = ui.json(base, params={"stream": "stdout"})
    expected = f"hello from start {SCRIPT}\n"
    assert whole["text"] == expected and whole["done"] is True and whole["stored"] is True
    assert whole["offset"] == whole["size"] == len(expected.encode())
    rest = ui.json(base, params={"stream": "stdout", "offset": 6, "attempt": 0})
    assert rest["text"] == expected[6:] and rest["start"] == 6
    past = ui.json(base, params={"stream": "stdout", "offset": 10_000})
    assert past["text"] == "" and past["offset"] == whole["size"] and past["done"] is True
    assert ui.json(base, params={"stream": "stderr"})["text"] == "a warning on stderr\n"


def test_logs_api_never_cuts_a_character_in_two(ui, home):
    found = ui.json("/api/logs/UITaskFlow/1/start/1", params={"stream": "stdout", "offset": 0})
    assert found["text"].isprintable() or found["text"].endswith("\n")  # ASCII: whole; the UTF-8 cut is unit-tested
    from artiflow.ui.task_logs import read_slice

    class Store:
        def get_bytes(self, key):
            return memoryview("né€".encode())

    class Attempt:
        stdout_key, stderr_key, finished_at, status = "k", None, None, "running"

    piece = read_slice(Store(), Attempt(), "stdout", 0, limit=4)  # n, é (2 bytes), 1 of €'s 3 bytes
    assert (piece.text, piece.offset, piece.done) == ("né", 3, False)
    rest = read_slice(Store(), Attempt(), "stdout", piece.offset)
    assert (rest.text, rest.offset) == ("€", 6)


# -- artifacts ---------------------------------------------------------------------------------------------
def test_artifacts_table_shows_type_size_and_preview(ui):
    page = ui.get(task_url(START))
    table = {re.search(r'data-artifact="(\w+)"', row).group(1): plain(row) for row in rows(page.text, "artifacts")}
    assert set(table) >= {"text", "numbers", "mapping", "count", "blob", "items", "scale"}
    assert table["count"].startswith("count int 2 B int: 84")
    assert "list of 3 items: 1, 2.5, 3" in table["numbers"]
    assert "dict of 2 keys: 'a': 1, 'b': [1, 2]" in table["mapping"]
    assert table["blob"].startswith("blob bytes 2.1 MB")
    assert f"str, 27 chars: {SCRIPT}" in table["text"]
    assert 'href="/artifact/UITaskFlow/1/start/1/numbers"' in page.text
    assert 'href="/raw/UITaskFlow/1/start/1/numbers"' in page.text


def test_artifact_page_shows_the_full_preview_by_kind(ui):
    text = ui.get("/artifact/UITaskFlow/1/start/1/text").text
    assert "<h1>Artifact text</h1>" in text
    assert '<pre class="value">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</pre>' in text
    assert "<code>json</code>: JSON text (UTF-8)" in text
    numbers = ui.get("/artifact/UITaskFlow/1/start/1/numbers").text
    assert re.findall(r"<li><code>(.*?)</code></li>", numbers) == ["1", "2.5", "3"]
    mapping = ui.get("/artifact/UITaskFlow/1/start/1/mapping").text
    assert "<tr><td><code>&#39;b&#39;</code></td><td><code>[1, 2]</code></td></tr>" in mapping
    assert "Python pickle" in ui.get("/artifact/UITaskFlow/1/start/1/blob").text


def test_dataframe_array_and_image_previews(ui):
    frame = ui.get(f"/artifact/UITaskFlow/1/{END}/frame").text
    assert "shape <code class=\"shape\">30 × 2</code> (the first 10 rows)" in frame
    table = section(frame, "frame")
    assert "<th>x</th><th>label</th>" in table and '<th class="muted">int64</th>' in table
    assert len(re.findall(r"<tbody>|<tr><th>\d+</th>", table)) == 11  # tbody + 10 rows
    assert "<td>&lt;b&gt;9&lt;/b&gt;</td>" in table and "<b>" not in table
    array = ui.get(f"/artifact/UITaskFlow/1/{END}/array").text
    assert '<code class="shape">(3, 4)</code>' in array and '<code class="dtype">float64</code>' in array
    assert '<dd class="stat-mean">5.5</dd>' in array and '<dd class="stat-max">11.0</dd>' in array
    picture = ui.get(f"/artifact/UITaskFlow/1/{END}/picture").text
    assert "64 × 32 px" in picture
    image = re.search(r'<img class="preview-image" alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', picture)
    import base64

    assert image and base64.b64decode(image.group(1)).startswith(b"\x89PNG")


def test_artifact_saved_before_previews_says_so(ui, home):
    import sqlite3

    from artiflow.client import Task, context

    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, home)
        key = Task("UITaskFlow/1/start/1")["items"]._ref.key
        context.clear_cache()
    with sqlite3.connect(home / ".artiflow" / "metadata.db") as db:  # as in a store from before previews
        assert db.execute("DELETE FROM artifact_previews WHERE key = ?", (key,)).rowcount == 1
    page = ui.get("/artifact/UITaskFlow/1/start/1/items")
    assert "No preview: this artifact was saved before artiflow stored previews" in page.text
    row = next(r for r in rows(ui.get(task_url(START)).text, "artifacts") if 'data-artifact="items"' in r)
    assert "no preview: saved before artiflow stored previews" in plain(row)


def test_raw_download_streams_the_stored_bytes(ui, home):
    from artiflow.client import Task, context

    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, home)
        task = Task("UITaskFlow/1/start/1")
        expected = {name: bytes(task._ctx.store.get_bytes(task[name]._ref.key)) for name in ("blob", "text")}
        context.clear_cache()
    with ui.client.stream("GET", "/raw/UITaskFlow/1/start/1/blob") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"] == 'attachment; filename="blob.pkl"'
        assert int(response.headers["content-length"]) == len(expected["blob"])
        body = b"".join(response.iter_bytes())
    assert body == expected["blob"]
    text = ui.get("/raw/UITaskFlow/1/start/1/text")
    assert text.content == expected["text"] == json.dumps(SCRIPT).encode()
    assert text.headers["content-disposition"] == 'attachment; filename="text.json"'


def test_a_corrupt_or_missing_blob_is_refused_with_why(ui, home):
    from artiflow.client import Task, context

    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, home)
        keys = {name: Task(f"UITaskFlow/1/{END}")[name]._ref.key for name in ("picture", "array")}
        context.clear_cache()
    blobs = home / ".artiflow" / "data" / "blobs"
    picture = blobs / keys["picture"][:2] / keys["picture"][2:]
    data = bytearray(picture.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed on disk
    picture.write_bytes(bytes(data))
    corrupt = ui.get(f"/raw/UITaskFlow/1/{END}/picture")
    assert corrupt.status_code == 500
    assert f"Artifact 'picture' in UITaskFlow/1/{END}: blob {keys['picture']}" in html.unescape(corrupt.text)
    assert "is corrupt: its content no longer matches its hash" in corrupt.text
    (blobs / keys["array"][:2] / keys["array"][2:]).unlink()
    missing = ui.get(f"/raw/UITaskFlow/1/{END}/array")
    assert missing.status_code == 404 and "is missing from the datastore" in missing.text
    assert "shape" in ui.get(f"/artifact/UITaskFlow/1/{END}/array").text  # the page shows the stored preview still


# -- metrics -----------------------------------------------------------------------------------------------
def test_metric_chart_per_name_with_gaps_for_nan_and_inf(ui):
    page = ui.get(task_url(START))
    assert '<div class="chart" data-metric="loss"></div>' in page.text
    charts = {chart["name"]: chart for chart in page_json(page.text, "task-charts")}
    assert sorted(charts) == ["big", "loss"]
    (series,) = charts["loss"]["series"]
    assert series["axis"] == "step" and len(series["x"]) == len(series["y"]) == 52
    assert series["x"] == list(range(52))
    assert series["y"][:2] == [1.0, 0.5] and series["y"][50:] == [None, None]
    assert (series["nan"], series["inf"]) == (1, 1)
    assert "attempt 0: 1 NaN and 1 infinite values shown as gaps." in page.text


def test_a_chart_of_100000_points_renders_fast(ui):
    ui.get(task_url(START))  # warm
    began = time.perf_counter()
    page = ui.get(task_url(START))
    took = time.perf_counter() - began
    assert '<div class="chart" data-metric="big"></div>' in page.text
    (big,) = [chart for chart in page_json(page.text, "task-charts") if chart["name"] == "big"]
    (series,) = big["series"]
    assert len(series["y"]) == BIG_POINTS and (series["x"][1234], series["y"][1234]) == (1234, 234.0)
    assert took < 2.0, f"the task page with {BIG_POINTS:,} metric points took {took:.2f} s"


# -- cards -------------------------------------------------------------------------------------------------
def test_cards_are_embedded_in_sandboxed_frames(ui, home):
    page = ui.get(task_url(A_TASK))
    frames = re.findall(r"<iframe[^>]*>", section(page.text, "cards"))
    assert frames == ['<iframe class="card" sandbox="allow-scripts" src="/card/UITaskFlow/1/each/2/0" '
                      'title="card 0: default" loading="lazy">']
    card = ui.get("/card/UITaskFlow/1/each/2/0")
    assert card.status_code == 200
    policy = card.headers["content-security-policy"]
    assert policy.startswith("sandbox allow-scripts;") and "allow-same-origin" not in policy
    from artiflow.cards import get_cards
    from artiflow.client import context

    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, home)
        assert card.text == get_cards("UITaskFlow/1/each/2")[0].get()
        context.clear_cache()
    assert "This task has no cards." in ui.get(task_url(START)).text


# -- lineage -----------------------------------------------------------------------------------------------
def test_lineage_shows_reads_and_producers(ui):
    page = ui.get(task_url(JOIN))
    graph = page_json(page.text, "task-lineage")
    ids = {n["id"]: n for n in graph["nodes"]}
    for task in ("each/2", "each/3", "each/4"):
        value = f"UITaskFlow/1/{task}/value"
        assert ids[value]["kind"] == "artifact" and ids[value]["url"] == f"/artifact/{value}"
        assert {"source": f"UITaskFlow/1/{task}", "target": value, "kind": "produced", "via": None} in graph["edges"]
        assert {"source": value, "target": "UITaskFlow/1/join/5", "kind": "read", "via": "artifact"} in graph["edges"]
        assert ids[f"UITaskFlow/1/{task}"]["url"] == f"/task/UITaskFlow/1/{task}"
    made = {plain(r).split(" ")[0]: plain(r) for r in rows(page.text, "produced")}
    assert made["values"] == "values this task"
    lineage = ui.get("/lineage/UITaskFlow/1/each/3")
    assert lineage.status_code == 200 and "<h1>Lineage of UITaskFlow/1/each/3</h1>" in lineage.text
    reads = plain(section(lineage.text, "reads"))
    assert "count artifact UITaskFlow/1/start/1/count" in reads
    assert "scale parameter UITaskFlow/1/_parameters/scale" in reads or "scale" not in reads


# -- escaping ----------------------------------------------------------------------------------------------
def test_script_in_values_logs_and_exceptions_is_only_shown_escaped(ui):
    pages = [task_url(START), task_url(B_TASK), task_url(B_TASK) + "?attempt=0", "/artifact/UITaskFlow/1/start/1/text",
             f"/artifact/UITaskFlow/1/{END}/frame", "/lineage/UITaskFlow/1/start/1"]
    for url in pages:
        text = ui.get(url).text
        assert "<script>alert" not in text and "<b>" not in text, url
        scripts = re.findall(r"<script[^>]*>", text)
        assert all(s == "<script src=\"/static/app.js\">" or 'src="/static/' in s or 'type="application/json"' in s
                   for s in scripts), (url, scripts)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in ui.get(task_url(START)).text


# -- bad addresses -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, status, message", [
    ("/task/NoSuchFlow/1/start/1", 404, "Flow NoSuchFlow does not exist; flows: UITaskFlow."),
    ("/task/UITaskFlow/99/start/1", 404, "Run UITaskFlow/99 does not exist; runs of UITaskFlow (newest first): 2, 1."),
    ("/task/UITaskFlow/abc/start/1", 404, "Run UITaskFlow/abc does not exist: run ids are whole numbers."),
    ("/task/UITaskFlow/1/nostep/1", 404, "Step UITaskFlow/1/nostep does not exist; steps of UITaskFlow/1: start, each, "
                                         "join, end."),
    ("/task/UITaskFlow/1/each/9", 404, "Task UITaskFlow/1/each/9 does not exist; tasks of UITaskFlow/1/each: 2, 3, 4."),
    ("/task/UITaskFlow/1/each/x", 404, "Task UITaskFlow/1/each/x does not exist: task ids are whole numbers."),
    ("/task/UITaskFlow/1/each/3?attempt=5", 404, "Attempt 5 of task UITaskFlow/1/each/3 does not exist; its attempts: "
                                                 "0, 1."),
    ("/task/UITaskFlow/1/each/3?attempt=two", 400, "?attempt='two' is not a whole number: give attempt=0 or more."),
    ("/task/UITaskFlow/1/each/3?attempt=-1", 400, "?attempt=-1 is below 0: give attempt=0 or more."),
    ("/artifact/UITaskFlow/1/start/1/nope", 404, "Artifact nope does not exist in task UITaskFlow/1/start/1; its "
                                                 "artifacts: blob, count, items, mapping, name, numbers, points, scale, text."),
    ("/raw/UITaskFlow/1/start/1/nope", 404, "Artifact nope does not exist in task UITaskFlow/1/start/1"),
    ("/artifact/UITaskFlow/1/nostep/1/x", 404, "Step UITaskFlow/1/nostep does not exist"),
    ("/card/UITaskFlow/1/each/2/1", 404, "Card 1 of task UITaskFlow/1/each/2 does not exist; its cards are numbered "
                                         "0 to 0."),
    ("/card/UITaskFlow/1/each/2/first", 404, "Card first of task UITaskFlow/1/each/2 does not exist"),
    ("/card/UITaskFlow/1/start/1/0", 404, "Card 0 of task UITaskFlow/1/start/1 does not exist; it has no cards."),
    ("/lineage/UITaskFlow/1/each/9", 404, "Task UITaskFlow/1/each/9 does not exist"),
])
def test_bad_addresses_say_what_is_wrong(ui, url, status, message):
    page = ui.get(url)
    assert page.status_code == status, page.text
    assert message in html.unescape(page.text), page.text


@pytest.mark.parametrize("query, status, message", [
    ({"stream": "stdlog"}, 400, "?stream='stdlog' is not known: use one of stdout, stderr."),
    ({"offset": "-1"}, 400, "?offset=-1 is below 0: give offset=0 or more."),
    ({"offset": "x"}, 400, "?offset='x' is not a whole number: give offset=0 or more."),
    ({"attempt": "3"}, 404, "Attempt 3 of task UITaskFlow/1/start/1 does not exist; its attempts: 0."),
])
def test_bad_log_queries_get_a_json_error(ui, query, status, message):
    response = ui.get("/api/logs/UITaskFlow/1/start/1", params=query)
    assert response.status_code == status
    assert response.json() == {"error": message}


def test_unknown_task_in_the_logs_api_is_a_json_404(ui):
    response = ui.get("/api/logs/UITaskFlow/1/each/9")
    assert response.status_code == 404
    assert response.json()["error"].startswith("Task UITaskFlow/1/each/9 does not exist")


# -- a running task's logs grow ---------------------------------------------------------------------------
def test_a_running_tasks_logs_grow_on_the_page(ui, home):
    gate = home / f"gate-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "UI_TASK_GATE": str(gate), "PYTHONPATH": str(REPO / "src")}
    runner = subprocess.Popen([sys.executable, str(FLOWS / FLOW), "run"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = "/api/logs/UITaskFlow/3/start/1"
        first = _wait_for(lambda: _log(ui, base), lambda got: "waiting for the gate" in got["text"], 30)
        assert first["done"] is False and first["stored"] is True
        page = ui.get(task_url(START, run=3))
        assert "running" in plain(section(page.text, "summary"))
        assert page_json(page.text, "task-live")["done"] is False
        gate.touch()
        rest = _wait_for(lambda: _log(ui, base, first["offset"]), lambda got: got["done"], 30)
        assert rest["text"].endswith("through the gate\n") and rest["start"] == first["offset"]
        assert ui.json(base)["text"] == first["text"] + rest["text"]
    finally:
        gate.touch()
        runner.wait(timeout=60)
    assert runner.returncode == 0
    from artiflow.client import Task, context

    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, home)
        meta = context.get_context().meta
        (waited,) = meta.attempts("UITaskFlow", 3, "start", 1)
        (quick,) = meta.attempts("UITaskFlow", 3, "each", 2)
        assert waited.stdout_key.startswith("parts:")  # stored while it ran, then the rest
        assert not quick.stdout_key.startswith("parts:")  # a task of under a second: stored once, at its end
        assert Task("UITaskFlow/3/start/1").stdout == first["text"] + rest["text"]
        context.clear_cache()


def _log(ui, base: str, offset: int = 0):
    response = ui.get(base, params={"stream": "stdout", "offset": offset})
    return response.json() if response.status_code == 200 else None


def _wait_for(fetch, ready, seconds: float):
    deadline = time.monotonic() + seconds
    got = None
    while time.monotonic() < deadline:
        got = fetch()
        if got is not None and ready(got):
            return got
        time.sleep(0.1)
    raise AssertionError(f"not ready within {seconds} s; last answer: {got}")


# -- S3 + PostgreSQL ---------------------------------------------------------------------------------------
def test_task_page_logs_artifacts_and_download_on_s3_and_postgresql(tmp_path, pg_url, s3_session_bucket, monkeypatch):
    import s3_server

    from artiflow.client import Task, context

    _clean_env(monkeypatch, tmp_path)
    endpoint = s3_session_bucket[0]
    bucket = f"ui-{uuid.uuid4().hex[:10]}"
    s3_server.s3_client(endpoint).create_bucket(Bucket=bucket)
    env = {**s3_server.CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "ARTIFLOW_S3_ENDPOINT_URL": endpoint, "ARTIFLOW_DATASTORE_ROOT": f"s3://{bucket}/af",
           "ARTIFLOW_METADATA_URL": pg_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ok(run_flow(FLOW, "run"))
    objects = s3_server.s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix="af/")["KeyCount"]
    assert objects > 5
    assert not (tmp_path / ".artiflow" / "data").exists()  # every blob is on S3
    context.clear_cache()
    task = Task("UITaskFlow/1/start/1")
    blob = bytes(task._ctx.store.get_bytes(task["blob"]._ref.key))
    context.clear_cache()
    with ui_server.running() as server:
        assert "postgresql" in server.json("/api/health")["metadata"]
        page = server.get(task_url(START))
        assert "hello from start &lt;script&gt;" in section(page.text, "log-stdout")
        assert "int: 84" in plain(section(page.text, "artifacts"))
        (loss,) = [chart for chart in page_json(page.text, "task-charts") if chart["name"] == "loss"]
        assert loss["series"][0]["y"][:2] == [1.0, 0.5] and len(loss["series"][0]["y"]) == 52
        assert server.get("/raw/UITaskFlow/1/start/1/blob").content == blob
        assert "ValueError" in plain(section(server.get(task_url(B_TASK)).text, "attempts"))
        assert server.get("/card/UITaskFlow/1/each/2/0").status_code == 200
        assert server.json("/api/logs/UITaskFlow/1/start/1", params={"stream": "stderr"})["text"] == \
            "a warning on stderr\n"
        # a blob damaged on S3: the download streams, so the damage shows only at its end; the download is cut off
        # short of its length (never a whole-looking file), the blob is moved aside, and the next try is a 404
        key = task["blob"]._ref.key
        damaged = bytearray(blob)
        damaged[-1] ^= 1
        s3_server.s3_client(endpoint).put_object(Bucket=bucket, Key=f"af/blobs/{key[:2]}/{key[2:]}", Body=bytes(damaged))
        with pytest.raises(httpx.RemoteProtocolError):
            server.get("/raw/UITaskFlow/1/start/1/blob")
        gone = server.get("/raw/UITaskFlow/1/start/1/blob")
        assert gone.status_code == 404 and "found corrupt and moved aside to s3://" in gone.text
        assert "the download of UITaskFlow/1/start/1/blob was cut off" in server.stderr()
