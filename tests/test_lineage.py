"""Lineage: task.reads, artifact.produced_by/producers, artifact.lineage() and `artiflow lineage`, over real runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from artiflow.client import DataArtifact, Flow, Run, Task, namespace
from artiflow.client import context as client_context
from artiflow.cli import lineage as lineage_cli
from artiflow.datastore import ArtifactRef
from artiflow.lineage.graph import Edge, LineageError, LineageGraph, Node, mermaid_text
from artiflow.lineage.records import Read
from conftest import REPO, ok, run_flow

PASSING_STEPS = 9  # start -> p1 ... p9: `value` goes through unchanged; p3 and p8 read it

CHAIN = '''
from artiflow import FlowSpec, Parameter, merge_artifacts, step


class ChainFlow(FlowSpec):
    alpha = Parameter("alpha", default=3, type=int)

    @step
    def start(self):
        self.value = {"kept": "unchanged"}
        self.grid = [1, 2, 3]
        self.next(self.p1)
''' + "".join(f'''
    @step
    def p{i}(self):
        {"self.seen = len(self.value)" if i == 3 else "assert self.value['kept']" if i == 8 else "pass"}
        self.next(self.{f"p{i + 1}" if i < PASSING_STEPS else "a, self.b"})
''' for i in range(1, PASSING_STEPS + 1)) + '''
    @step
    def a(self):
        self.shared = "same in both branches"
        self.mine = self.alpha * 2
        self.next(self.join)

    @step
    def b(self):
        self.shared = "same in both branches"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.made = inputs.a.mine + 1
        self.merge_artifacts(inputs)
        self.next(self.fan)

    @step
    def fan(self):
        self.next(self.each, foreach="grid")

    @step
    def each(self):
        self.sq = self.input * self.alpha
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.total = sum(i.sq for i in inputs)
        merge_artifacts(self, inputs)  # every name all inputs have, as the list of its values
        self.made = inputs[0].made     # the join's value again: still the join's
        self.next(self.end)

    @step
    def end(self):
        self.result = self.total + self.made


if __name__ == "__main__":
    ChainFlow()
'''

READER = '''
from artiflow import FlowSpec, Run, namespace, step


class ReaderFlow(FlowSpec):
    @step
    def start(self):
        namespace(None)  # ChainFlow ran as another user
        self.upstream = Run("ChainFlow/1")["end"].task.data.result
        self.doubled = self.upstream * 2
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ReaderFlow()
'''


def write_flow(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def runs(request, tmp_path_factory):
    """ChainFlow/1 (user other, --cache), ChainFlow/2 (its cache hits), then ReaderFlow/1 (user tester) reading 1;
    recorded in the root's SQLite file, then again in a PostgreSQL database (lineage is read with SQL of both)."""
    home = tmp_path_factory.mktemp("lineage")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARTIFLOW_ROOT", str(home / ".artiflow"))
        for name in ("METAFLOW_USER", "ARTIFLOW_DATASTORE_ROOT", "ARTIFLOW_METADATA_URL", "METAFLOW_DATASTORE",
                     "METAFLOW_DATATOOLS_S3ROOT"):
            patch.delenv(name, raising=False)
        if request.param == "postgresql":
            patch.setenv("ARTIFLOW_METADATA_URL", request.getfixturevalue("pg_server").new_schema())
        chain = write_flow(home / "chain", "chain.py", CHAIN)
        for _ in range(2):
            ok(run_flow(chain, "run", "--cache", env={"ARTIFLOW_USER": "other"}))
        ok(run_flow(write_flow(home / "reader", "reader.py", READER), "run", env={"ARTIFLOW_USER": "tester"}))
        patch.setenv("ARTIFLOW_USER", "tester")
        client_context.clear_cache()
        yield home
        client_context.clear_cache()


@pytest.fixture(autouse=True)
def own_namespace(monkeypatch):
    """Each test starts in the default namespace, and what it sets (namespace(None)) does not outlive it."""
    monkeypatch.setattr(client_context, "_namespace", client_context._UNSET)


@pytest.fixture
def chain(runs):
    """ChainFlow/1, seen from user tester's namespace (the run is another user's)."""
    return Run("ChainFlow/1", _namespace_check=False)


def only(run: Run, step: str) -> Task:
    return run[step].task


