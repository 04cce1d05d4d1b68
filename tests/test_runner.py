"""Runner and NBRunner (Metaflow's programmatic API): real flows run in child processes, read back by the client."""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from artiflow import FlowSpec, Parameter, step
from conftest import FLOWS, REPO

FLOW = FLOWS / "runner_flow.py"
FAIL_FLOW = FLOWS / "runner_fail_flow.py"
SCALE = 10  # read by NBHelperFlow through `scaled`, so NBRunner must copy both


def scaled(x):
    return x * SCALE


class NBHelperFlow(FlowSpec):
    """Defined in this module: NBRunner copies it with the imports and definitions it uses."""

    alpha = Parameter("alpha", default=1.0, type=float)

    @step
    def start(self):
        self.value = scaled(self.alpha)
        self.root = math.sqrt(16)
        self.next(self.end)

    @step
    def end(self):
        pass


def the_runner():
    from artiflow import Runner

    return Runner


# -- keywords -> command line -------------------------------------------------------------------
def test_keywords_become_the_flow_command_line():
    from artiflow.runner.core import command_words, top_level_words

    assert top_level_words({"quiet": True, "pylint": False, "metadata": "local", "datastore_root": "/x",
                            "event_logger": None}) == ["--quiet", "--no-pylint", "--metadata", "local",
                                                       "--datastore-root", "/x"]
    assert top_level_words({"quiet": False}) == []
    assert command_words("run", {"tags": ["a", "b"], "max_workers": 4, "decospecs": ["retry"], "alpha": 0.5,
                                 "loud": False, "flag": True, "size": [1, 2], "learning_rate": 3}) == [
        "--tag", "a", "--tag", "b", "--max-workers", "4", "--with", "retry", "--alpha", "0.5", "--no-loud",
        "--flag", "--size", "[1, 2]", "--learning_rate", "3"]
    assert command_words("resume", {"step_to_rerun": "middle", "origin_run_id": 3}) == [
        "middle", "--origin-run-id", "3"]
    assert command_words("run", {"cache": True}) == ["--cache"] and command_words("run", {"cache": False}) == []


def test_the_flow_class_is_found_in_the_file(tmp_path):
    from artiflow.runner.core import flow_names

    path = tmp_path / "two.py"
    path.write_text("from artiflow import FlowSpec\nclass Base(FlowSpec): pass\nclass Helper: pass\n"
                    "class Real(Base): pass\nif __name__ == '__main__':\n    Real()\n")
    assert flow_names(path) == ["Real", "Base", "Helper"]
    path.write_text("this is ( not python")
    assert flow_names(path) == []


# -- blocking runs ------------------------------------------------------------------------------
def test_blocking_run_with_parameters_and_options(af_home):
    with the_runner()(FLOW, show_output=False).run(alpha=0.5, size=[3, 4], loud=True, tags=["a", "b"],
                                                   max_workers=2) as running:
        assert running.status == "successful" and running.returncode == 0
        run = running.run
        assert run.pathspec == "RunnerFlow/1" and run.successful and run.finished
        assert run.data.result == 1.0 and run.data.total == 7
        assert {"a", "b"} <= set(run.tags) and run["start"].task.data.tags_seen == ["a", "b"]
        assert run.parameters["alpha"] == 0.5
        assert "[RunnerFlow/1/start/1] tick 2" in running.stdout and "loud" in running.stdout
        assert "a note on stderr" in running.stderr
        workdir = running._child.workdir
        assert workdir.exists()
    assert not workdir.exists()  # leaving the block cleaned up; the output stays readable
    assert "tick 0" in running.stdout


def test_without_a_context_manager_and_run_ids_in_order(af_home):
    runner = the_runner()(str(FLOW), show_output=False)
    first, second = runner.run(), runner.run(alpha=2)
    assert (first.run.id, second.run.id) == ("1", "2") and second.run.data.result == 4
    runner.cleanup()
    assert "succeeded" in first.stdout and repr(second) == "ExecutingRun('RunnerFlow/2', status='successful')"


