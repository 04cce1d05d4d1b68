"""The web UI as a person uses it: headless Chromium (Debian's, driven by Playwright) clicks through `artiflow ui`
over a store of real runs: runs list -> filters and search -> a run (DAG, timeline, tasks) -> a task (logs,
artifacts, metric charts, cards) -> an artifact (preview, download); a running run updates live; once more on
S3 + PostgreSQL. Every page is screenshotted ($ARTIFLOW_TEST_SCREENS, or pytest's temporary folder) and fails the
test on any JS console error (CSP violations included), page error, dialog or request leaving this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import ui_browser
import ui_server
from conftest import FLOWS, REPO, ok, run_flow
from ui_browser import echarts_points, watched

browser, screens = ui_browser.fixtures()

FLOW = "ui_flow.py"
SCRIPT = "<script>alert('xss')</script>"          # what the flow puts in an artifact and a log line
EVIL_TAG = "<script>alert(1)</script>"
ALPHA = 0.4
STEPS = {"start", "train", "join", "end"}


@dataclass
class Store:
    """A store filled by real runs, and the environment that reads it."""

    env: dict[str, str]
    folder: Path
    good: str = ""        # UIFlow/N: succeeded, tagged EVIL_TAG and "nightly"
    failed: str = ""      # UIFlow/N: its "b" training task failed
    hello: str = ""       # HelloFlow/N

    def run(self, *args: str, env: dict | None = None, name: str = "run", fails: bool = False) -> str:
        """Run UIFlow with `args` (expected to succeed, or to fail with `fails`); its run's pathspec."""
        id_file = self.folder / f"{name}.id"
        done = run_flow(FLOW, "--quiet", "run", "--run-id-file", str(id_file), *args, env={**self.env, **(env or {})})
        assert (done.returncode != 0) == fails, f"exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return f"UIFlow/{id_file.read_text().strip()}"


def local_env(folder: Path) -> dict[str, str]:
    """The environment of a local store in `folder` (its own root, metadata file and datastore)."""
    root = folder / ".artiflow"
    return {"ARTIFLOW_ROOT": str(root), "ARTIFLOW_USER": "tester",
            "ARTIFLOW_METADATA_URL": f"sqlite:///{root}/metadata.db", "ARTIFLOW_DATASTORE_ROOT": str(root / "data")}


def fill(store: Store) -> Store:
    """The runs every test looks at: a good run, a failed one, and another flow's run."""
    store.good = store.run("--alpha", str(ALPHA), "--tag", EVIL_TAG, "--tag", "nightly", name="good")
    store.failed = store.run(env={"UI_FAIL": "1"}, name="failed", fails=True)
    ok(run_flow("hello_flow.py", "run", env=store.env))
    store.hello = "HelloFlow/1"
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    folder = tmp_path_factory.mktemp("ui-store")
    return fill(Store(local_env(folder), folder))


@pytest.fixture(scope="module")
def ui(store):
    with ui_server.running(env=store.env) as server:
        yield server


def task_ids(page, step: str) -> list[str]:
    """The task ids in the run page's table of `step`."""
    return page.locator(f"#tasks-{step} tr.task-row").evaluate_all("rows => rows.map(r => r.dataset.taskId)")


def dag_states(page) -> dict[str, str]:
    """{step: state} of the run page's DAG nodes."""
    return page.locator("g.dag-node").evaluate_all(
        "nodes => Object.fromEntries(nodes.map(n => [n.dataset.step, n.dataset.state]))")


def open_run(view, store_run: str):
    """From the runs list, click the run's link (as a person would) and wait for its page."""
    view.goto("/")
    view.page.locator("#runs a", has_text=re.compile(f"^{store_run}$")).click()
    view.page.wait_for_url(f"**/run/{store_run}")
    assert view.page.locator("h1").inner_text().startswith(f"Run {store_run}")


