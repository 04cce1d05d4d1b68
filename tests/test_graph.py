"""Tests of artiflow.graph: the DAG read from a flow's source, and its validation errors."""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from pathlib import Path

import pytest

from artiflow.exceptions import GraphError
from artiflow.graph import FlowGraph, StepNode

FLOWS = Path(__file__).parent / "graph_flows"


def load_flow(stem: str) -> type:
    """Import tests/graph_flows/<stem>.py and return the flow class it defines."""
    if str(FLOWS) not in sys.path:
        sys.path.insert(0, str(FLOWS))
    mod_name = f"graph_flows_{stem}"
    spec = importlib.util.spec_from_file_location(mod_name, FLOWS / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    flows = [c for _, c in inspect.getmembers(module, inspect.isclass)
             if c.__module__ == mod_name and c.__name__.endswith("Flow")]
    assert len(flows) == 1, flows
    return flows[0]


def graph_of(stem: str) -> FlowGraph:
    return FlowGraph.from_flow(load_flow(stem))


def error_line(stem: str) -> int:
    """The line marked `# ERROR` in a fixture."""
    lines = (FLOWS / f"{stem}.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.rstrip().endswith("# ERROR"))


def summary(graph: FlowGraph) -> dict[str, tuple]:
    return {n.name: (n.type, n.out, n.in_steps, n.join_kind, n.matching_join, n.split_parents)
            for n in graph}


# ---------------------------------------------------------------- valid shapes

def test_linear():
    graph = graph_of("linear")
    assert graph.name == "LinearFlow"
    assert list(graph.nodes) == ["start", "middle", "end"]
    assert summary(graph) == {
        "start": ("start", ["middle"], [], None, None, []),
        "middle": ("linear", ["end"], ["start"], None, None, []),
        "end": ("end", [], ["middle"], None, None, []),
    }
    assert "helper" not in graph
    assert graph["start"].doc == "Begin here."
    assert graph["end"].doc == "Finish." and graph["middle"].doc == ""
    assert graph["middle"].decorators == ["retry", "catch"]
    assert graph["start"].decorators == []
    assert not any(n.is_join for n in graph)
    assert graph.file == str(FLOWS / "linear.py") == graph["start"].file


def test_linear_line_numbers():
    graph = graph_of("linear")
    lines = (FLOWS / "linear.py").read_text().splitlines()
    for node in graph:
        assert lines[node.func_lineno - 1].strip().startswith(f"def {node.name}(")
    assert "self.next(self.middle)" in lines[graph["start"].next_lineno - 1]
    assert "me.next(me.end)" in lines[graph["middle"].next_lineno - 1]
    assert graph["end"].next_lineno == graph["end"].func_lineno


def test_static_branch_in_steps_follow_branch_order():
    graph = graph_of("branch")
    assert list(graph.nodes) == ["start", "a", "b", "c", "join", "end"]
    assert summary(graph) == {
        "start": ("split", ["c", "a", "b"], [], None, "join", []),
        "a": ("linear", ["join"], ["start"], None, None, ["start"]),
        "b": ("linear", ["join"], ["start"], None, None, ["start"]),
        "c": ("linear", ["join"], ["start"], None, None, ["start"]),
        "join": ("join", ["end"], ["c", "a", "b"], "static", None, ["start"]),
        "end": ("end", [], ["join"], None, None, []),
    }
    assert graph["join"].is_join


def test_nested_branch_and_join_followed_by_split():
    graph = graph_of("nested_branch")
    assert list(graph.nodes) == [
        "start", "a", "a1", "a2", "join_a", "b", "join", "c", "d", "join2", "end"]
    s = summary(graph)
    assert s["a"] == ("split", ["a1", "a2"], ["start"], None, "join_a", ["start"])
    assert s["a1"][5] == ["start", "a"]
    assert s["join_a"] == ("join", ["join"], ["a1", "a2"], "static", None, ["start", "a"])
    assert s["join"] == ("split", ["c", "d"], ["join_a", "b"], "static", "join2", ["start"])
    assert s["c"][5] == ["join"]
    assert s["join2"] == ("join", ["end"], ["c", "d"], "static", None, ["join"])
    assert graph["join"].opens_split and not graph["b"].opens_split
    assert graph["start"].matching_join == "join"


def test_foreach():
    graph = graph_of("foreach")
    assert summary(graph) == {
        "start": ("foreach", ["train"], [], None, "join", []),
        "train": ("linear", ["join"], ["start"], None, None, ["start"]),
        "join": ("join", ["end"], ["train"], "foreach", None, ["start"]),
        "end": ("end", [], ["join"], None, None, []),
    }
    assert graph["start"].foreach_var == "grid"


def test_foreach_directly_into_join():
    s = summary(graph_of("foreach_direct"))
    assert s["start"] == ("foreach", ["join"], [], None, "join", [])
    assert s["join"] == ("join", ["end"], ["start"], "foreach", None, ["start"])


def test_nested_foreach():
    graph = graph_of("nested_foreach")
    assert list(graph.nodes) == ["start", "outer", "inner", "inner_join", "outer_join", "end"]
    s = summary(graph)
    # `outer` opens the inner foreach, closed by inner_join; start's is closed by outer_join
    assert s["outer"] == ("foreach", ["inner"], ["start"], None, "inner_join", ["start"])
    assert s["start"][4] == "outer_join"
    assert s["inner"][5] == ["start", "outer"]
    assert s["inner_join"] == ("join", ["outer_join"], ["inner"], "foreach", None,
                               ["start", "outer"])
    assert s["outer_join"] == ("join", ["end"], ["inner_join"], "foreach", None, ["start"])
    assert graph["outer"].foreach_var == "inner_items"


def test_foreach_containing_static_branch():
    s = summary(graph_of("foreach_branch"))
    assert s["body"] == ("split", ["left", "right"], ["start"], None, "branch_join", ["start"])
    assert s["left"][5] == ["start", "body"]
    assert s["branch_join"] == ("join", ["foreach_join"], ["left", "right"], "static", None,
                                ["start", "body"])
    assert s["foreach_join"] == ("join", ["end"], ["branch_join"], "foreach", None, ["start"])
    assert s["start"][4] == "foreach_join"


def test_mixin_steps_keep_their_file_and_lines():
    graph = graph_of("mixin")
    assert list(graph.nodes) == ["start", "work", "extra", "end"]
    base_lines = (FLOWS / "mixin_base.py").read_text().splitlines()
    start = graph["start"]
    assert start.file == str(FLOWS / "mixin_base.py")
    assert base_lines[start.func_lineno - 1].strip() == "def start(self):"
    work = graph["work"]
    assert work.file == str(FLOWS / "mixin.py") and work.out == ["extra"]
    assert graph.file == str(FLOWS / "mixin.py")
    assert "not_a_step" not in graph


def step(f):
    return f


def test_flow_defined_inside_a_function():
    class FlowSpec:
        pass

    class InnerFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            """Done."""

    graph = FlowGraph.from_flow(InnerFlow)
    assert [n.name for n in graph] == ["start", "end"]
    assert graph["end"].func_lineno == inspect.getsourcelines(InnerFlow.end)[1] + 1


def test_container_protocol_describe_and_to_dict():
    graph = graph_of("foreach")
    assert len(graph) == 4 and "train" in graph and "nope" not in graph
    assert isinstance(graph["train"], StepNode)
    assert [n.name for n in graph] == list(graph.nodes)
    with pytest.raises(KeyError):
        graph["nope"]
    text = graph.describe()
    assert "ForeachFlow" in text
    assert "=> train  (foreach over grid)" in text
    assert "closes the foreach at 'start'" in text
    branch_text = graph_of("branch").describe()
    assert "=> c, a, b" in branch_text and "join of c, a, b" in branch_text
    data = json.loads(json.dumps(graph.to_dict()))
    assert data["name"] == "ForeachFlow"
    assert [s["name"] for s in data["steps"]] == ["start", "train", "join", "end"]
    assert data["steps"][0]["foreach_var"] == "grid"
    assert data["steps"][2]["join_kind"] == "foreach"


# ---------------------------------------------------------------- errors

BAD_CASES = [
    # (fixture, words the message must contain)
    ("no_start", ["NoStartFlow", "no 'start' step"]),
    ("no_end", ["NoEndFlow", "no 'end' step"]),
    ("reserved", ["'index'", "reserved"]),
    ("no_next", ["'middle'", "self.next"]),
    ("doc_only", ["'middle'", "last statement"]),
    ("pass_only", ["'middle'", "last statement"]),
    ("end_next", ["'end'", "must not"]),
    ("next_string", ["'start'", "self.<step_name>"]),
    ("next_empty", ["'start'", "names no step"]),
    ("next_unknown", ["'start'", "transition to 'missing', which is not a step"]),
    ("next_twice", ["'start'", "'end' twice"]),
    ("foreach_variable", ["'start'", "foreach=items", "string literal"]),
    ("foreach_fstring", ["'start'", "string literal"]),
    ("foreach_attr", ["'start'", "foreach=self.items", "string literal"]),
    ("foreach_two", ["'start'", "exactly one target"]),
    ("num_parallel", ["'start'", "num_parallel=0", "whole number"]),
    ("condition", ["'start'", "condition=", "not a dict"]),
    ("next_unknown_kw", ["'start'", "when=1"]),
    ("join_single", ["'middle'", "only 'start' leads into it", "def middle(self):"]),
    ("join_no_inputs", ["'join'", "'a', 'b'", "def join(self, inputs):"]),
    ("join_single_in_foreach", ["'left'", "only 'body' leads into it"]),
    ("unreachable", ["'orphan'", "never run"]),
    ("cycle", ["a -> b -> a", "'b'", "cycle"]),
    ("never_joined", ["'start'", "never joined", "foreach over 'items'"]),
    ("mixed_splits", ["'join'", "different splits", "'outer_a'", "'start'"]),
    ("two_joins", ["'start'", "'join1'", "'join2'", "two different joins"]),
]


@pytest.mark.parametrize("stem,words", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_invalid_flow(stem, words):
    flow = load_flow(stem)
    with pytest.raises(GraphError) as info:
        FlowGraph.from_flow(flow)
    err = info.value
    line = error_line(stem)
    msg = str(err)
    assert f"{stem}.py:{line}" in msg, msg
    assert err.lineno == line
    assert "\n" not in msg
    for word in words:
        assert word in msg, (word, msg)


def test_every_bad_fixture_is_tested():
    marked = {p.stem for p in FLOWS.glob("*.py") if "# ERROR" in p.read_text()}
    assert marked == {c[0] for c in BAD_CASES}


def test_source_unavailable_is_a_graph_error():
    flow = type("DynFlow", (), {})
    with pytest.raises(GraphError, match="DynFlow"):
        FlowGraph.from_flow(flow)