def test_top_level_options_and_relative_paths(af_home, monkeypatch):
    monkeypatch.chdir(FLOWS)
    running = the_runner()("runner_flow.py", show_output=False, quiet=True, metadata="local",
                           pylint=False).run()
    assert running.status == "successful"
    assert "tick 0" in running.stdout and "Task is starting" not in running.stdout


def test_show_output_echoes_the_run(af_home, capsys):
    the_runner()(FLOW).run(loud=True)
    out, err = capsys.readouterr()
    assert "[RunnerFlow/1/end/2] loud" in out and "a note on stderr" in err


def test_a_flow_written_for_metaflow_runs_unchanged(af_home):
    running = the_runner()(FLOWS / "runner_metaflow_flow.py", show_output=False).run(word="hey")
    assert running.status == "successful" and running.run.data.shout == "HEY"


def test_a_failing_run_then_resume(af_home):
    Runner = the_runner()
    failed = Runner(FAIL_FLOW, show_output=False, env={"RUNNER_FAIL": "1"}).run()
    assert (failed.status, failed.returncode) == ("failed", 1)
    assert "ValueError: asked to fail" in failed.stderr
    run = failed.run
    assert not run.successful and run.status == "failed" and run["start"].task.data.x == 1
    resumed = Runner(FAIL_FLOW, show_output=False).resume(tags=["again"])
    assert resumed.status == "successful" and resumed.run.id == "2"
    assert resumed.run["middle"].task.data.y == 2 and "again" in resumed.run.tags
    again = Runner(FAIL_FLOW, show_output=False).resume(origin_run_id=2, step_to_rerun="middle")
    assert again.status == "successful" and again.run["middle"].task.data.y == 2


def test_the_run_is_readable_whatever_the_namespace(af_home):
    from artiflow import namespace

    namespace("user:somebody-else")
    try:
        running = the_runner()(FLOW, show_output=False).run()
        assert running.run["end"].task.data.result == pytest.approx(0.2)
    finally:
        namespace("user:tester")


def test_env_and_cwd_choose_where_the_run_is_stored(af_home, monkeypatch):
    elsewhere = af_home / "elsewhere"
    running = the_runner()(FLOW, show_output=False, env={"ARTIFLOW_ROOT": str(elsewhere)}).run(alpha=3)
    assert running.run.data.result == 6 and (elsewhere / "metadata.db").exists()
    monkeypatch.delenv("ARTIFLOW_ROOT")
    sub = af_home / "sub"
    (sub / ".artiflow").mkdir(parents=True)  # the child's nearest root, not this process's
    running = the_runner()(FLOW, show_output=False, cwd=sub).run()
    assert running.run.id == "1" and (sub / ".artiflow" / "metadata.db").exists()


# -- asynchronous runs --------------------------------------------------------------------------
def test_async_run_streams_its_output_then_waits(af_home):
    async def main():
        running = await the_runner()(FLOW).async_run(seconds=0.9)
        assert running.status == "running" and running.returncode is None
        assert running.run.status == "running"
        lines = [(position, line) async for position, line in running.stream_log("stdout")]
        await running.wait()
        return running, lines

    running, lines = asyncio.run(main())
    assert running.status == "successful" and running.run.successful
    ticks = [line for _, line in lines if "tick" in line]
    assert ticks == [f"[RunnerFlow/1/start/1] tick {i}" for i in range(3)]
    positions = [p for p, _ in lines]
    assert positions == sorted(positions) and positions[-1] == len(running.stdout.encode())

    async def from_position():
        return [line async for _, line in running.stream_log("stdout", position=positions[-2])]

    assert asyncio.run(from_position()) == [lines[-1][1]]