# -- runs list ------------------------------------------------------------------------------------
def test_the_runs_list_filters_and_searches(browser, screens, ui, store):
    with watched(browser, ui.url) as view:
        page = view.page
        view.goto("/")
        assert page.locator("h1").inner_text() == "Runs"
        rows = page.locator("#runs tr.run-row")
        assert rows.count() == 3
        assert page.locator("#runs .tag", has_text="nightly").count() == 1
        assert page.locator("#runs .tag").filter(has_text=EVIL_TAG).inner_text() == EVIL_TAG   # shown as text
        screens.shot(page, "runs-list")

        page.select_option("#run-filters select[name=flow]", "UIFlow")
        page.click("#run-filters button[type=submit]")
        page.wait_for_url("**/?*flow=UIFlow*")
        assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.flow)")) == ["UIFlow", "UIFlow"]

        page.select_option("#run-filters select[name=status]", "failed")
        page.click("#run-filters button[type=submit]")
        page.wait_for_url("**status=failed*")
        assert rows.count() == 1 and rows.first.get_attribute("data-run-id") == store.failed.split("/")[1]
        screens.shot(page, "runs-list-failed")

        page.locator("#run-filters a", has_text="clear").click()
        page.wait_for_url(f"{ui.url}/")
        page.fill("#run-filters input[name=q]", "HelloFlow")
        page.press("#run-filters input[name=q]", "Enter")
        page.wait_for_url("**q=HelloFlow*")
        assert rows.evaluate_all("rs => rs.map(r => r.dataset.flow)") == ["HelloFlow"]

        view.goto("/")
        tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
        page.fill("#run-filters input[name=since]", tomorrow)
        page.click("#run-filters button[type=submit]")
        page.wait_for_url(f"**since={tomorrow}*")
        assert rows.count() == 0 and page.locator("#runs-count").inner_text().startswith("No runs match")

        view.goto("/")
        page.locator("#runs a.tag", has_text="nightly").click()
        page.wait_for_url("**tag=nightly*")
        assert rows.count() == 1 and page.locator("#runs .run-id").inner_text() == store.good


# -- a run ----------------------------------------------------------------------------------------
def test_a_run_shows_its_graph_timeline_and_tasks(browser, screens, ui, store):
    with watched(browser, ui.url) as view:
        page = view.page
        open_run(view, store.good)
        assert dag_states(page) == {step: "done" for step in STEPS}
        assert set(page.locator("g.dag-node .dag-name").all_text_contents()) == STEPS
        assert page.locator("#params tr[data-name=alpha] td").nth(1).inner_text() == str(ALPHA)
        assert page.locator("#run-tags .tag", has_text=EVIL_TAG).inner_text() == EVIL_TAG
        height = page.eval_on_selector("#timeline", "div => div.offsetHeight")
        bars = echarts_points(page, "#timeline")   # one bar per attempt: start, 3 x train, join, end
        # the timeline had its height before it was drawn: drawing it moved nothing below it
        assert page.eval_on_selector("#timeline", "div => div.offsetHeight") == height == 6 * 18 + 110
        assert [bar[4] for bar in bars] == ["succeeded"] * 6, bars     # [row, start, end, attempt, status]
        assert all(bar[1] <= bar[2] for bar in bars), bars     # each starts before it ends
        assert len(task_ids(page, "train")) == 3
        screens.shot(page, "run")

        page.select_option("#compare-picker select[name=other]", store.failed.split("/")[1])
        page.click("#compare-picker button[type=submit]")
        page.wait_for_url(f"**/compare/{store.good}/{store.failed.split('/')[1]}")
        alpha = page.locator("#params tr[data-name=alpha]")
        assert alpha.get_attribute("class") == "differ"
        assert alpha.locator("td").all_inner_texts() == ["alpha", str(ALPHA), "0.5"]
        assert page.locator("#params tr[data-name=label]").get_attribute("class") == "same"
        screens.shot(page, "compare")
        page.go_back()

        page.click("g.dag-node[data-step=train] a")
        page.wait_for_url("**#step-train")
        train = task_ids(page, "train")
        page.locator(f"#tasks-train tr[data-task-id='{train[1]}'] a").first.click()
        page.wait_for_url(f"**/task/{store.good}/train/{train[1]}")
        assert page.locator("h1").inner_text() == f"Task {store.good}/train/{train[1]}"


def test_a_failed_run_shows_where_it_failed(browser, screens, ui, store):
    with watched(browser, ui.url) as view:
        page = view.page
        open_run(view, store.failed)
        states = dag_states(page)
        assert states["start"] == "done" and states["train"] == "failed", states
        assert states["end"] in ("pending", "failed"), states
        assert sorted(bar[4] for bar in echarts_points(page, "#timeline")) == ["failed"] + ["succeeded"] * 3
        failed = page.locator("#tasks-train tr.task-row[data-status=failed] a").first
        failed.click()
        page.wait_for_url(f"**/task/{store.failed}/train/*")
        assert page.locator("#task-status").inner_text() == "failed"
        assert "train b fails on purpose" in page.locator("#attempts .exc-message").inner_text()
        screens.shot(page, "task-failed")


