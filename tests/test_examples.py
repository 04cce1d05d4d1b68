"""The examples the README shows run end to end, and print what their docstrings promise."""

from __future__ import annotations

from conftest import REPO, ok, run_flow

EXAMPLES = REPO / "examples"


def test_hello(af_home):
    assert "Hello" in ok(run_flow(EXAMPLES / "hello.py", "run")).stdout


def test_branches_both_merges(af_home):
    out = ok(run_flow(EXAMPLES / "branches.py", "run")).stdout
    assert "['branch1', 'branch2']" in out and "[10, 20]" in out
    assert "dataset=iris best score=0.9" in out


def test_train_grid(af_home):
    out = ok(run_flow(EXAMPLES / "train_grid.py", "run", "--noise", "0")).stdout
    assert "best alpha 0.1 with score 1.0" in out
    from artiflow import Flow

    assert Flow("TrainFlow").latest_run["join"].task.data.scores == {0.01: 0.91, 0.1: 1.0, 1.0: 0.1}


def test_flaky_catch_then_resume(af_home):
    out = ok(run_flow(EXAMPLES / "flaky.py", "--quiet", "run", env={"CRASH": "2"})).stdout
    assert "failed {2: 'item 2 crashed" in out
    out = ok(run_flow(EXAMPLES / "flaky.py", "--quiet", "resume")).stdout
    assert "received {1: 100, 2: 200, 4: 400}" in out
    assert "failed {3: 'item 3 is never reachable'}" in out


def test_cached_grid_hits_the_cache_and_traces_its_result(af_home):
    import subprocess
    import sys

    first = ok(run_flow(EXAMPLES / "cached_grid.py", "run", env={"ARTIFLOW_EXAMPLE_FAST": "1"})).stdout
    assert "best alpha 0.1 with score 0.99" in first and "from cache" not in first
    second = ok(run_flow(EXAMPLES / "cached_grid.py", "run", env={"ARTIFLOW_EXAMPLE_FAST": "1"})).stdout
    assert "cached: reused CachedGridFlow/1/train/" in second and "(6 tasks, 4 from cache)" in second
    from artiflow import Flow

    end = Flow("CachedGridFlow").latest_run["end"].task
    lineage = ok(subprocess.run([sys.executable, "-m", "artiflow", "lineage", f"{end.pathspec}/best_alpha"],
                                capture_output=True, text=True)).stdout
    assert "CachedGridFlow/1/pick/" in lineage and "CachedGridFlow/1/train/" in lineage and "noise" in lineage