def test_async_runs_at_once_and_async_resume(af_home):
    Runner = the_runner()

    async def main():
        runs = await asyncio.gather(Runner(FLOW, show_output=False).async_run(alpha=1),
                                    Runner(FAIL_FLOW, env={"RUNNER_FAIL": "1"}).async_run())
        for running in runs:
            await running.wait()
        resumed = await Runner(FAIL_FLOW).async_resume()
        await resumed.wait(stream="stdout")
        return runs, resumed

    (ok_run, failed), resumed = asyncio.run(main())
    assert ok_run.status == "successful" and ok_run.run.data.result == 2
    assert failed.status == "failed" and failed.returncode == 1
    assert resumed.status == "successful" and resumed.run["middle"].task.data.y == 2


def test_wait_with_a_timeout_stops_the_run(af_home):
    async def main():
        running = await the_runner()(FLOW).async_run(seconds=60)
        started = time.monotonic()
        await running.wait(timeout=0.5)
        return running, time.monotonic() - started

    running, waited = asyncio.run(main())
    assert running.status == "timeout" and running.returncode not in (None, 0) and waited < 10
    assert running.run.status == "failed"  # the child stopped its tasks and marked the run failed


# -- errors -------------------------------------------------------------------------------------
def runner_error(func, *args, **kwargs) -> str:
    from artiflow.runner import RunnerError

    with pytest.raises(RunnerError) as info:
        func(*args, **kwargs)
    return info.value.message


def test_errors_before_any_run(af_home):
    Runner = the_runner()
    message = runner_error(Runner, "no_such_flow.py")
    assert "The flow file 'no_such_flow.py' does not exist" in message and str(af_home) in message
    assert "is a folder" in runner_error(Runner, FLOWS)
    assert "no configuration profiles" in runner_error(Runner, FLOW, profile="prod")
    assert "is not a folder" in runner_error(Runner, FLOW, cwd=af_home / "nope")
    message = runner_error(Runner(FLOW, show_output=False).run, bogus=1)
    assert "the flow's command line rejected it: No such option '--bogus'" in message
    message = runner_error(Runner(FLOW, show_output=False).run, alpha="abc")
    assert "Invalid value for '--alpha'" in message
    message = runner_error(Runner(FAIL_FLOW, show_output=False).resume)
    assert "exited with code 1 before starting a run" in message
    assert "There is no run of RunnerFailFlow by user tester to resume" in message


def test_a_process_that_dies_or_never_starts_a_run(af_home):
    Runner = the_runner()
    crash = af_home / "crash.py"
    crash.write_text("raise RuntimeError('broken at import')\n")
    message = runner_error(Runner(crash, show_output=False).run)
    assert "exited with code 1 before starting a run" in message and "RuntimeError: broken at import" in message
    no_main = af_home / "no_main.py"
    no_main.write_text("from artiflow import FlowSpec\n")
    assert "ended without starting a run" in runner_error(Runner(no_main, show_output=False).run)
    slow = af_home / "slow_start.py"
    slow.write_text("import time\nprint('loading', flush=True)\ntime.sleep(60)\n")
    started = time.monotonic()
    message = runner_error(Runner(slow, show_output=False, file_read_timeout=0.5).run)
    assert "started no run within 0.5 s (file_read_timeout)" in message and "loading" in message
    assert time.monotonic() - started < 10


def test_async_errors_are_raised_by_the_await(af_home):
    async def main():
        await the_runner()(FLOW).async_run(bogus=1)

    assert "No such option '--bogus'" in runner_error(asyncio.run, main())


# -- NBRunner -----------------------------------------------------------------------------------
def test_nbrunner_on_a_class_of_this_module(af_home):
    from artiflow import NBRunner

    nb = NBRunner(NBHelperFlow, show_output=False)
    assert "def scaled" in nb.source and "SCALE = 10" in nb.source and "import math" in nb.source
    assert "def test_" not in nb.source and "import pytest" not in nb.source
    run = nb.nbrun(alpha=2)
    assert run.successful and run["start"].task.data.value == 20 and run["start"].task.data.root == 4
    assert not nb.flow_file.exists()  # nbrun cleans up; the next call writes the file again
    assert nb.nbresume(step_to_rerun="end").successful


