"""Step caching end to end: what hits, what misses, and that a hit reuses artifacts by reference.

Each test writes a small flow (and a local helper module) into its own folder, runs it through the
real CLI, edits it the way a user would, runs it again and reads the second run back through the client.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import ok, run_flow
from store_spy import run_spied

FLOW = '''
from artiflow import FlowSpec, Parameter, cache, catch, step
import helpers

SCALE = {scale}
UNUSED = {unused}


def double(x):
    return x * 2{double_extra}


class CacheFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)

    @step
    def start(self):
        self.items = {items}
        self.next(self.work, foreach="items")

    @cache{work_args}
    @step
    def work(self):
        # a comment in the cached step
        self.y = double(self.input) * SCALE + helpers.bump(self.alpha)
        self.next(self.join)

    @cache
    @step
    def join(self, inputs):
        self.total = sum(i.y for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total){end_extra}


if __name__ == "__main__":
    CacheFlow()
'''

HELPERS = '''
def bump(a):
    return a + {bump}
'''

DEFAULTS = {"scale": 10, "unused": 0, "double_extra": "", "items": "[1, 2, 3]", "work_args": "",
            "end_extra": "", "bump": 0}


def write(folder: Path, **changes: object) -> Path:
    """Write the flow and its helper module into `folder` (made if needed) with some template values changed."""
    values = {**DEFAULTS, **changes}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cache_flow.py").write_text(FLOW.format(**values))
    (folder / "helpers.py").write_text(HELPERS.format(**values))
    return folder / "cache_flow.py"


def latest():
    from artiflow import Flow
    from artiflow.client import context

    context.clear_cache()
    return Flow("CacheFlow").latest_run


def cached(run, step: str) -> list[str | None]:
    """The cached_from of each task of a step, in foreach order."""
    return [t.cached_from for t in sorted(run[step], key=lambda t: t.index or 0)]


def first_and_second(af_home: Path, first: dict, second: dict, *args: str) -> tuple:
    """Run the flow as `first`, then as `second` (template changes); both runs, and the second's output."""
    path = write(af_home / "proj", **first)
    ok(run_flow(path, "run", *args))
    one = latest()
    write(af_home / "proj", **{**first, **second})
    out = ok(run_flow(path, "run", *args))
    return one, latest(), out


def test_an_unchanged_step_is_reused_and_says_so_live_and_in_the_summary(af_home):
    one, two, out = first_and_second(af_home, {}, {})
    assert cached(one, "work") == [None, None, None]
    sources = cached(two, "work")
    assert sources == [f"CacheFlow/1/work/{t.id}" for t in sorted(one["work"], key=lambda t: t.index)]
    assert two["join"].task.cached_from == f"CacheFlow/1/join/{one['join'].task.id}"
    assert two["start"].task.cached_from is None and two["end"].task.cached_from is None  # not cached steps
    assert f"cached: reused {sources[0]}" in out.stdout
    assert "(6 tasks, 4 from cache)" in out.stdout
    for a, b in zip(sorted(one["work"], key=lambda t: t.index), sorted(two["work"], key=lambda t: t.index)):
        assert a["y"].sha == b["y"].sha and b.data.y == a.data.y
    assert two["end"].task.data.total == one["end"].task.data.total == (2 + 4 + 6) * 10 + 3


def test_a_hit_reuses_by_reference_without_saving_or_loading(af_home):
    path = write(af_home / "proj")
    ok(run_flow(path, "run"))
    result, calls = run_spied(af_home, str(path), "run")
    ok(result)
    hits = {t.pathspec for t in latest()["work"]} | {latest()["join"].task.pathspec}
    assert not [c for c in calls.calls if c.where in hits]  # the cached tasks never ran: no save, no load
    assert not calls.saves("y") and not calls.saves("total")


def test_a_chain_of_hits_follows_the_same_keys_downstream(af_home):
    one, two, _ = first_and_second(af_home, {}, {})
    join_one, join_two = one["join"].task, two["join"].task
    assert join_two.cached_from == join_one.pathspec  # its inputs (cache hits) have the same keys
    assert join_two["total"].sha == join_one["total"].sha