def reads_named(task: Task, name: str) -> list:
    return [r for r in task.reads if r.name == name]


# -- what is recorded, read back through the client ----------------------------------------------------------
def test_a_value_passed_unchanged_through_many_steps_has_one_producer(chain):
    start = only(chain, "start")
    for step in [f"p{i}" for i in range(1, PASSING_STEPS + 1)] + ["a", "b", "join", "fan"]:
        artifact = only(chain, step)["value"]
        assert artifact.producer_pathspecs == (start.pathspec,), step
        assert artifact.produced_by == start and [t.pathspec for t in artifact.producers] == [start.pathspec]


def test_steps_that_read_a_passed_value_name_its_first_producer(chain):
    start = only(chain, "start")
    for step in ("p3", "p8"):
        (read,) = reads_named(only(chain, step), "value")
        assert read.kind == "artifact" and read.source is None
        assert read.producer_pathspecs == (start.pathspec,) and read.produced_by == start
        assert read.sha == read.key == start["value"].sha
    assert reads_named(only(chain, "p5"), "value") == []  # a step that never touched it read nothing
    assert only(chain, "p4")["seen"].produced_by == only(chain, "p3")


def test_a_value_merged_in_a_join_names_every_producer(chain):
    a, b, join = only(chain, "a"), only(chain, "b"), only(chain, "join")
    shared = join["shared"]
    assert shared.producer_pathspecs == (a.pathspec, b.pathspec)
    assert shared.produced_by == a and shared.producers == [a, b]
    assert join["mine"].producer_pathspecs == (a.pathspec,)  # only one branch had it
    graph = shared.lineage()
    assert graph.heads == (f"{a.pathspec}/shared", f"{b.pathspec}/shared")
    assert {(e.source, e.target) for e in graph if e.kind == "produced"} >= {
        (a.pathspec, f"{a.pathspec}/shared"), (b.pathspec, f"{b.pathspec}/shared")}


def test_a_value_set_in_a_join_or_by_the_module_merge_has_the_join_as_producer(chain):
    join, gather = only(chain, "join"), only(chain, "gather")
    assert join["made"].producer_pathspecs == (join.pathspec,)
    assert gather["total"].produced_by == gather
    assert gather["sq"].data == [3, 6, 9] and gather["sq"].produced_by == gather  # merge_artifacts(self, inputs)
    (mine,) = reads_named(join, "mine")  # what a join read from its inputs is its own read
    assert mine.producer_pathspecs == (only(chain, "a").pathspec,)


def test_each_foreach_child_reads_the_foreach_list(chain):
    start = only(chain, "start")
    children = list(chain["each"])
    assert len(children) == 3
    for child in children:
        (grid,) = reads_named(child, "grid")
        assert grid.kind == "foreach" and grid.sha == start["grid"].sha
        assert grid.producer_pathspecs == (start.pathspec,)
    gathered = reads_named(only(chain, "gather"), "sq")
    assert sorted(r.producer_pathspecs for r in gathered) == sorted((c.pathspec,) for c in children)


def test_a_parameter_read_is_a_root(chain):
    (alpha,) = reads_named(only(chain, "a"), "alpha")
    assert alpha.kind == "parameter" and alpha.producer_pathspecs == () and alpha.producers == []
    assert alpha.produced_by is None
    parameter = only(chain, "start")["alpha"]
    assert parameter.produced_by is None and parameter.producers == []
    graph = parameter.lineage()
    assert [(n.id, n.kind) for n in graph.nodes] == [("ChainFlow/1/_parameters/alpha", "parameter")]
    assert list(graph) == [] and graph.heads == ("ChainFlow/1/_parameters/alpha",)
    assert graph.to_tree() == [f"{parameter.pathspec}  key {parameter.sha[:8]}",
                               "└── a parameter (or constant, config): no producer, a root"]


def test_a_client_read_inside_a_step_is_recorded_with_its_source(runs):
    # the default namespace, user:tester: ChainFlow's tasks are in another one
    start = Flow("ReaderFlow").latest_run["start"].task
    (read,) = [r for r in start.reads if r.kind == "client"]
    end = Run("ChainFlow/1", _namespace_check=False)["end"].task
    assert read.name == "result" and read.source == f"{end.pathspec}/result" and read.sha == end["result"].sha
    assert read.producer_pathspecs == (end.pathspec,)
    assert read.produced_by.pathspec == end.pathspec and read.produced_by.data.result == 25
    assert start["doubled"].produced_by == start


