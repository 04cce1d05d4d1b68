"""A task's lineage, one level each way: what it read (and who produced that), and who produced its artifacts.

Node ids are those of lineage/graph.py (a task's pathspec; an artifact in the task that first produced
its value, `Flow/run/step/task/name`; a parameter `Flow/run/_parameters/name`). The page draws them as
an ECharts graph in four columns (producers, the values read or passed on, the task, the values it
made) and lists the same facts in tables; a node links to its task or artifact page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lineage.graph import ARTIFACT, PARAMETER, PARAMETERS_STEP, PRODUCED, READ, SHORT_KEY, TASK

if TYPE_CHECKING:
    from ..datastore import ArtifactRef
    from .task_lookup import FoundTask

MAX_NODES = 300  # a join of a wide foreach reads thousands of values: the graph shows this many, the tables all
PRODUCERS, VALUES, SUBJECT, MADE = range(4)  # the columns, left to right


class _Graph:
    """Nodes (id -> node dict, in order) and edges being gathered."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str, str], dict[str, Any]] = {}

    def node(self, node_id: str, kind: str, column: int, name: str | None = None, key: str | None = None) -> None:
        if node_id not in self.nodes:
            self.nodes[node_id] = {"id": node_id, "kind": kind, "column": column, "name": name,
                                   "label": _label(node_id, kind, name, key), "url": node_url(node_id, kind)}

    def edge(self, source: str, target: str, kind: str, via: str | None = None) -> None:
        self.edges.setdefault((source, target, kind), {"source": source, "target": target, "kind": kind, "via": via})


def task_lineage(found: FoundTask, artifacts: dict[str, ArtifactRef]) -> dict[str, Any]:
    """{nodes, edges, reads, made, shown_nodes, total_nodes}: the graph and the tables of the task's lineage."""
    me = found.pathspec
    run = me.rsplit("/", 2)[0]
    graph = _Graph()
    graph.node(me, TASK, SUBJECT)
    reads = found.ctx.meta.task_reads(*found.key)
    read_rows = []
    for read in reads:
        ids = _value_ids(run, read.name, read.producers)
        for producer, value_id in zip(read.producers or (None,), ids):
            _add_value(graph, value_id, read.name, read.key, producer, VALUES)
            graph.edge(value_id, me, READ, read.kind)
        read_rows.append({"name": read.name, "kind": read.kind, "key": read.key[:SHORT_KEY],
                          "nodes": [{"id": i, "url": node_url(i, _kind(read.producers))} for i in ids],
                          "source": read.source})
    producers = found.ctx.meta.artifact_producers(*found.key)
    made_rows = []
    for name, ref in sorted(artifacts.items()):
        owners = producers.get(name, ())
        ids = _value_ids(run, name, owners)
        for producer, value_id in zip(owners or (None,), ids):
            _add_value(graph, value_id, name, ref.key, producer, MADE if producer == me else VALUES)
        made_rows.append({"name": name, "here": owners == (me,), "producers": [
            {"id": p, "url": node_url(p, TASK)} for p in owners]})
    nodes = list(graph.nodes.values())
    shown = {n["id"] for n in nodes[:MAX_NODES]}
    edges = [e for e in graph.edges.values() if e["source"] in shown and e["target"] in shown]
    return {"subject": me, "nodes": _placed(nodes[:MAX_NODES]), "edges": edges, "reads": read_rows,
            "made": made_rows, "total_nodes": len(nodes)}


def _add_value(graph: _Graph, value_id: str, name: str, key: str, producer: str | None, column: int) -> None:
    """A value node and, when it has one, its producer with the `produced` edge."""
    graph.node(value_id, PARAMETER if producer is None else ARTIFACT, column, name, key)
    if producer is not None:
        graph.node(producer, TASK, SUBJECT if producer == graph_subject(graph) else PRODUCERS)
        graph.edge(producer, value_id, PRODUCED)


def graph_subject(graph: _Graph) -> str:
    """The task the graph is about: its first node."""
    return next(iter(graph.nodes))


def _value_ids(run: str, name: str, producers: tuple[str, ...]) -> list[str]:
    return [f"{p}/{name}" for p in producers] if producers else [f"{run}/{PARAMETERS_STEP}/{name}"]


def _kind(producers: tuple[str, ...]) -> str:
    return ARTIFACT if producers else PARAMETER


def node_url(node_id: str, kind: str) -> str | None:
    """Where a node's page is: a task's or an artifact's (a parameter: its run's)."""
    parts = node_id.split("/")
    if kind == TASK:
        return "/task/" + node_id
    if kind == ARTIFACT:
        return "/artifact/" + node_id
    return f"/run/{parts[0]}/{parts[1]}"


def _label(node_id: str, kind: str, name: str | None, key: str | None) -> str:
    if kind == TASK:
        flow, run_id, step, task_id = node_id.split("/")
        return f"{step}/{task_id}"
    short = (key or "")[:SHORT_KEY]
    return f"{'parameter ' if kind == PARAMETER else ''}{name} · {short}"


def _placed(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each node x/y: its column left to right, rows centred in the column."""
    columns: dict[int, list[dict[str, Any]]] = {}
    for node in nodes:
        columns.setdefault(node["column"], []).append(node)
    tallest = max((len(c) for c in columns.values()), default=1)
    for column, members in columns.items():
        top = (tallest - len(members)) / 2
        for row, node in enumerate(members):
            node["x"] = column * 260
            node["y"] = (top + row) * 60
    return nodes