@pytest.mark.parametrize("change, hits_work", [
    ({"bump": 1}, False),                                        # a helper in a local module the step calls
    ({"double_extra": " + 0"}, False),                           # a helper function in the flow file
    ({"scale": 11}, False),                                      # a module constant the step reads
    ({"unused": 5}, True),                                       # a module constant it does not read
    ({"end_extra": "\n        print('more')"}, True),            # another step
    ({"work_args": '(version="2")'}, False),                     # invalidated by hand
])
def test_what_changes_the_key_of_a_step(af_home, change, hits_work):
    _, two, _ = first_and_second(af_home, {}, change)
    sources = cached(two, "work")
    assert all(sources) if hits_work else not any(sources), (change, sources)


def test_a_comment_or_blank_lines_elsewhere_keep_the_key(af_home):
    path = write(af_home / "proj")
    ok(run_flow(path, "run"))
    text = path.read_text().replace("class CacheFlow", "# a new comment\n\n\nclass CacheFlow")
    path.write_text(text.replace("# a comment in the cached step", "# another comment"))
    ok(run_flow(path, "run"))
    assert all(cached(latest(), "work"))


def test_changing_one_foreach_element_misses_only_its_task_and_what_follows(af_home):
    _, two, _ = first_and_second(af_home, {}, {"items": "[1, 2, 30]"})
    sources = cached(two, "work")
    assert sources[0] and sources[1] and sources[2] is None
    assert two["join"].task.cached_from is None  # downstream of the changed task
    assert two["end"].task.data.total == (2 + 4 + 60) * 10 + 3


def test_a_changed_parameter_misses(af_home):
    path = write(af_home / "proj")
    ok(run_flow(path, "run"))
    ok(run_flow(path, "run", "--alpha", "2"))
    assert not any(cached(latest(), "work"))
    ok(run_flow(path, "run", "--alpha", "2"))
    assert all(cached(latest(), "work"))


def test_moving_the_flow_folder_keeps_the_key(af_home):
    path = write(af_home / "proj")
    ok(run_flow(path, "run"))
    moved = af_home / "elsewhere" / "proj"
    moved.parent.mkdir()
    shutil.move(str(path.parent), str(moved))
    ok(run_flow(moved / "cache_flow.py", "run"))
    assert all(cached(latest(), "work"))


def test_a_missing_blob_is_a_miss_with_a_warning(af_home):
    from artiflow.datastore import open_store
    from artiflow.config import load_config

    one, _, _ = first_and_second(af_home, {}, {"scale": 10})
    victim = sorted(one["work"], key=lambda t: t.index)[1]
    store = open_store(load_config(None).datastore_root)
    store.storage.path(victim["y"].sha).unlink()
    out = ok(run_flow(af_home / "proj" / "cache_flow.py", "run"))
    assert f"cache: {victim.pathspec} has the same key" in out.stderr and "is missing" in out.stderr
    sources = cached(latest(), "work")
    # the 2nd run's task at that index (a hit of the first) points at the same blob: both are skipped
    assert sources[1] is None and sources[0] and sources[2]
    assert latest()["end"].task.data.total == 123


def test_a_corrupt_blob_is_a_miss(af_home):
    from artiflow.datastore import open_store
    from artiflow.config import load_config

    path = write(af_home / "proj")
    ok(run_flow(path, "run"))
    victim = sorted(latest()["work"], key=lambda t: t.index)[0]
    blob = open_store(load_config(None).datastore_root).storage.path(victim["y"].sha)
    blob.chmod(0o644)
    blob.write_bytes(b"not the value")
    out = ok(run_flow(path, "run"))
    assert "is corrupt" in out.stderr
    assert cached(latest(), "work")[0] is None


FAILING = '''
import os
from artiflow import FlowSpec, cache, catch, step


class FailFlow(FlowSpec):
    @step
    def start(self):
        self.items = [0, 1, 2]
        self.next(self.work, foreach="items")

    @cache
    @step
    def work(self):
        if os.environ.get("FAIL_AT") == str(self.input):
            raise ValueError("failed on purpose")
        self.y = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.caught)

    @cache
    @catch(var="error")
    @step
    def caught(self):
        if os.environ.get("CATCH"):
            raise ValueError("caught on purpose")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailFlow()
'''


