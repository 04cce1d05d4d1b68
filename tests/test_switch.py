"""Switches (conditional transitions): the graph, the arm taken, switches in branches and foreach, loops, resume."""

from __future__ import annotations

import textwrap

import pytest

from conftest import ok, run_flow
from artiflow.exceptions import GraphError

FLOW = "switch_flow.py"


def latest():
    from artiflow import Flow

    return Flow("SwitchFlow").latest_run


def test_the_graph_knows_switches_and_loops():
    import importlib.util

    from conftest import FLOWS
    from artiflow.graph import FlowGraph

    import sys

    spec = importlib.util.spec_from_file_location("switch_flow", FLOWS / FLOW)
    module = importlib.util.module_from_spec(spec)
    sys.modules["switch_flow"] = module
    spec.loader.exec_module(module)
    graph = FlowGraph.from_flow(module.SwitchFlow)
    start = graph["start"]
    assert start.type == "split-switch" and start.condition == "mode"
    assert start.switch_cases == {"fast": "fast", "slow": "slow"} and start.out_funcs == ["fast", "slow"]
    assert graph["fork"].type == "split" and not graph["fork"].is_join and graph["fork"].in_funcs == ["fast", "slow"]  # two arms meet: no join
    assert graph["join_fork"].join_kind == "static" and graph["join_fork"].in_funcs == ["long_arm", "plain", "short_arm"]
    assert graph["join_each"].join_kind == "foreach"
    assert graph["loop"].in_funcs == ["join_each"] and ("loop", "loop") in graph.back_edges
    assert "switch on self.again" in graph.describe()


def test_each_switch_takes_the_arm_its_condition_names(af_home):
    out = ok(run_flow(FLOW, "run", "--mode", "slow", "--limit", "4")).stdout
    assert "path slow arms ['long', 'plain'] seen ['small:x', 'big:yy', 'small:x'] count 4" in out
    run = latest()
    steps = {s.id for s in run}
    assert "fast" not in steps and "short_arm" not in steps
    assert len(list(run["loop"])) == 4  # one task per turn of the loop
    assert sorted(t.data.count for t in run["loop"]) == [1, 2, 3, 4]
    assert [t.data.seen for t in sorted(run["big"], key=lambda t: t.index)] == ["big:yy"]


def test_the_other_arms(af_home):
    out = ok(run_flow(FLOW, "run", "--limit", "1")).stdout
    assert "path fast arms ['short', 'plain']" in out and "count 1" in out
    assert "slow" not in {s.id for s in latest()}


def test_a_value_that_is_no_case_fails_with_the_cases(af_home):
    result = run_flow(FLOW, "run", "--mode", "medium")
    assert result.returncode == 1
    assert "switches on self.mode = 'medium', which is none of its cases ('fast', 'slow')" in result.stderr


def test_resume_reuses_the_turns_of_a_loop_before_the_failure(af_home):
    result = run_flow(FLOW, "run", "--limit", "5", env={"FAIL_AT_COUNT": "3"})
    assert result.returncode == 1 and "failing at count 3" in result.stderr
    out = ok(run_flow(FLOW, "resume", env={"FAIL_AT_COUNT": "3"})).stdout
    assert "count 5" in out
    loop = sorted(latest()["loop"], key=lambda t: t.data.count)
    assert [t.data.count for t in loop] == [1, 2, 3, 4, 5]
    assert [t.origin_pathspec is not None for t in loop] == [True, True, False, False, False]


def flow_from(tmp_path, body: str) -> type:
    """A flow class written to a file (the graph is read from source)."""
    import importlib.util

    import sys

    path = tmp_path / "adhoc_flow.py"
    path.write_text("from artiflow import FlowSpec, step\n\n" + textwrap.dedent(body))
    name = f"adhoc_flow_{abs(hash(str(tmp_path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect finds a class's source through its module
    spec.loader.exec_module(module)
    return module.AdHoc


SWITCH_MISTAKES = [
    ('self.next({"a": self.a}, condition=self.kind)', "condition must be a string literal"),
    ('self.next({kind: self.a}, condition="kind")', "each case must be a literal"),
    ('self.next({"a": self.nope}, condition="kind")', "'nope', which is not a step"),
    ('self.next({"a": "a"}, condition="kind")', "each arm must be a step"),
    ('self.next({"a": self.a}, foreach="kind", condition="kind")', "also has foreach="),
]


@pytest.mark.parametrize("call, message", SWITCH_MISTAKES)
def test_switch_mistakes_name_the_step_and_line(tmp_path, call, message):
    flow = flow_from(tmp_path, f"""
        class AdHoc(FlowSpec):
            @step
            def start(self):
                {call}

            @step
            def a(self):
                self.next(self.end)

            @step
            def end(self):
                pass
        """)
    from artiflow.graph import FlowGraph

    with pytest.raises(GraphError) as err:
        FlowGraph.from_flow(flow)
    assert message in err.value.message and "adhoc_flow.py:7" in err.value.message


def test_a_loop_without_a_switch_is_still_a_cycle(tmp_path):
    flow = flow_from(tmp_path, """
        class AdHoc(FlowSpec):
            @step
            def start(self):
                self.next(self.a)

            @step
            def a(self):
                self.next(self.start)

            @step
            def end(self):
                pass
        """)
    from artiflow.graph import FlowGraph

    with pytest.raises(GraphError) as err:
        FlowGraph.from_flow(flow)
    assert "cycle: start -> a -> start" in err.value.message and "Only a switch may lead back" in err.value.message


def test_arms_that_meet_with_different_splits_open_are_refused(tmp_path):
    flow = flow_from(tmp_path, """
        class AdHoc(FlowSpec):
            @step
            def start(self):
                self.next({"a": self.a, "b": self.b}, condition="kind")

            @step
            def a(self):
                self.next(self.x, self.y)

            @step
            def x(self):
                self.next(self.b)

            @step
            def y(self):
                self.next(self.b)

            @step
            def b(self, inputs):
                self.next(self.end)

            @step
            def end(self):
                pass
        """)
    from artiflow.graph import FlowGraph

    with pytest.raises(GraphError):
        FlowGraph.from_flow(flow)