def distinct_colours(png: Path) -> int:
    """How many colours a screenshot has (a blank one: 1 or 2)."""
    from PIL import Image

    return len(Image.open(png).convert("RGB").getcolors(maxcolors=1 << 20) or ())


# -- a task and its artifacts ----------------------------------------------------------------------
def see_start_task(view, run: str) -> None:
    """From the run page, open its start task: the log line and artifacts shown as text, the card sandboxed."""
    page = view.page
    page.locator("#tasks-start tr.task-row a").first.click()
    page.wait_for_url(f"**/task/{run}/start/*")
    assert f"log line {SCRIPT}" in page.locator("#log-stdout").inner_text()
    names = page.locator("#artifacts tr[data-artifact]").evaluate_all("rs => rs.map(r => r.dataset.artifact)")
    assert {"note", "table", "items"} <= set(names), names
    assert SCRIPT in page.locator("#artifacts tr[data-artifact=note] .preview").inner_text()
    frame = page.locator("#cards iframe.card")
    assert frame.count() == 1
    sandbox = frame.get_attribute("sandbox")
    assert sandbox is not None and "allow-same-origin" not in sandbox, sandbox   # the card cannot reach the UI
    card = page.frame_locator("#cards iframe.card")
    card.locator("text=The UI card").wait_for()
    assert f"alpha is {ALPHA}" in card.locator("body").inner_text()


def see_loss_chart(view, run: str) -> None:
    """From the run page, open the first training task: its loss chart holds the points the flow logged."""
    page = view.page
    first = task_ids(page, "train")[0]
    page.locator(f"#tasks-train tr[data-task-id='{first}'] a").first.click()
    page.wait_for_url(f"**/task/{run}/train/{first}")
    page.locator(".chart[data-metric=loss]").wait_for()
    points = echarts_points(page, ".chart[data-metric=loss]")
    shown = [(float(x), float(y)) for x, y in (p if isinstance(p, list) else p["value"] for p in points)]
    assert shown == [(float(epoch), round(ALPHA / (epoch + 1), 4)) for epoch in range(5)]


def see_note_artifact(view) -> None:
    """From the start task's page, open the `note` artifact: its text preview, and a download of its stored bytes."""
    from artiflow.datastore.keys import key_matches
    from artiflow.datastore.serializers import serializer_named

    page = view.page
    page.locator("#artifacts tr[data-artifact=note] td a").first.click()
    page.wait_for_url("**/note")
    assert page.locator("h1").inner_text() == "Artifact note"
    assert page.locator("#preview pre.value").inner_text() == f"artifact {SCRIPT}"
    with page.expect_download() as download:
        page.click("#raw-download")
    got = Path(download.value.path()).read_bytes()
    key = page.locator("#artifact-facts dt:text-is('Content key') + dd code").inner_text()
    serializer = page.locator("#blob-format code").inner_text()
    assert key_matches(got, key), f"the download is not the stored blob {key}"
    assert serializer_named(serializer).loads(got) == f"artifact {SCRIPT}"   # our own test value, read back


def see_frame_artifact(view) -> None:
    """From the start task's page, open the DataFrame `table`: a table of its columns and first rows."""
    page = view.page
    page.locator("#artifacts tr[data-artifact=table] td a").first.click()
    page.wait_for_url("**/table")
    frame = page.locator("#frame")
    assert frame.locator("thead tr").first.locator("th").all_inner_texts()[1:] == ["city", "people"]
    assert frame.locator("tbody tr").first.locator("td").all_inner_texts() == ["Oslo", "709000"]
    assert frame.locator("tbody tr").count() == 3


def test_a_task_shows_logs_artifacts_and_its_card(browser, screens, ui, store):
    with watched(browser, ui.url) as view:
        open_run(view, store.good)
        see_start_task(view, store.good)
        screens.shot(view.page, "task-start")
        card = screens.shot(view.page, "task-card", element="#cards iframe.card")
        assert distinct_colours(card) > 20, "the card's frame is blank on screen"