def test_a_failed_task_is_never_a_hit(af_home):
    from artiflow import Flow

    path = af_home / "fail_flow.py"
    path.write_text(FAILING)
    assert run_flow(path, "run", env={"FAIL_AT": "1"}).returncode == 1
    ok(run_flow(path, "run"))
    work = sorted(Flow("FailFlow")["2"]["work"], key=lambda t: t.index)
    assert [bool(t.cached_from) for t in work] == [True, False, True]  # the failed one ran again


def test_a_task_whose_error_was_caught_is_never_a_hit(af_home):
    from artiflow import Flow

    path = af_home / "fail_flow.py"
    path.write_text(FAILING)
    ok(run_flow(path, "run", env={"CATCH": "1"}))  # @catch stores the error; the task is recorded as caught
    ok(run_flow(path, "run", env={"CATCH": "1"}))
    assert all(t.cached_from for t in Flow("FailFlow")["2"]["work"])  # the same code and inputs: hits
    caught = Flow("FailFlow")["2"]["caught"].task
    assert caught.cached_from is None and caught.data.error is not None


def test_run_cache_caches_every_step_but_those_opted_out(af_home):
    text = FLOW.format(**DEFAULTS).replace("    @cache\n    @step\n    def join", "    @cache(enabled=False)\n"
                                                                                "    @step\n    def join")
    path = af_home / "proj" / "cache_flow.py"
    path.parent.mkdir()
    path.write_text(text)
    (path.parent / "helpers.py").write_text(HELPERS.format(**DEFAULTS))
    ok(run_flow(path, "run", "--cache"))
    out = ok(run_flow(path, "run", "--cache"))
    run = latest()
    assert run["start"].task.cached_from and run["end"].task.cached_from and all(cached(run, "work"))
    assert run["join"].task.cached_from is None  # @cache(enabled=False)
    assert "(6 tasks, 5 from cache)" in out.stdout
    ok(run_flow(path, "run"))  # without --cache only @cache steps are cached: work
    run = latest()
    assert all(cached(run, "work")) and run["start"].task.cached_from is None


def test_a_package_version_the_flow_imports_is_part_of_the_key(af_home):
    site = af_home / "site"
    (site / "afdemo").mkdir(parents=True)
    (site / "afdemo" / "__init__.py").write_text("VALUE = 1\n")

    def install(version: str) -> None:
        for old in site.glob("afdemo-*.dist-info"):
            shutil.rmtree(old)
        info = site / f"afdemo-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: afdemo\nVersion: {version}\n")
        (info / "top_level.txt").write_text("afdemo\n")
        (info / "RECORD").write_text("afdemo/__init__.py,,\n")

    path = write(af_home / "proj")
    path.write_text("import afdemo\n" + path.read_text())
    env = {"PYTHONPATH": str(site)}
    install("1.0")
    ok(run_flow(path, "run", env=env))
    ok(run_flow(path, "run", env=env))
    assert all(cached(latest(), "work"))
    install("1.1")
    ok(run_flow(path, "run", env=env))
    assert not any(cached(latest(), "work"))


def test_a_step_that_reads_what_cannot_be_fingerprinted_runs_uncached_with_a_warning(af_home):
    path = write(af_home / "proj")
    text = path.read_text().replace("SCALE = 10", "import threading\nLOCK = threading.Lock()\nSCALE = 10")
    path.write_text(text.replace("self.y = double(self.input)", "assert LOCK is not None\n        self.y = double(self.input)"))
    ok(run_flow(path, "run"))
    out = ok(run_flow(path, "run"))
    assert "cache: step 'work' is not cached" in out.stderr and "LOCK" in out.stderr
    assert not any(cached(latest(), "work"))