def test_a_step_cache_hit_says_where_it_came_from_and_keeps_the_first_producer(runs):
    namespace(None)
    first, second = Run("ChainFlow/1"), Run("ChainFlow/2")
    end1, end2 = first["end"].task, second["end"].task
    assert end1.cached_from is None and end2.cached_from == end1.pathspec
    assert end2["result"].produced_by == end1
    assert [(r.name, r.sha, r.producer_pathspecs) for r in end2.reads] == \
           [(r.name, r.sha, r.producer_pathspecs) for r in end1.reads]


# -- lineage graphs --------------------------------------------------------------------------------------------
def test_the_lineage_of_an_end_artifact_reaches_the_parameters(chain):
    tasks = {step: only(chain, step).pathspec for step in ("start", "p3", "a", "b", "join", "gather", "end")}
    children = [t.pathspec for t in chain["each"]]
    graph = chain["end"].task["result"].lineage()
    assert graph.subject == f"{tasks['end']}/result" and graph.heads == (f"{tasks['end']}/result",)
    # the module-level merge in gather read every artifact its inputs share: seen (p3), shared (a and b), ...
    assert {n.id for n in graph.of_kind("task")} == {*tasks.values(), *children}
    assert [n.id for n in graph.of_kind("parameter")] == ["ChainFlow/1/_parameters/alpha"]
    edges = {(e.source, e.target, e.kind, e.via) for e in graph}
    assert {(tasks["end"], f"{tasks['end']}/result", "produced", None),
            (f"{tasks['gather']}/total", tasks["end"], "read", "artifact"),
            (f"{tasks['join']}/made", tasks["end"], "read", "artifact"),
            (f"{tasks['a']}/mine", tasks["join"], "read", "artifact"),
            ("ChainFlow/1/_parameters/alpha", tasks["a"], "read", "parameter")} <= edges
    for child in children:
        assert (f"{tasks['start']}/grid", child, "read", "foreach") in edges
        assert (f"{child}/sq", tasks["gather"], "read", "artifact") in edges
    assert all(isinstance(e, Edge) for e in graph) and len(graph) == len(edges) and not graph.truncated


def test_depth_counts_task_levels(chain):
    artifact = chain["end"].task["result"]
    levels = [artifact.lineage(depth) for depth in (0, 1, 2, 3)]
    # end; + gather, join; + each x3, start, a, b, p3 (what gather's merge and join read)
    assert [len(g.of_kind("task")) for g in levels] == [0, 1, 3, 10]
    assert levels[0].nodes == [Node(artifact.pathspec, "artifact", "result", artifact.sha)] and list(levels[0]) == []
    assert levels[0].truncated == {artifact.pathspec}
    assert not levels[2].of_kind("parameter") and levels[3].of_kind("parameter")
    assert f"{only(chain, 'a').pathspec}/mine" in levels[2].truncated
    assert artifact.lineage(None).edges == artifact.lineage(50).edges and artifact.lineage(50).depth == 50
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(LineageError, match=r"depth must be a whole number 0 or more .* got "):
            artifact.lineage(bad)


def test_lineage_crosses_runs_and_flows_through_client_reads(runs):
    graph = Flow("ReaderFlow").latest_run["start"].task["doubled"].lineage()
    end = Run("ChainFlow/1", _namespace_check=False)["end"].task
    assert (f"{end.pathspec}/result", graph.heads[0].rsplit("/", 1)[0], "read", "client") in \
           {(e.source, e.target, e.kind, e.via) for e in graph}
    assert "ChainFlow/1/_parameters/alpha" in graph


def test_mermaid_is_well_formed_and_has_every_edge(chain):
    graph = chain["end"].task["result"].lineage()
    text = graph.to_mermaid()
    lines = text.splitlines()
    assert lines[0] == "graph LR"
    ids = {node.id: f"n{number}" for number, node in enumerate(graph.nodes)}
    shape = re.compile(r'^  n\d+(\["[^"]*"\]|\("[^"]*"\)|\(\["[^"]*"\]\))$')
    node_lines = [line for line in lines[1:] if re.match(r"^  n\d+[\[(]", line)]
    assert len(node_lines) == len(graph.nodes) and all(shape.match(line) for line in node_lines)
    for edge in graph:
        arrow = r"-->" if edge.via != "client" else r"-\.->"
        assert re.search(rf'^  {ids[edge.source]} {arrow}(\|"[a-z]+"\|)? {ids[edge.target]}$', text, re.M), edge
    for opening, closing in ("[]", "()", "{}"):
        assert text.count(opening) == text.count(closing)