def test_a_task_charts_the_metrics_it_logged(browser, screens, ui, store):
    with watched(browser, ui.url) as view:
        view.goto(f"/run/{store.good}")
        see_loss_chart(view, store.good)
        screens.shot(view.page, "task-metrics")
        view.page.locator("#summary a", has_text="lineage page").click()
        view.page.wait_for_url("**/lineage/**")
        reads = view.page.locator("#reads tbody tr").evaluate_all(
            "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])")
        assert sorted(reads) == [["alpha", "parameter"], ["items", "foreach"]], reads
        assert echarts_points(view.page, "#lineage-graph") is not None   # the graph is drawn
        screens.shot(view.page, "lineage")


def test_an_artifact_page_previews_and_downloads(browser, screens, ui, store):
    with watched(browser, ui.url) as view:
        view.goto(f"/run/{store.good}")
        view.page.locator("#tasks-start tr.task-row a").first.click()
        task_url = view.page.url
        see_note_artifact(view)
        screens.shot(view.page, "artifact-text")
        view.goto(task_url)
        see_frame_artifact(view)
        screens.shot(view.page, "artifact-frame")


# -- a run that is going on ------------------------------------------------------------------------
def start_gated_run(store: Store, gate: Path) -> tuple[subprocess.Popen, str]:
    """UIFlow started in the background, its foreach tasks held until `gate` exists; (process, pathspec)."""
    id_file = store.folder / "gated.id"
    env = {**os.environ, **store.env, "UI_GATE": str(gate),
           "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(FLOWS / FLOW), "--quiet", "run", "--run-id-file", str(id_file)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (id_file.exists() and id_file.read_text().strip()):
        assert proc.poll() is None and time.monotonic() < deadline, f"the gated run did not start: {proc.stderr.read()}"
        time.sleep(0.05)
    return proc, f"UIFlow/{id_file.read_text().strip()}"


def test_a_running_run_updates_live_without_a_reload(browser, screens, ui, store):
    gate = store.folder / "gate"
    proc, run = start_gated_run(store, gate)
    try:
        with watched(browser, ui.url) as listing, watched(browser, ui.url) as view, \
                watched(browser, ui.url) as task:
            listing.goto("/")
            row = listing.page.locator(f"#runs tr.run-row[data-run-id='{run.split('/')[1]}'][data-flow=UIFlow]")
            assert row.get_attribute("data-status") == "running"
            view.goto(f"/run/{run}")
            view.page.wait_for_function("() => document.querySelector('g.dag-node[data-step=train]')"
                                        ".dataset.state === 'running'", timeout=30_000)
            assert dag_states(view.page)["end"] == "pending"
            assert "running" in {bar[4] for bar in echarts_points(view.page, "#timeline")}   # drawn once scrolled to
            screens.shot(view.page, "run-running")
            view.page.wait_for_function("() => document.querySelectorAll('#tasks-train tr.task-row').length > 0")
            task.goto(view.page.locator("#tasks-train tr.task-row a").first.get_attribute("href"))
            assert task.page.locator("#task-status").inner_text() == "running"
            task.page.wait_for_function("() => document.getElementById('log-stdout').textContent"
                                        ".includes('waiting for the gate')", timeout=30_000)   # the log tails live
            screens.shot(task.page, "task-running")
            pages = (listing.page, view.page, task.page)
            for page in pages:
                page.evaluate("() => { window.notReloaded = true; }")
            gate.touch()
            assert proc.wait(timeout=60) == 0, proc.stderr.read()
            view.page.wait_for_function("() => [...document.querySelectorAll('g.dag-node')]"
                                        ".every(n => n.dataset.state === 'done')", timeout=15_000)
            assert view.page.locator("#run-status").inner_text() == "succeeded"
            view.page.wait_for_function(   # the task tables were rebuilt: every train task succeeded, end has run
                "() => [...document.querySelectorAll('#tasks-train tr.task-row')].every(r => r.dataset.status === "
                "'succeeded') && document.querySelectorAll('#tasks-end tr.task-row').length === 1", timeout=15_000)
            end = view.page.locator("#tasks-end tr.task-row a").first
            assert end.get_attribute("href").startswith(f"/task/{run}/end/")
            view.page.wait_for_function(   # the timeline on screen is drawn again once the run has ended
                "() => echarts.getInstanceByDom(document.getElementById('timeline')).getOption().series[0].data"
                ".every(bar => bar[4] === 'succeeded')", timeout=15_000)
            listing.page.wait_for_function(f"() => document.querySelector(\"#runs tr.run-row[data-run-id='"
                                           f"{run.split('/')[1]}'][data-flow=UIFlow]\").dataset.status === 'succeeded'",
                                           timeout=15_000)
            assert row.locator(".run-status").inner_text() == "succeeded"
            task.page.wait_for_function("() => document.getElementById('log-stdout').textContent"
                                        ".includes('training ')", timeout=15_000)
            for page in pages:
                assert page.evaluate("() => window.notReloaded") is True, f"{page.url} was reloaded"
            screens.shot(view.page, "run-finished-live")
    finally:
        gate.touch()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# -- S3 + PostgreSQL -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def remote_store(tmp_path_factory, pg_server):
    """A store on S3 (a moto_server) and PostgreSQL, with one good run of UIFlow."""
    from s3_server import moto_server, s3_client, s3_env

    folder = tmp_path_factory.mktemp("ui-remote")
    with moto_server() as endpoint:
        s3_client(endpoint).create_bucket(Bucket="ui-browser")
        env = {**s3_env(endpoint, "s3://ui-browser/store"), "ARTIFLOW_ROOT": str(folder / ".artiflow"),
               "ARTIFLOW_USER": "tester", "ARTIFLOW_METADATA_URL": pg_server.new_schema()}
        store = Store(env, folder)
        store.good = store.run("--alpha", str(ALPHA), "--tag", EVIL_TAG, name="good")
        yield store


def test_the_same_pages_on_s3_and_postgresql(browser, screens, remote_store):
    run = remote_store.good
    with ui_server.running(env=remote_store.env) as server, watched(browser, server.url) as view:
        health = server.json("/api/health")
        assert health["metadata"].startswith("postgresql://") and health["datastore"] == "s3://ui-browser/store"
        open_run(view, run)
        assert dag_states(view.page) == {step: "done" for step in STEPS}
        assert view.page.locator("#run-tags .tag", has_text=EVIL_TAG).inner_text() == EVIL_TAG
        screens.shot(view.page, "remote-run")
        see_start_task(view, run)
        task_url = view.page.url
        see_note_artifact(view)
        view.goto(task_url)
        see_frame_artifact(view)
        screens.shot(view.page, "remote-artifact-frame")
        view.goto(f"/run/{run}")
        see_loss_chart(view, run)
        screens.shot(view.page, "remote-task")


CHART_WIDTH = "(sel) => [echarts.getInstanceByDom(document.querySelector(sel)).getWidth(), " \
              "document.querySelector(sel).clientWidth]"


def test_charts_follow_the_window_even_through_a_size_of_nothing(browser, ui, store):
    # a whole-page screenshot can resize the window to nothing for a moment: an ECharts graph then threw in the page
    def follows(page, chart: str) -> None:
        page.wait_for_function(f"() => {{ const [drawn, has] = ({CHART_WIDTH})({chart!r}); return drawn === has; }}")

    with watched(browser, ui.url) as view:
        page = view.page
        open_run(view, store.good)
        echarts_points(page, "#timeline")
        page.set_viewport_size({"width": 1000, "height": 800})
        follows(page, "#timeline")
        see_loss_chart(view, store.good)
        page.wait_for_function("() => echarts.getInstanceByDom(document.getElementById('lineage-graph'))")
        for width, height in [(0, 900), (1280, 0), (0, 0), (900, 700)]:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(150)
        for chart in ("#lineage-graph", ".chart[data-metric=loss]"):
            follows(page, chart)
        view.check()   # and no page error on the way


# -- the harness itself -----------------------------------------------------------------------------
def test_the_watcher_fails_on_dialogs_script_errors_and_csp_violations(browser, ui):
    view = ui_browser.Watched(browser, ui.url)
    try:
        view.goto("/")
        view.check()
        view.page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
                           " document.body.append(s); }")                    # an inline script: CSP refuses it
        view.page.evaluate("() => alert('hello')")
        view.page.evaluate("() => { setTimeout(() => { throw new Error('boom'); }, 0); }")
        view.page.wait_for_timeout(200)
        assert view.page.evaluate("() => window.ran") is None
        with pytest.raises(AssertionError) as failure:
            view.check()
        said = str(failure.value)
        assert "Content Security Policy" in said and "a dialog (alert) opened saying 'hello'" in said, said
        assert "page error: boom" in said, said
    finally:
        view.close()
