"""Lineage graphs: the tasks and artifacts behind one artifact's value, found by walking recorded reads backwards.

Node ids are plain strings, the same in Python, JSON, DOT and the tree:

- a task: its pathspec, `Flow/run/step/task`;
- an artifact: `Flow/run/step/task/name`, the artifact *in the task that first produced the value*, not
  in the tasks that only passed it on. A value a join merged from several branches (set identically in
  each) has one node per producer: `Flow/1/a/2/x` and `Flow/1/b/3/x`;
- a parameter (or constant, config, included file: any value without a producer, a root):
  `Flow/run/_parameters/name`, in the run of the task that read it.

Edges go with time: `task -> artifact` ("produced") and `artifact -> task` ("read"; `via` says how:
artifact, parameter, foreach, client). Walking from artifact A: A's producers, the artifacts each
producer read, their producers, and so on; `depth` counts task levels (0: only A's own node(s)).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..exceptions import ArtiflowException
from .records import ARTIFACT as READ_ARTIFACT, CLIENT, FOREACH, Producers, Read

if TYPE_CHECKING:
    from ..metadata import MetadataStore

TASK, ARTIFACT, PARAMETER = "task", "artifact", "parameter"   # node kinds
PRODUCED, READ = "produced", "read"                             # edge kinds
PARAMETERS_STEP = "_parameters"                                  # the pseudo step of parameter node ids
SHORT_KEY = 8                                                    # key characters shown in labels


class LineageError(ArtiflowException):
    """A lineage graph was asked for in a way that cannot work (a negative depth, say)."""

    headline = "Invalid lineage request"


@dataclass(frozen=True)
class Node:
    """A task, an artifact (in the task that first produced its value) or a parameter (a root)."""

    id: str
    kind: str
    name: str | None = None   # the artifact's or parameter's name (None for a task)
    key: str | None = None    # the value's content key (None for a task)

    @property
    def short_key(self) -> str:
        """The first characters of the content key, as labels show it."""
        return (self.key or "")[:SHORT_KEY]


@dataclass(frozen=True)
class Edge:
    """`source -> target`: a task produced an artifact, or an artifact was read by a task (`via` says how)."""

    source: str
    target: str
    kind: str
    via: str | None = None


@dataclass
class LineageGraph:
    """The artifacts and tasks behind `subject` (an artifact pathspec); iterate it for its edges.

    `heads` are the node ids of the subject's value (one per producer, or its parameter node);
    `truncated` are the artifacts whose producers `depth` left out.
    """

    subject: str
    depth: int | None = None
    heads: tuple[str, ...] = ()
    truncated: set[str] = field(default_factory=set)
    _nodes: dict[str, Node] = field(default_factory=dict)
    _edges: dict[Edge, None] = field(default_factory=dict)

    # -- reading ---------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Edge]:
        return iter(list(self._edges))

    def __len__(self) -> int:
        return len(self._edges)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    @property
    def nodes(self) -> list[Node]:
        """Every node, in the order the walk met them."""
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        """Every edge, in the order the walk met them (the same as iterating the graph)."""
        return list(self._edges)

    def node(self, node_id: str) -> Node:
        """The node with this id (KeyError when the graph does not have it)."""
        return self._nodes[node_id]

    def of_kind(self, kind: str) -> list[Node]:
        """The nodes of one kind: "task", "artifact" or "parameter"."""
        return [n for n in self._nodes.values() if n.kind == kind]

    def producers_of(self, artifact_id: str) -> list[str]:
        """The task(s) the graph shows producing an artifact (none for a parameter or a truncated one)."""
        return [e.source for e in self._edges if e.kind == PRODUCED and e.target == artifact_id]

    def reads_of(self, task_id: str) -> list[Edge]:
        """The read edges into a task: what it read, in the order it read it."""
        return [e for e in self._edges if e.kind == READ and e.target == task_id]

    # -- building (the walk below) ------------------------------------------------------------------------
    def _add_node(self, node: Node) -> None:
        self._nodes.setdefault(node.id, node)

    def _add_edge(self, edge: Edge) -> None:
        self._edges.setdefault(edge, None)

    # -- renderings ------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The graph as JSON-ready data: subject, depth, heads, nodes, edges, truncated."""
        return {"subject": self.subject, "depth": self.depth, "heads": list(self.heads),
                "nodes": [asdict(n) for n in self._nodes.values()],
                "edges": [asdict(e) for e in self._edges], "truncated": sorted(self.truncated)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LineageGraph:
        """The graph `to_json` described (e.g. read back from `artiflow lineage --format json`)."""
        graph = cls(doc["subject"], doc["depth"], tuple(doc["heads"]), set(doc["truncated"]))
        for item in doc["nodes"]:
            graph._add_node(Node(**item))
        for item in doc["edges"]:
            graph._add_edge(Edge(**item))
        return graph

    def to_mermaid(self) -> str:
        """Mermaid `graph LR` text: quoted, escaped labels; tasks boxes, artifacts rounded, client reads dashed."""
        return mermaid(self)

    def to_dot(self) -> str:
        """Graphviz DOT text, every id and label quoted."""
        return dot(self)

    def to_tree(self) -> list[str]:
        """The graph as an indented tree, subject first (the lines `artiflow lineage` prints)."""
        return tree(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LineageGraph) and other.to_json() == self.to_json()

    def __repr__(self) -> str:
        return f"<LineageGraph of {self.subject}: {len(self._nodes)} nodes, {len(self._edges)} edges>"


# -- the walk ---------------------------------------------------------------------------------------------
def build_lineage(meta: MetadataStore, subject: str, key: str, producers: Producers, depth: int | None = None) -> LineageGraph:
    """The lineage graph of artifact `subject` (value `key`, first produced by `producers`), `depth` task levels back.

    Reads are fetched one level at a time, and each task's only once (the DAG of a foreach shares
    its upstream tasks), so a graph of N tasks costs N small indexed queries.
    """
    check_depth(depth)
    flow, run_id, _, _, name = subject.split("/")
    graph = LineageGraph(subject, depth)
    frontier = _add_value(graph, name, key, producers, f"{flow}/{run_id}", follow=depth != 0)
    graph.heads = tuple(_value_ids(name, producers, f"{flow}/{run_id}"))
    seen = set(frontier)
    level = 1
    while frontier:
        follow = depth is None or level < depth
        found: list[str] = []
        for task, reads in task_reads(meta, frontier).items():
            for read in reads:
                found += _add_read(graph, task, read, follow)
        frontier = [t for t in dict.fromkeys(found) if t not in seen]
        seen.update(frontier)
        level += 1
    return graph


def check_depth(depth: object) -> None:
    """Refuse a depth that is not None or a whole number 0 or more."""
    if depth is None or (isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0):
        return
    raise LineageError(f"depth must be a whole number 0 or more (how many task levels to go back), or None to go "
                       f"back to the roots; got {depth!r}.")


def task_reads(meta: MetadataStore, tasks: Iterable[str]) -> dict[str, list[Read]]:
    """The recorded reads of each task pathspec (none for a task that recorded none)."""
    found = {}
    for pathspec in tasks:
        flow, run_id, step, task_id = pathspec.split("/")
        found[pathspec] = meta.task_reads(flow, int(run_id), step, int(task_id))
    return found


def _value_ids(name: str, producers: Producers, run: str) -> list[str]:
    """The node ids of a value: one per producer, or its parameter node when it has none."""
    if not producers:
        return [f"{run}/{PARAMETERS_STEP}/{name}"]
    return [f"{producer}/{name}" for producer in producers]


def _add_value(graph: LineageGraph, name: str, key: str, producers: Producers, run: str, follow: bool) -> list[str]:
    """Add a value's node(s) and, when `follow`, its producer tasks; the producers to walk next."""
    if not producers:
        graph._add_node(Node(_value_ids(name, producers, run)[0], PARAMETER, name, key))
        return []
    for producer, node_id in zip(producers, _value_ids(name, producers, run)):
        graph._add_node(Node(node_id, ARTIFACT, name, key))
        if follow:
            graph._add_node(Node(producer, TASK))
        if producer in graph:  # also a task reached another way before the depth ran out
            graph._add_edge(Edge(producer, node_id, PRODUCED))
        else:
            graph.truncated.add(node_id)
    return list(producers) if follow else []


def _add_read(graph: LineageGraph, task: str, read: Read, follow: bool) -> list[str]:
    """Add what `task` read (and who produced it, when `follow`); the producers to walk next."""
    run = task.rsplit("/", 2)[0]
    producers = _add_value(graph, read.name, read.key, read.producers, run, follow)
    for node_id in _value_ids(read.name, read.producers, run):
        graph._add_edge(Edge(node_id, task, READ, read.kind))
    return producers


def dumps(graph: LineageGraph) -> str:
    """The graph's JSON text, as `artiflow lineage --format json` prints it."""
    return json.dumps(graph.to_json(), indent=2)


# -- renderings ---------------------------------------------------------------------------------------------
MERMAID_SHAPES = {TASK: ('["', '"]'), ARTIFACT: ('("', '")'), PARAMETER: ('(["', '"])')}
MERMAID_ESCAPES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}
MERMAID_STYLES = {TASK: "fill:#eef3ff,stroke:#4a6fb5", ARTIFACT: "fill:#f4fbef,stroke:#5b9a3c",
                  PARAMETER: "fill:#fff6e0,stroke:#b58a2a"}