def test_mermaid_labels_are_escaped():
    assert mermaid_text('a "b" <c> #d & `e`') == "a #quot;b#quot; #lt;c#gt; #35;d #amp; #96;e#96;"
    graph = one_node_graph("F/1/s/1/x", 'x"<y>', "k" * 32)
    assert '"' not in graph.to_mermaid().splitlines()[1].split('("', 1)[1].rsplit('")', 1)[0]


def one_node_graph(node_id: str, name: str, key: str) -> LineageGraph:
    """A graph of one artifact node, built from its JSON form (names the client never makes, to test escaping)."""
    return LineageGraph.from_json({"subject": node_id, "depth": 0, "heads": [node_id], "truncated": [node_id],
                                   "nodes": [{"id": node_id, "kind": "artifact", "name": name, "key": key}],
                                   "edges": []})


def test_dot_quotes_every_id_and_has_every_edge(chain):
    graph = chain["end"].task["result"].lineage()
    text = graph.to_dot()
    lines = text.splitlines()
    assert lines[0] == "digraph lineage {" and lines[-1] == "}"
    for node in graph.nodes:
        assert f'  "{node.id}" [shape=' in text
    for edge in graph:
        assert f'  "{edge.source}" -> "{edge.target}" [label=' in text
    for line in lines:
        assert len(re.findall(r'(?<!\\)"', line)) % 2 == 0, line  # every quoted string is closed
    assert text.count("{") == text.count("}") and text.count("[") == text.count("]")
    odd = one_node_graph('F/1/s/1/x"y', 'x"y\\', "k")
    assert '"F/1/s/1/x\\"y" [shape=ellipse, label="x\\"y\\\\\\nk from F/1/s/1"];' in odd.to_dot()


def test_the_tree_shows_each_task_once(chain):
    lines = chain["end"].task["result"].lineage().to_tree()
    start = only(chain, "start").pathspec
    assert lines[0].startswith(f"{only(chain, 'end').pathspec}/result  key ")
    assert lines[1] == f"└── produced by {only(chain, 'end').pathspec}"
    assert sum(line.endswith(f"produced by {start}") for line in lines) == 1
    assert sum(line.endswith(f"produced by {start}  (see above)") for line in lines) >= 3  # each x3 read grid
    assert any(line.strip(" │├└─").startswith("reads parameter alpha  key ") for line in lines)
    assert any("reads grid (foreach)  key " in line for line in lines)
    shallow = chain["end"].task["result"].lineage(1).to_tree()
    assert any(line.endswith(f"produced by {only(chain, 'gather').pathspec}  (beyond depth 1)") for line in shallow)


def test_a_lineage_graph_survives_json(chain):
    graph = chain["join"].task["shared"].lineage()
    doc = json.loads(json.dumps(graph.to_json()))
    assert LineageGraph.from_json(doc) == graph and doc["heads"] == list(graph.heads)


# -- the CLI -----------------------------------------------------------------------------------------------------
def artiflow(*args: str) -> subprocess.CompletedProcess:
    """The real `artiflow` command, in a subprocess, as user tester."""
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "ARTIFLOW_USER": "tester"}
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_cli_json_round_trips(chain):
    artifact = chain["end"].task["result"]
    out = ok(artiflow("lineage", artifact.pathspec, "--format", "json", "--depth", "2"))
    assert LineageGraph.from_json(json.loads(out.stdout)) == artifact.lineage(2)
    assert json.loads(out.stdout) == artifact.lineage(2).to_json()


def test_cli_formats(chain):
    artifact = chain["end"].task["result"]
    tree = ok(artiflow("lineage", artifact.pathspec))
    assert tree.stdout.splitlines() == artifact.lineage().to_tree()
    for form, method in (("mermaid", "to_mermaid"), ("dot", "to_dot")):
        out = ok(artiflow("lineage", artifact.pathspec, "--format", form))
        assert out.stdout == getattr(artifact.lineage(), method)()


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("artiflow")
    lineage_cli.register(group)
    return group


