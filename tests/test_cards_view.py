"""`card view`: the newest card of a run or a step, written to a file and opened in the browser."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, ok, run_flow


@pytest.fixture
def view_runs(af_home):
    """Two runs of card_view_flow.py (cards on start and on the three foreach tasks of work)."""
    ok(run_flow("card_view_flow.py", "run"))
    ok(run_flow("card_view_flow.py", "run"))
    return af_home


def browser_env(home: Path) -> dict:
    """A BROWSER that records the URL it is asked to open (webbrowser honours $BROWSER), and no display."""
    recorder = home / "browser.sh"
    recorder.write_text('#!/bin/sh\necho "$1" >> "$(dirname "$0")/opened.txt"\n')
    recorder.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["BROWSER"] = f"{recorder} %s"
    env["TMPDIR"] = str(home / "tmp")          # where `card view` writes by default: inside the test's folder
    (home / "tmp").mkdir(exist_ok=True)
    return env


def view(home: Path, *args: str, env: dict | None = None):
    return run_flow("card_view_flow.py", "card", "view", *args, env=env or browser_env(home))


def artiflow(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The `artiflow` command itself (pathspecs start with the flow name there)."""
    full = env or browser_env(home)
    full["PYTHONPATH"] = str(REPO / "src") + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=full,
                          timeout=120)


def newest_work_task(run_id: int):
    from artiflow import Flow

    tasks = list(Flow("CardViewFlow")[run_id]["work"])
    assert len({t.finished_at for t in tasks}) == 3
    return max(tasks, key=lambda t: t.finished_at)


def test_view_a_step_opens_the_card_of_its_newest_task(view_runs):
    home = view_runs
    newest = newest_work_task(2)
    for spec in ("2/work", "CardViewFlow/2/work", "work"):          # `work`: the newest run that has the step
        result = ok(view(home, spec))
        path = Path(result.stdout.strip())
        assert path.is_file() and path.name.startswith(f"CardViewFlow-2-work-{newest.id}-default-")
        assert path.parent == home / "tmp" / "artiflow-cards"
        assert f"work card for item {newest.index}" in path.read_text()
        assert (home / "opened.txt").read_text().splitlines()[-1] == path.as_uri()
    # a run, or nothing (the latest run): the newest card in it
    newest = newest_work_task(1)
    ok(view(home, "1", "--file", "run1.html"))
    assert f"work card for item {newest.index}" in (home / "run1.html").read_text()
    latest = ok(view(home, "--no-open", "--file", "latest.html"))
    assert latest.stdout.strip() == str(home / "latest.html")
    assert f"CardViewFlow/2/work/{newest_work_task(2).id}" in (home / "latest.html").read_text()
    assert len((home / "opened.txt").read_text().splitlines()) == 4     # three step views, one run view
    start = ok(view(home, "1/start", "--no-open", "--type", "default", "--file", "s.html"))
    assert "start card" in Path(start.stdout.strip()).read_text()
    # the same from `artiflow card`, without the flow file
    top = ok(artiflow(home, "card", "view", "CardViewFlow/work", "--file", "top.html"))
    assert Path(top.stdout.strip()).read_text() == (home / "latest.html").read_text()
    assert (home / "opened.txt").read_text().splitlines()[-1] == (home / "top.html").as_uri()
    listed = ok(artiflow(home, "card", "list", "CardViewFlow/1/work")).stdout.splitlines()
    assert [line.split()[:2] for line in listed[1:]] == [[f"CardViewFlow/1/work/{i}", "default"] for i in (2, 3, 4)]
    got = ok(artiflow(home, "card", "get", "CardViewFlow/1/start/1"))
    assert "start card" in got.stdout


def test_view_without_a_browser_and_mistakes(view_runs):
    env = browser_env(view_runs)
    env["BROWSER"] = "false"                       # a browser command that fails: none could be started
    result = ok(view(view_runs, "2/start", env=env))
    assert Path(result.stdout.strip()).is_file()
    assert "No web browser could be started here; open the file above yourself" in result.stderr
    # mistakes
    home = view_runs
    no_card = view(home, "2/join")
    assert no_card.returncode == 1
    assert "No card under CardViewFlow/2/join. Steps of CardViewFlow/2 with cards: start, work." in no_card.stderr
    wrong_type = view(home, "2/work", "--type", "blank")
    assert wrong_type.returncode == 1
    assert "No card with type 'blank' under CardViewFlow/2/work. Steps of CardViewFlow/2 with cards" in wrong_type.stderr
    no_step = view(home, "2/trian")
    assert no_step.returncode == 1 and "Step CardViewFlow/2/trian does not exist" in no_step.stderr
    assert "start, work, join, end" in no_step.stderr
    neither = view(home, "trian")
    assert neither.returncode == 1
    assert "'trian' is neither a run of CardViewFlow nor one of its steps (start, work, join, end)" in neither.stderr
    too_long = view(home, "2/work/3/cards/x")
    assert too_long.returncode == 1 and "give [STEP | RUN | RUN/STEP | RUN/STEP/TASK]" in too_long.stderr
    no_run = view(home, "9/work")
    assert no_run.returncode == 1 and "9" in no_run.stderr and "Traceback" not in no_run.stderr
    nameless = artiflow(home, "card", "view")
    assert nameless.returncode == 1 and "Name the flow: artiflow card list|get|view FLOW" in nameless.stderr
    flow_only = artiflow(home, "card", "get", "CardViewFlow")
    assert flow_only.returncode == 1 and "'CardViewFlow' names a flow; give RUN/STEP/TASK" in flow_only.stderr
    top_neither = artiflow(home, "card", "view", "CardViewFlow/trian")
    assert top_neither.returncode == 1
    assert "'trian' is neither a run of CardViewFlow nor one of its steps (start, work, join, end)" in top_neither.stderr
    assert not (home / "opened.txt").exists()


def test_view_before_any_run(af_home):
    result = view(af_home)
    assert result.returncode == 1 and "Flow CardViewFlow does not exist: no runs are recorded" in result.stderr
    step = view(af_home, "work")
    assert step.returncode == 1 and "Flow CardViewFlow does not exist: no runs are recorded" in step.stderr