DOT_SHAPES = {TASK: "box", ARTIFACT: "ellipse", PARAMETER: "parallelogram"}


def producer_of(artifact_id: str) -> str:
    """The task pathspec inside an artifact node id (`Flow/run/step/task/name` -> `Flow/run/step/task`)."""
    return artifact_id.rsplit("/", 1)[0]


def label_lines(node: Node) -> list[str]:
    """What a node's label says: a task's pathspec; an artifact's name, key and producer; a parameter's name."""
    if node.kind == TASK:
        return [node.id]
    if node.kind == PARAMETER:
        return [f"{node.name}", f"parameter {node.short_key}"]
    return [f"{node.name}", f"{node.short_key} from {producer_of(node.id)}"]


def mermaid_text(text: str) -> str:
    """Text made safe inside a quoted Mermaid label (entity codes for quotes, brackets, #, &, backticks)."""
    return "".join(MERMAID_ESCAPES.get(char, char) for char in text)


def mermaid(graph: LineageGraph) -> str:
    """Mermaid `graph LR` text; node ids are n0, n1, ... and the labels carry the lineage ids."""
    ids = {node.id: f"n{number}" for number, node in enumerate(graph.nodes)}
    lines = ["graph LR"]
    for node in graph.nodes:
        opening, closing = MERMAID_SHAPES[node.kind]
        lines.append(f"  {ids[node.id]}{opening}{'<br/>'.join(map(mermaid_text, label_lines(node)))}{closing}")
    for edge in graph.edges:
        arrow = "-.->" if edge.via == CLIENT else "-->"
        label = f'|"{mermaid_text(edge.via)}"|' if edge.via in (CLIENT, FOREACH) else ""
        lines.append(f"  {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
    for kind, style in MERMAID_STYLES.items():
        members = [ids[node.id] for node in graph.of_kind(kind)]
        if members:
            lines += [f"  classDef {kind} {style}", f"  class {','.join(members)} {kind}"]
    return "\n".join(lines) + "\n"


def dot_quoted(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, newlines as \n."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def edge_label(edge: Edge) -> str:
    """`produced`, `read`, or how an unusual read happened: `read (client)`, `read (foreach)`, `read (parameter)`."""
    if edge.kind == PRODUCED or edge.via in (None, READ_ARTIFACT):
        return edge.kind
    return f"{edge.kind} ({edge.via})"


def dot(graph: LineageGraph) -> str:
    """Graphviz DOT text; node ids are the lineage ids, quoted."""
    lines = ["digraph lineage {", "  rankdir=LR;", f"  label={dot_quoted('lineage of ' + graph.subject)};"]
    for node in graph.nodes:
        label = dot_quoted("\n".join(label_lines(node)))
        lines.append(f"  {dot_quoted(node.id)} [shape={DOT_SHAPES[node.kind]}, label={label}];")
    for edge in graph.edges:
        style = ", style=dashed" if edge.via == CLIENT else ""
        lines.append(f"  {dot_quoted(edge.source)} -> {dot_quoted(edge.target)} "
                     f"[label={dot_quoted(edge_label(edge))}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


TreeItem = tuple[str, str, "str | None"]   # (what: task / value / beyond, node id, how it was read)
BEYOND = "beyond"                           # a producer the depth left out


def _value_items(graph: LineageGraph, node_id: str, index: _Index) -> list[TreeItem]:
    """The tree children of a value: its producer tasks, or a note that the depth stopped before them."""
    if node_id in graph.truncated:
        return [(BEYOND, producer_of(node_id), None)]
    return [(TASK, task, None) for task in index.producers.get(node_id, [])]


def _tree_item(graph: LineageGraph, item: TreeItem, index: _Index, shown: set[str]) -> tuple[str, list[TreeItem]]:
    """One tree line and its children; a task already shown above is not expanded again."""
    what, node_id, via = item
    if what == BEYOND:
        return f"produced by {node_id}  (beyond depth {graph.depth})", []
    if what == TASK:
        if node_id in shown:
            return f"produced by {node_id}  (see above)", []
        shown.add(node_id)
        return f"produced by {node_id}", [(ARTIFACT, e.source, e.via) for e in index.reads.get(node_id, [])]
    node = graph.node(node_id)
    if node.kind == PARAMETER:
        return f"reads parameter {node.name}  key {node.short_key}", []
    how = "" if via in (None, READ_ARTIFACT) else f" ({via})"
    return f"reads {node.name}{how}  key {node.short_key}", _value_items(graph, node_id, index)


def _root_items(graph: LineageGraph, index: _Index) -> list[TreeItem]:
    """The tree children of the subject: its value's producers, or the note that it is a parameter."""
    items: list[TreeItem] = []
    for head in graph.heads:
        if graph.node(head).kind == PARAMETER:
            items.append((PARAMETER, head, None))
        else:
            items += _value_items(graph, head, index)
    return items


def tree(graph: LineageGraph) -> list[str]:
    """The graph as an indented tree: the subject, who produced it, what they read, who produced that..."""
    index = _Index(graph)
    key = graph.node(graph.heads[0]).short_key if graph.heads else ""
    lines = [f"{graph.subject}  key {key}"]
    shown: set[str] = set()
    stack = [(item, "", last) for item, last in reversed(_with_last(_root_items(graph, index)))]
    while stack:  # depth first, without recursion: a chain of thousands of steps is fine
        item, prefix, last = stack.pop()
        if item[0] == PARAMETER:
            text, children = "a parameter (or constant, config): no producer, a root", []
        else:
            text, children = _tree_item(graph, item, index, shown)
        lines.append(f"{prefix}{'└── ' if last else '├── '}{text}")
        below = prefix + ("    " if last else "│   ")
        stack += [(child, below, is_last) for child, is_last in reversed(_with_last(children))]
    return lines


def _with_last(items: list[TreeItem]) -> list[tuple[TreeItem, bool]]:
    """Each item with whether it is the last of its siblings (drawn with a corner, not a tee)."""
    return [(item, number == len(items) - 1) for number, item in enumerate(items)]


class _Index:
    """A graph's edges by target: each artifact's producers and each task's reads (for rendering in linear time)."""

    def __init__(self, graph: LineageGraph) -> None:
        self.producers: dict[str, list[str]] = {}
        self.reads: dict[str, list[Edge]] = {}
        for edge in graph.edges:
            if edge.kind == PRODUCED:
                self.producers.setdefault(edge.target, []).append(edge.source)
            else:
                self.reads.setdefault(edge.target, []).append(edge)