def fails(cli: click.Group, *args: str) -> str:
    """Run `artiflow ARGS` in process: exit code 1, a message on stderr, no traceback; the message."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    return result.stderr


def test_cli_refuses_a_task_pathspec_and_lists_its_artifacts(chain, cli):
    end = only(chain, "end")
    message = fails(cli, "lineage", end.pathspec)
    assert f"'{end.pathspec}' names a task; lineage needs an artifact pathspec, Flow/run/step/task/artifact" in message
    assert f"Artifacts of {end.pathspec}: " in message and "result" in message and f"{end.pathspec}/" in message


def test_cli_refuses_shorter_pathspecs(chain, cli):
    for pathspec, kind in (("ChainFlow", "flow"), ("ChainFlow/1", "run"), ("ChainFlow/1/end", "step")):
        message = fails(cli, "lineage", pathspec)
        assert f"'{pathspec}' names a {kind}; lineage needs an artifact pathspec, Flow/run/step/task/artifact" \
               in message
        assert f"artiflow show {pathspec}" in message
    assert "here ChainFlow/1/end/task/artifact" in fails(cli, "lineage", "ChainFlow/1/end")


def test_cli_unknown_artifact_flow_and_bad_depth(chain, cli):
    end = only(chain, "end")
    message = fails(cli, "lineage", f"{end.pathspec}/nope")
    assert f"Artifact nope does not exist in task {end.pathspec}; artifacts: " in message and "result" in message
    assert "Flow NoSuchFlow does not exist" in fails(cli, "lineage", "NoSuchFlow/1/start/1/x")
    message = fails(cli, "lineage", f"{end.pathspec}/result", "--depth", "-1")
    assert "--depth -1 is not possible: give 0 or more task levels to go back" in message


# -- scale ---------------------------------------------------------------------------------------------------------
def test_a_thousand_task_foreach_is_fast(tmp_path, monkeypatch):
    """The lineage of a join's artifact over 1,000 foreach tasks, recorded through the metadata API."""
    from artiflow.metadata import open_metadata

    monkeypatch.setenv("ARTIFLOW_ROOT", str(tmp_path / ".artiflow"))
    monkeypatch.setenv("ARTIFLOW_USER", "tester")
    monkeypatch.delenv("ARTIFLOW_METADATA_URL", raising=False)  # the runs fixture may have set PostgreSQL's
    client_context.clear_cache()
    meta = open_metadata(f"sqlite:///{tmp_path / '.artiflow' / 'metadata.db'}")
    run_id = meta.new_run("BigFlow", "tester", [], {})
    ref = lambda key: ArtifactRef(key.ljust(32, "0"), "pickle", "int", 1)  # noqa: E731
    start = f"BigFlow/{run_id}/start/1"
    record(meta, run_id, "start", 1, {"grid": ref("a")}, {"grid": (start,)}, [Read("n", ref("b").key, (), "parameter")])
    for task_id in range(2, 1002):
        record(meta, run_id, "each", task_id, {"sq": ref(f"c{task_id}")}, {"sq": (f"BigFlow/{run_id}/each/{task_id}",)},
               [Read("grid", ref("a").key, (start,), "foreach"), Read("n", ref("b").key, (), "parameter")])
    reads = [Read("sq", ref(f"c{t}").key, (f"BigFlow/{run_id}/each/{t}",)) for t in range(2, 1002)]
    join = f"BigFlow/{run_id}/join/1002"
    record(meta, run_id, "join", 1002, {"total": ref("d")}, {"total": (join,)}, reads)
    began = time.perf_counter()
    graph = DataArtifact(f"{join}/total").lineage()
    lines = graph.to_tree()
    text = graph.to_mermaid() + graph.to_dot()
    elapsed = time.perf_counter() - began
    assert len(graph.of_kind("task")) == 1002 and len(lines) > 3000 and text
    assert elapsed < 3.0, f"lineage of a 1,000-task foreach took {elapsed:.2f} s"
    client_context.clear_cache()


def record(meta, run_id: int, step: str, task_id: int, artifacts: dict, producers: dict, reads: list) -> None:
    meta.start_task("BigFlow", run_id, step, task_id, 0, [], [])
    meta.finish_task("BigFlow", run_id, step, task_id, 0, "succeeded", artifacts, None, None, None,
                     producers=producers, reads=reads)