@pytest.mark.parametrize("decorator, message", [
    ("@cache(version=[1])", "@cache(version=...) is a string or a number"),
    ('@cache(enabled="yes")', "@cache(enabled=...) is True or False"),
    ("@cache(versions=2)", "@cache does not take versions"),
])
def test_bad_cache_decorators_are_reported_with_their_line(af_home, decorator, message):
    path = write(af_home / "proj")
    path.write_text(path.read_text().replace("    @cache\n    @step\n    def join", f"    {decorator}\n    @step\n"
                                                                                     "    def join"))
    result = run_flow(path, "run")
    assert result.returncode == 1
    assert message in result.stderr and "cache_flow.py:" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_parameter_named_cache_is_refused(af_home):
    path = af_home / "p.py"
    path.write_text(textwrap.dedent('''
        from artiflow import FlowSpec, Parameter, step

        class P(FlowSpec):
            cache = Parameter("cache", default=1)

            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            P()
    '''))
    result = run_flow(path, "run")
    assert result.returncode == 1 and "cache" in result.stderr and "reserved" in result.stderr.lower()


def test_artiflow_show_names_the_cache_source(af_home):
    import subprocess
    import sys

    _, two, _ = first_and_second(af_home, {}, {})
    task = sorted(two["work"], key=lambda t: t.index)[0]
    shown_task = subprocess.run([sys.executable, "-m", "artiflow", "show", task.pathspec], capture_output=True,
                                text=True)
    assert any(line.split() == ["cached", "from", task.cached_from] for line in ok(shown_task).stdout.splitlines())
    shown_run = ok(subprocess.run([sys.executable, "-m", "artiflow", "show", two.pathspec], capture_output=True,
                                  text=True)).stdout
    assert any(line.split()[:5] == ["work", "3", "succeeded", "3", "from"] for line in shown_run.splitlines())


def test_writing_cache_on_a_step_that_ran_under_run_cache_keeps_its_key(af_home):
    path = write(af_home / "proj")
    text = path.read_text()
    ok(run_flow(path, "run", "--cache"))
    path.write_text(text.replace("    @step\n    def end", "    @cache\n    @step\n    def end"))
    ok(run_flow(path, "run"))
    assert latest()["end"].task.cached_from == f"CacheFlow/1/end/{latest()['end'].task.id}"


def test_the_python_version_and_decorator_settings_are_part_of_the_static_key(af_home, monkeypatch):
    import importlib.util
    import sys

    from artiflow.caching.keys import StepCache
    from artiflow.decorators import all_step_decorators
    from artiflow.graph import FlowGraph

    path = write(af_home / "proj")
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location("cache_flow_for_key", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        flow_cls = module.CacheFlow
        graph = FlowGraph.from_flow(flow_cls)

        def static(with_all=()) -> str:
            decorators = {n.name: all_step_decorators(flow_cls, n.name, list(with_all)) for n in graph}
            return StepCache(flow_cls, graph, decorators, False, None, None, print).static_key("work")

        from artiflow.decorators import parse_with

        base = static()
        assert static() == base and static([parse_with("cache")]) == base  # --with cache: the same key
        assert static([parse_with("retry:times=2")]) != base               # a decorator's configuration
        monkeypatch.setattr("platform.python_version", lambda: "3.99.0")
        assert static() != base
    finally:
        sys.path.remove(str(path.parent))
        sys.modules.pop("cache_flow_for_key", None)
        sys.modules.pop("helpers", None)


def test_no_cache_runs_every_step_and_a_rerun_runs_the_code_unless_asked(af_home):
    import subprocess
    import sys

    path = write(af_home / "proj")
    ok(run_flow(path, "run"))
    out = ok(run_flow(path, "run", "--no-cache"))
    assert not any(cached(latest(), "work")) and "from cache" not in out.stdout

    def rerun(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "artiflow", "rerun", *args], capture_output=True, text=True,
                              cwd=af_home)
        return ok(done).stdout

    report = rerun("CacheFlow/1")
    assert not any(cached(latest(), "work")) and "all 21 artifacts came out with the same keys" in report
    rerun("--use-cache", "CacheFlow/1")
    assert all(cached(latest(), "work"))
