"""Web UI benchmark: how fast `artiflow ui` serves a big store, and whether it slows runs that are going on.

    python benchmarks/ui.py                          # 10,000 runs, a 10,000-task run, 7 requests a page: 5-10 min
    python benchmarks/ui.py --runs 1000 --tasks 1000 --repeat 3 --live-repeat 1     # a quick look
    python benchmarks/ui.py --live-only --live-repeat 5      # only "does the UI slow runs that are going on"
    python benchmarks/ui.py --postgres       # the same with the metadata in PostgreSQL (Debian's server, loopback)
    python benchmarks/ui.py --screenshots docs/images    # only the screenshots of docs/ui.md, over examples/

It fills a fresh root with `--runs` runs over `--flows` flows through the MetadataStore API (the calls the
runtime makes: new_run, start_task, finish_task, finish_run; real runs of 10,000 would take an hour), plus one
real run of a `--tasks`-task foreach through the CLI, starts `artiflow ui` on it and measures, for the first page
of `/`, a filtered `/`, the big run's page and its foreach step's page: the server's time (an HTTP GET until the
whole body is in, over loopback) and the browser's (headless Chromium through Playwright: navigation start to
the load event, each page left to settle before the next navigation; and again reloaded back to back), medians
of `--repeat` after one warm-up, against the 200 ms target.

Then "the UI does not slow runs that are going on": a `--live-tasks`-task foreach run, alternately alone and with
a browser showing its run page live (polling), `--live-repeat` times each; the medians, their ratio, and the CPU
time the UI server used meanwhile (what watching costs, whatever else the machine is doing).
Not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]   # artiflow, and the tests' UI server and browser helpers

import ui_browser  # noqa: E402  (tests/ui_browser.py: Debian's Chromium through Playwright)
import ui_server  # noqa: E402  (tests/ui_server.py: `artiflow ui` as a subprocess on a free port)

FOREACH = HERE / "flows" / "foreach.py"
EXAMPLES = REPO / "examples"
TARGET_MS = 200.0
STEPS = ("start", "work", "join", "end")


# -- the store ------------------------------------------------------------------------------------
METADATA_URL: dict[str, str] = {}  # with --postgres: {"ARTIFLOW_METADATA_URL": the benchmark's database}


def environment(root: Path) -> dict[str, str]:
    """The environment of runs and of the UI over `root` (a local store; no other artiflow settings but, with
    --postgres, the PostgreSQL metadata URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFLOW_", "METAFLOW_"))}
    env.update({"ARTIFLOW_ROOT": str(root / ".artiflow"), "ARTIFLOW_USER": "bench",
                "PYTHONPATH": str(REPO / "src"), **METADATA_URL})
    return env


def open_store(root: Path) -> Any:
    """The metadata store of `root`, as the runtime opens it."""
    from artiflow.config import load_config
    from artiflow.metadata import open_metadata

    os.environ["ARTIFLOW_ROOT"] = str(root / ".artiflow")
    os.environ.update(METADATA_URL)
    (root / ".artiflow").mkdir(parents=True, exist_ok=True)
    return open_metadata(load_config().metadata_url)


def record_run(meta: Any, flow: str, number: int) -> None:
    """One run of four steps (a 3-task foreach in the middle), recorded as the runtime records it."""
    status = "failed" if number % 23 == 0 else "completed"
    tags = [f"exp{number % 50}", "nightly" if number % 2 else "adhoc"]
    with meta.batch():
        run_id = meta.new_run(flow, f"user{number % 7}", tags, {"alpha": number % 10 / 10, "n": 3})
        task_id = 0
        for step, width in zip(STEPS, (1, 3, 1, 1)):
            for index in range(width):
                task_id += 1
                meta.start_task(flow, run_id, step, task_id, 0, [index] if width > 1 else [], [])
                failed = status == "failed" and step == "join"
                meta.finish_task(flow, run_id, step, task_id, 0, "failed" if failed else "completed", {}, None, None,
                                 {"type": "ValueError", "message": "bench", "traceback": ""} if failed else None)
        meta.finish_run(flow, run_id, status)


def fill_runs(root: Path, runs: int, flows: int) -> float:
    """Record `runs` runs spread over `flows` flows; the seconds it took."""
    meta = open_store(root)
    start = time.perf_counter()
    for first in range(0, runs, 100):   # a transaction per 100 runs (each run's own batch joins it)
        with meta.batch():
            for number in range(first, min(first + 100, runs)):
                record_run(meta, f"BenchFlow{number % flows:02d}", number)
    meta.close()
    return time.perf_counter() - start


def real_foreach(root: Path, tasks: int) -> tuple[str, float]:
    """Run the foreach flow of `tasks` tasks through the CLI; its run's pathspec and the run's seconds."""
    id_file = root / f"foreach-{tasks}.id"
    cmd = [sys.executable, "-m", "artiflow", str(FOREACH), "--quiet", "run", "--n", str(tasks),
           "--max-num-splits", str(tasks), "--run-id-file", str(id_file)]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=environment(root), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the foreach run of {tasks} tasks failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return f"ForeachFlow/{id_file.read_text().strip()}", seconds


# -- measuring ------------------------------------------------------------------------------------
def median_ms(measure: Callable[[], float], repeat: int) -> float:
    """The median of `repeat` measurements (ms), after one warm-up."""
    measure()
    return statistics.median(measure() for _ in range(repeat))


def server_ms(ui: Any, path: str) -> float:
    """One GET of `path` until its whole body is in (ms)."""
    start = time.perf_counter()
    response = ui.get(path)
    took = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {path}: HTTP {response.status_code}: {response.text[:1000]}")
    return took


SETTLED = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
LOAD_TIME = "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; }"


def browser_ms(page: Any, url: str, settle: bool = True) -> float:
    """One navigation to `url` in the browser until the load event (ms, as the browser's own timing says).

    With `settle`, the page is then left to settle (its charts fetched and drawn, the network quiet) before the
    next navigation, as a person reads a page before clicking on; without, the next navigation starts at once and
    competes with this page's drawing (reloads back to back: a worst case)."""
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        raise SystemExit(f"the browser got HTTP {response.status if response else '(none)'} for {url}")
    took = float(page.evaluate(LOAD_TIME))
    if settle:
        page.wait_for_load_state("networkidle")
        page.evaluate(SETTLED)
    return took


TIMELINE_DRAWN = ("() => { const div = document.getElementById('timeline'); const chart = window.echarts && "
                  "echarts.getInstanceByDom(div); return chart && chart.getOption().series[0].data.length > 0; }")


def timeline_ms(page: Any, url: str) -> float:
    """One navigation to a run page, until its timeline is drawn (ms from the navigation's start): the page loads,
    ECharts and the attempts are fetched (a moment after the load, the timeline being in reach), then drawn."""
    page.goto(url, wait_until="load")
    page.wait_for_function(TIMELINE_DRAWN, timeout=60_000, polling=10)
    took = float(page.evaluate("() => performance.now()"))
    page.wait_for_load_state("networkidle")
    return took


def pages(big_run: str, flow: str = "BenchFlow07") -> list[tuple[str, str]]:
    """(what, path) of the pages measured: the filter keeps 1 in 20 flows' runs, then 1 in 50 experiments'."""
    return [("runs list, first page", "/"),
            (f"runs list, flow={flow}&tag=exp7", f"/?flow={flow}&tag=exp7"),
            (f"run page, {big_run}", f"/run/{big_run}"),
            (f"step page, {big_run} step work", f"/run/{big_run}/step/work")]


def measure_pages(ui: Any, browser: Any, big_run: str, repeat: int) -> list[tuple[str, float, float, float]]:
    """(page, server ms, browser ms, browser ms reloaded back to back) for every measured page."""
    view = ui_browser.Watched(browser, ui.url, route=False)
    rows = []
    try:
        for what, path in pages(big_run):
            server = median_ms(lambda: server_ms(ui, path), repeat)
            shown = median_ms(lambda: browser_ms(view.page, path), repeat)
            rushed = median_ms(lambda: browser_ms(view.page, path, settle=False), repeat)
            view.page.wait_for_load_state("networkidle")
            rows.append((what, server, shown, rushed))
            print(f"  {what}: server {server:.0f} ms, browser {shown:.0f} ms ({rushed:.0f} ms back to back)",
                  flush=True)
            if path.startswith("/run/") and "/step/" not in path:
                drawn = median_ms(lambda: timeline_ms(view.page, path), repeat)
                print(f"  {what}: its timeline drawn {drawn:.0f} ms after the navigation began (median of {repeat}; "
                      f"the {view.page.viewport_size['height']} px window reaches it)", flush=True)
        view.check()
    finally:
        view.close()
    return rows


def verdict(ms: float) -> str:
    return "met" if ms <= TARGET_MS else "**not met**"


def print_pages(rows: list[tuple[str, float, float, float]], repeat: int) -> None:
    """The pages' table, in Markdown (docs/benchmarks.md takes it as it is)."""
    print(f"\n| page | server (median of {repeat}) | browser, to load (median of {repeat}) "
          f"| ≤ {TARGET_MS:.0f} ms: server / browser | browser, reloaded back to back |")
    print("| --- | --- | --- | --- | --- |")
    for what, server, shown, rushed in rows:
        print(f"| {what} | {server:.0f} ms | {shown:.0f} ms | {verdict(server)} / {verdict(shown)} | {rushed:.0f} ms |")


# -- the UI and runs that are going on --------------------------------------------------------------
def processes() -> dict[int, tuple[int, str, float]]:
    """{pid: (parent pid, name, CPU seconds used so far)} of every process, from /proc (Linux)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:   # it ended meanwhile
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 1:].split()
        found[int(stat.parent.name)] = (int(rest[1]), name, (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK"))
    return found


def cpu_seconds(server_pid: int) -> tuple[float, dict[int, float]]:
    """CPU seconds used so far by the UI server, and by each Chromium process this benchmark started."""
    table = processes()
    browser, todo = {}, [os.getpid()]
    while todo:
        parent = todo.pop()
        for pid, (ppid, name, cpu) in table.items():
            if ppid == parent:
                todo.append(pid)
                if "chrom" in name:
                    browser[pid] = cpu
    return table[server_pid][2], browser


def cpu_used(before: tuple[float, dict[int, float]], after: tuple[float, dict[int, float]]) -> tuple[float, float]:
    """(UI server, browser) CPU seconds between two `cpu_seconds`; a browser process that ended meanwhile is not
    counted (the watching page's own renderer lives until the run is over)."""
    browser = sum(cpu - before[1].get(pid, 0.0) for pid, cpu in after[1].items())
    return after[0] - before[0], browser


def timed_live_run(root: Path, tasks: int, browser: Any | None, ui: Any) -> tuple[float, float, float]:
    """(seconds, the UI server's and the browser's CPU seconds meanwhile) of one foreach run of `tasks` tasks,
    with a browser showing it live when `browser` is given."""
    id_file = root / f"live-{time.monotonic_ns()}.id"
    cmd = [sys.executable, "-m", "artiflow", str(FOREACH), "--quiet", "run", "--n", str(tasks),
           "--max-num-splits", str(tasks), "--run-id-file", str(id_file)]
    view = ui_browser.Watched(browser, ui.url, route=False) if browser is not None else None
    try:
        if view is not None:
            view.goto("/")
        start, before = time.perf_counter(), cpu_seconds(ui.proc.pid)
        proc = subprocess.Popen(cmd, cwd=root, env=environment(root), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        if view is not None:
            while not id_file.exists() and proc.poll() is None:
                view.page.wait_for_timeout(20)
            if id_file.exists():   # the timeline scrolled to: it is redrawn live only while on screen
                view.goto(f"/run/ForeachFlow/{id_file.read_text().strip()}")
                view.page.locator("#timeline").scroll_into_view_if_needed()
        _, err = proc.communicate()
        seconds, after = time.perf_counter() - start, cpu_seconds(ui.proc.pid)
        if proc.returncode != 0:
            raise SystemExit(f"the live foreach run failed:\n{err[-3000:]}")
        if view is not None:
            view.check()
        return (seconds, *cpu_used(before, after))
    finally:
        if view is not None:
            view.close()


def measure_live(root: Path, ui: Any, browser: Any, tasks: int, repeat: int) -> dict[str, tuple[float, ...]]:
    """{"alone"|"watched": medians of (seconds, UI server CPU s, browser CPU s)}, alternating which goes first."""
    times: dict[str, list[tuple[float, float, float]]] = {"alone": [], "watched": []}
    for turn in range(repeat):
        for who in ((None, browser) if turn % 2 == 0 else (browser, None)):
            got = timed_live_run(root, tasks, who, ui)
            times["alone" if who is None else "watched"].append(got)
            print(f"  {tasks}-task run {'alone' if who is None else 'watched live'}: {got[0]:.2f} s "
                  f"(CPU: UI server {got[1]:.2f} s, browser {got[2]:.2f} s)", flush=True)
    return {name: tuple(statistics.median(column) for column in zip(*got)) for name, got in times.items()}


def print_live(live: dict[str, tuple[float, ...]], tasks: int, repeat: int) -> None:
    """The live table, in Markdown."""
    (alone, *idle), (watched, *busy) = live["alone"], live["watched"]
    print(f"\n| {tasks:,}-task foreach run (median of {repeat}) | time | CPU meanwhile: UI server, browser |")
    print("| --- | --- | --- |")
    print(f"| alone | {alone:.2f} s | {idle[0]:.2f} s, {idle[1]:.2f} s |")
    print(f"| with a browser on its run page, live | {watched:.2f} s ({(watched / alone - 1) * 100:+.0f} %) "
          f"| {busy[0]:.2f} s, {busy[1]:.2f} s |")


# -- screenshots for docs/ui.md ---------------------------------------------------------------------
def example_runs(root: Path) -> None:
    """Five runs of four example flows: two of the metrics example (one tagged), a tagged grid, hello, branches."""
    env = environment(root)
    for script, args, extra in (("hello.py", [], {}), ("train_grid.py", ["--tag", "grid"], {}),
                                ("metrics.py", ["--epochs", "12"], {}), ("metrics.py", ["--tag", "baseline"], {}),
                                ("branches.py", [], {})):
        done = subprocess.run([sys.executable, str(EXAMPLES / script), "--quiet", "run", *args], cwd=root,
                              env={**env, **extra}, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"examples/{script} failed:\n{done.stderr[-3000:]}")


def first_task(root: Path, flow: str, run_id: int, step: str) -> int:
    meta = open_store(root)
    try:
        return min(task.task_id for task in meta.tasks(flow, run_id, step))
    finally:
        meta.close()


def screenshots(folder: Path) -> None:
    """docs/images/ui-runs.png, ui-run.png, ui-task.png, ui-artifact.png over the examples' runs."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="artiflow-ui-shots-") as tmp:
        root = Path(tmp)
        example_runs(root)
        train = first_task(root, "MetricsExampleFlow", 2, "train")
        join = first_task(root, "TrainFlow", 1, "join")
        shots = {"ui-runs": ("/", None, 600), "ui-run": ("/run/MetricsExampleFlow/2", None, 1450),
                 "ui-task": (f"/task/MetricsExampleFlow/2/train/{train}", "#artifacts", 1000),  # artifacts, charts
                 "ui-artifact": (f"/artifact/TrainFlow/1/join/{join}/scores", None, 700)}
        with ui_server.running(env=environment(root)) as ui, ui_browser.launch_browser() as browser:
            for name, (path, top, height) in shots.items():
                view = ui_browser.Watched(browser, ui.url)
                try:
                    view.page.set_viewport_size({"width": 1280, "height": height})
                    view.goto(path)
                    if top:
                        view.page.locator(top).evaluate("node => node.scrollIntoView()")
                    view.page.wait_for_timeout(800)   # charts finish their entry animation, frames load
                    view.page.screenshot(path=str(folder / f"{name}.png"))   # the viewport: frames show in it
                    view.check()
                finally:
                    view.close()
                print(f"wrote {folder / name}.png ({path})")


# -- main ------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs recorded through the MetadataStore API")
    parser.add_argument("--flows", type=int, default=20, help="flows those runs are spread over")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks of the real foreach run")
    parser.add_argument("--repeat", type=int, default=7, help="requests per page (after a warm-up)")
    parser.add_argument("--live-tasks", type=int, default=1_000, help="tasks of the run watched live")
    parser.add_argument("--live-repeat", type=int, default=3, help="runs alone and watched, each")
    parser.add_argument("--live-only", action="store_true", help="only the runs going on (no big store, no pages)")
    parser.add_argument("--root", type=Path, help="work here (kept) instead of a temporary folder")
    parser.add_argument("--postgres", action="store_true",
                        help="metadata in PostgreSQL (a server of Debian's binaries on 127.0.0.1, as the tests start)")
    parser.add_argument("--screenshots", type=Path, metavar="DIR", help="only write docs/ui.md's screenshots to DIR")
    args = parser.parse_args()
    if args.screenshots:
        screenshots(args.screenshots.resolve())
        return
    with contextlib.ExitStack() as stack:
        if args.postgres:
            import pg_server  # noqa: PLC0415  (tests/pg_server.py)

            server = stack.enter_context(pg_server.postgres_server())
            METADATA_URL["ARTIFLOW_METADATA_URL"] = server.new_database("uibench")
            print(f"metadata: PostgreSQL {server.port} on 127.0.0.1", flush=True)
        root = args.root or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="artiflow-ui-bench-")))
        root.mkdir(parents=True, exist_ok=True)
        rows = []
        if not args.live_only:
            print(f"recording {args.runs:,} runs over {args.flows} flows ...", flush=True)
            print(f"  {fill_runs(root, args.runs, args.flows):.1f} s")
            print(f"running a foreach of {args.tasks:,} tasks ...", flush=True)
            big_run, seconds = real_foreach(root, args.tasks)
            print(f"  {big_run}: {seconds:.1f} s")
        ui = stack.enter_context(ui_server.running(env=environment(root)))
        browser = stack.enter_context(ui_browser.launch_browser())
        if not args.live_only:
            print("pages:", flush=True)
            rows = measure_pages(ui, browser, big_run, args.repeat)
        print("runs going on:", flush=True)
        live = measure_live(root, ui, browser, args.live_tasks, args.live_repeat)
        if rows:
            print_pages(rows, args.repeat)
        print_live(live, args.live_tasks, args.live_repeat)


if __name__ == "__main__":
    main()