def test_nbrunner_on_a_class_defined_in_a_function(af_home):
    from artiflow import NBRunner

    class LocalFlow(FlowSpec):
        @step
        def start(self):
            self.value = scaled(1)
            self.next(self.end)

        @step
        def end(self):
            pass

    with NBRunner(LocalFlow, show_output=False).run() as running:
        assert running.run["start"].task.data.value == 10


def fake_notebook(monkeypatch, cells: list[str], attribute: str = "input_hist_raw") -> dict:
    """Pretend to be an IPython session whose history holds `cells`; run them as the kernel would."""
    if attribute == "input_hist_parsed":  # as IPython stores them: magics already turned into calls
        cells = [re.sub(r"^%(\w+) ?(.*)$", r"get_ipython().run_line_magic('\1', '\2')", c, flags=re.M) for c in cells]
    history = types.SimpleNamespace(**{attribute: ["", *cells]})
    shell = types.SimpleNamespace(history_manager=history)
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", module)
    namespace = {"__name__": "__notebook__"}  # a module name with no file, as in a kernel
    for cell in cells:
        lines = [line for line in cell.splitlines() if not line.startswith(("%", "get_ipython"))]
        exec(compile("\n".join(lines), "<cell>", "exec"), namespace)
    return namespace


CELLS = [
    "import json\nfrom artiflow import FlowSpec, step\nfrom artiflow import NBRunner",
    "%load_ext something\nPREFIX = 'v'\nunused = 1\n",
    textwrap.dedent("""
        class CellFlow(FlowSpec):
            @step
            def start(self):
                self.value = PREFIX + json.dumps([1])
                self.next(self.end)

            @step
            def end(self):
                pass
        """),
]


@pytest.mark.parametrize("attribute", ["input_hist_raw", "input_hist_parsed"])
def test_nbrunner_on_a_class_only_in_the_notebook_history(af_home, monkeypatch, attribute):
    namespace = fake_notebook(monkeypatch, CELLS, attribute)
    nb = namespace["NBRunner"](namespace["CellFlow"], show_output=False)
    assert "PREFIX = 'v'" in nb.source and "import json" in nb.source and "unused" not in nb.source
    run = nb.nbrun()
    assert run.successful and run["start"].task.data.value == "v[1]"


def test_nbrunner_errors(af_home, monkeypatch):
    from artiflow import NBRunner

    assert "takes the flow class itself" in runner_error(NBRunner, "NBHelperFlow")
    namespace = {"__name__": "__nowhere__"}
    exec("from artiflow import FlowSpec\nclass Ghost(FlowSpec): pass\n", namespace)
    message = runner_error(NBRunner, namespace["Ghost"])
    assert "cannot find the source of class Ghost" in message and "no IPython session" in message
    fake_notebook(monkeypatch, ["x = 1"])
    assert "no cell of this notebook defines it" in runner_error(NBRunner, namespace["Ghost"])


# -- imports and aliases -----------------------------------------------------------------------
def test_imports_stay_light_and_metaflow_names_resolve():
    code = """
import sys
import artiflow
assert not [m for m in sys.modules if m.startswith("artiflow.runner")]
from artiflow import Runner, NBRunner
assert not [m for m in sys.modules if m.startswith(("artiflow.client", "artiflow.runtime", "click"))], sys.modules
from artiflow.compat import install_metaflow_alias
install_metaflow_alias()
from metaflow import Runner as R, NBRunner as N
from metaflow.runner.metaflow_runner import Runner as R2, ExecutingRun
from metaflow.runner.nbrun import NBRunner as N2
assert R is R2 is Runner and N is N2 is NBRunner and ExecutingRun.__name__ == "ExecutingRun"
"""
    env_path = str(REPO / "src")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
