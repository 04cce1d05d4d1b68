"""What Metaflow flows and their checks rely on: the flow object, constants, internals, @catch/@timeout/@retry."""

from __future__ import annotations

import importlib.util
import sys

from conftest import FLOWS, ok, run_flow

FLOW = "metaflow_parity_flow.py"


def load_flow_class():
    from artiflow.compat import install_metaflow_alias

    install_metaflow_alias()
    spec = importlib.util.spec_from_file_location("metaflow_parity_flow", FLOWS / FLOW)
    module = importlib.util.module_from_spec(spec)
    sys.modules["metaflow_parity_flow"] = module
    spec.loader.exec_module(module)
    return module.ParityFlow


def test_a_flow_object_without_the_cli_shows_its_steps_and_graph():
    flow = load_flow_class()(use_cli=False)
    assert flow.name == "ParityFlow"
    assert [s.name for s in flow] == ["start", "each", "join", "slow", "flaky", "end"]
    graph = flow._graph
    assert graph["start"].type == "foreach" and graph["join"].type == "join" and graph["end"].type == "end"
    assert graph["join"].in_funcs == ["each"] and graph["start"].out_funcs == ["each"]
    assert graph["each"].parallel_step is False and graph["start"].foreach_param == "items"


def test_a_metaflow_flow_runs_as_metaflow_would(af_home):
    ok(run_flow(FLOW, "run", "--tag", "nightly", launcher=True))
    from artiflow import Flow

    run = Flow("ParityFlow").latest_run
    start = run["start"].task.data
    assert start.step_seen == "start" and start.graph_type == "foreach"
    assert start.param_names == ["alpha"]  # constants are not parameters
    assert start.tags_seen == {"nightly", "changed here only"}  # a set of the run's tags, a copy each time
    from artiflow import namespace

    namespace("user:somebody-else")  # objects read back from artifacts skip the namespace check
    try:
        assert start.task_obj.pathspec == run["start"].task.pathspec and start.run_obj.id == run.id
        assert start.run_obj["start"].task.data.step_seen == "start"
    finally:
        namespace("user:tester")
    assert "read-only" in start.constant_error and "constant" in start.constant_error
    # constants and the flow's name are artifacts of every task, as in Metaflow
    assert run.data.threshold == 0.5 and run.data.labels == ("a", "b") and run.data.name == "ParityFlow"

    each = run["each"]
    assert len(list(each)) == 3  # an unbounded foreach: a control task beside its two mappers
    assert len(list(each.control_tasks())) == 1
    assert run["join"].task.data.frames == [("items", 0, None, 10), ("items", 1, None, 20)]

    slow = run["slow"].task
    assert slow.data.before_sleep is True  # @timeout raised inside the task, so @catch kept what it had set
    assert slow.data.slow_error.type == "metaflow.plugins.timeout_decorator.TimeoutException"
    assert "@timeout of 1 s" in slow.data.slow_error.exception

    flaky = run["flaky"].task
    assert flaky.data.attempts_seen == 2 and len(flaky.attempts) == 3
    waits = [b.started_at - a.finished_at for a, b in zip(flaky.attempts, flaky.attempts[1:])]
    assert all(w.total_seconds() < 30 for w in waits)  # @retry without minutes_between_retries: at once

    end = run["end"].task
    assert end.data.reached_end is True and end.exception is None  # handled by @catch
    error = end.data.end_error
    assert error.type == "metaflow.exception.ExternalCommandFailed" and error.exception == "caught at the end"
    assert "Traceback" in str(error) and error.stacktrace == str(error)


def test_an_artiflow_flow_names_artiflow_exceptions(af_home):
    ok(run_flow("failures_flow.py", "run", env={"MODE": "raise", "FAIL_AT": "1", "CATCH": "1"}))
    from artiflow import Flow

    task = next(t for t in Flow("FailuresFlow").latest_run["work"] if t.index == 1)
    assert task.data.problem.type == "builtins.ValueError"


def test_atexit_handlers_of_a_task_run_when_it_ends(af_home, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    ok(run_flow("atexit_flow.py", "run", env={"MARKER_DIR": str(markers)}))
    from artiflow import Flow

    assert Flow("AtexitFlow").latest_run["end"].task.data.markers == ["start"]


UNSUPPORTED_FLOW = '''
from metaflow import FlowSpec, step, {name}


class UsesIt(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UsesIt()
'''


def test_a_metaflow_name_artiflow_lacks_is_one_clear_message(af_home, tmp_path):
    import pytest

    for name, words in (("conda", "Conda environment"), ("slurm", "Slurm"), ("pypi_base", "PyPI")):
        path = tmp_path / f"uses_{name}.py"
        path.write_text(UNSUPPORTED_FLOW.format(name=name))
        result = run_flow(path, "run", launcher=True)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr and "artiflow/" not in result.stderr
        assert f"uses_{name}.py:2 uses `{name}`" in result.stderr and words in result.stderr
        assert f"artiflow does not support `{name}` (yet)" in result.stderr
    with pytest.raises(ImportError):  # still an ImportError for `try: from metaflow import conda`
        from artiflow import conda  # noqa: F401


def test_metaflow_module_paths_that_flows_import_by_name():
    from artiflow.compat import install_metaflow_alias

    install_metaflow_alias()
    import importlib

    import artiflow

    timeout_mod = importlib.import_module("metaflow.plugins.timeout_decorator")
    catch_mod = importlib.import_module("metaflow.plugins.catch_decorator")
    exception_mod = importlib.import_module("metaflow.exception")
    assert timeout_mod.TimeoutException is artiflow.exceptions.TimeoutException
    assert catch_mod.FailureHandledByCatch is artiflow.exceptions.FailureHandledByCatch
    assert exception_mod.ExternalCommandFailed is artiflow.exceptions.ExternalCommandFailed
    assert importlib.import_module("metaflow.cards").get_cards is artiflow.cards.get_cards
    assert importlib.import_module("metaflow.plugins").InternalTestUnboundedForeachInput
    assert artiflow.exceptions.__spec__.name == "artiflow.exceptions"  # the alias left the module its own name
