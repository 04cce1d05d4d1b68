"""A run's DAG laid out for SVG: steps in layers by depth (longest path from `start`), edges as curves.

The shape comes from the graph the run stored when it started (graph/stored.py); a run made before runs kept it
is drawn from its tasks' steps and parents. Each node carries its state (done, running, failed, cached, pending)
and its task counts, which the run page's script updates while the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ..metadata.browse import StepSummary

NODE_W, NODE_H = 180, 52
GAP_X, GAP_Y = 36, 56
MARGIN = 16
BACK_EDGE_SPAN = 48  # how far right of the nodes a loop's edge (a switch arm leading back) curves


@dataclass
class StepShape:
    """One step of the graph as drawn: its name, Metaflow type, next steps and what labels its edges."""

    name: str
    type: str = "linear"
    next: list[str] = field(default_factory=list)
    foreach: str | None = None
    switch: dict[str, str] = field(default_factory=dict)  # next step -> the case (repr) leading to it
    join: str | None = None
    parallel: int = 0  # a num_parallel fan-out: its size (-1: not a literal)


@dataclass
class DagNode:
    name: str
    type: str
    x: int
    y: int
    state: str
    counts: str
    foreach: str | None
    width: int = NODE_W
    height: int = NODE_H


@dataclass
class DagEdge:
    source: str
    target: str
    path: str
    kind: str  # "next", "foreach", "switch" or "back" (a switch arm leading to an earlier step)
    label: str | None
    label_x: int = 0
    label_y: int = 0


@dataclass
class Dag:
    nodes: list[DagNode]
    edges: list[DagEdge]
    width: int
    height: int
    stored: bool  # drawn from the stored graph (False: guessed from the tasks)


def shapes_from_stored(graph: dict[str, Any]) -> list[StepShape]:
    """The steps of a stored graph (graph/stored.py's JSON)."""
    shapes = []
    for step in graph.get("steps", []):
        cases = {target: case for case, target in step.get("switch") or []}
        shapes.append(StepShape(step["name"], step.get("type") or "linear", list(step.get("next") or []),
                                step.get("foreach"), cases, step.get("join"), step.get("num_parallel") or 0))
    return shapes


def shapes_from_tasks(order: Iterable[str], parents: dict[str, set[str]]) -> list[StepShape]:
    """The steps of a run without a stored graph: its tasks' steps (in start order), linked by their parents."""
    names = list(dict.fromkeys([*order, *parents]))
    shapes = {name: StepShape(name) for name in names}
    for child in names:
        for parent in sorted(parents.get(child, ())):
            if parent in shapes and child not in shapes[parent].next:
                shapes[parent].next.append(child)
    return list(shapes.values())


def step_state(summary: StepSummary | None, run_running: bool) -> str:
    """A step's state from its tasks: pending (none yet), running, failed, cached (all reused) or done."""
    if summary is None or summary.total == 0:
        return "pending"
    running = summary.counts.get("running", 0)
    if running and run_running:
        return "running"
    if running or summary.counts.get("failed", 0):
        return "failed"  # a task still 'running' in a run that ended was lost with its runner
    if summary.cached + summary.reused == summary.total:
        return "cached"
    return "done"


def count_text(summary: StepSummary | None) -> str:
    """A step's tasks in a few words: `12 tasks · 2 running · 1 failed · 3 cached`."""
    if summary is None or summary.total == 0:
        return "no tasks yet"
    parts = [f"{summary.total:,} task{'s' if summary.total != 1 else ''}"]
    for status in ("running", "failed", "caught"):
        if summary.counts.get(status):
            parts.append(f"{summary.counts[status]:,} {status}")
    if summary.cached:
        parts.append(f"{summary.cached:,} cached")
    if summary.reused:
        parts.append(f"{summary.reused:,} reused")
    return " · ".join(parts)


def _back_edges(shapes: dict[str, StepShape], roots: list[str]) -> set[tuple[str, str]]:
    """Edges leading back to a step on the path that reached them (a switch's loop), found depth first."""
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1: on the path, 2: finished

    def visit(name: str) -> None:
        state[name] = 1
        for target in shapes[name].next:
            if target not in shapes:
                continue
            if state.get(target) == 1:
                back.add((name, target))
            elif target not in state:
                visit(target)
        state[name] = 2

    for root in roots:
        if root not in state:
            visit(root)
    for name in shapes:  # steps no root reaches (a guessed graph)
        if name not in state:
            visit(name)
    return back


def _depths(shapes: dict[str, StepShape], back: set[tuple[str, str]]) -> dict[str, int]:
    """Each step's layer: the longest path to it from a step with no predecessor (loops left out)."""
    preds: dict[str, list[str]] = {name: [] for name in shapes}
    for shape in shapes.values():
        for target in shape.next:
            if target in preds and (shape.name, target) not in back:
                preds[target].append(shape.name)
    depth: dict[str, int] = {}

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 0  # guards a cycle the back-edge search missed
            depth[name] = max((of(p) + 1 for p in preds[name]), default=0)
        return depth[name]

    for name in shapes:
        of(name)
    return depth


def _layers(shapes: dict[str, StepShape], depth: dict[str, int]) -> list[list[str]]:
    """Steps by layer; within a layer ordered by where their predecessors sit (one barycentre pass)."""
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in shapes:
        layers[depth[name]].append(name)
    position: dict[str, float] = {}
    preds: dict[str, list[str]] = {}
    for shape in shapes.values():
        for target in shape.next:
            preds.setdefault(target, []).append(shape.name)
    for layer in layers:
        first = {name: index - (len(layer) - 1) / 2 for index, name in enumerate(layer)}

        def weight(name: str, first: dict[str, float] = first) -> float:
            placed = [position[p] for p in preds.get(name, []) if p in position]
            return sum(placed) / len(placed) if placed else first[name]

        layer.sort(key=weight)
        for index, name in enumerate(layer):
            position[name] = index - (len(layer) - 1) / 2
    return layers


def layout(shapes: list[StepShape], summaries: dict[str, StepSummary], run_running: bool, stored: bool) -> Dag:
    """The DAG of `shapes` laid out top to bottom, each node with its state and counts from `summaries`."""
    by_name = {shape.name: shape for shape in shapes}
    roots = [name for name in ("start",) if name in by_name] or [shapes[0].name] if shapes else []
    back = _back_edges(by_name, roots)
    layers = _layers(by_name, _depths(by_name, back))
    widest = max((len(layer) for layer in layers), default=1)
    width = widest * NODE_W + (widest - 1) * GAP_X + 2 * MARGIN + (BACK_EDGE_SPAN if back else 0)
    nodes: dict[str, DagNode] = {}
    for row, layer in enumerate(layers):
        span = len(layer) * NODE_W + (len(layer) - 1) * GAP_X
        left = MARGIN + (widest * NODE_W + (widest - 1) * GAP_X - span) // 2
        for index, name in enumerate(layer):
            shape, summary = by_name[name], summaries.get(name)
            nodes[name] = DagNode(name, shape.type, left + index * (NODE_W + GAP_X), MARGIN + row * (NODE_H + GAP_Y),
                                  step_state(summary, run_running), count_text(summary), shape.foreach)
    edges = [_edge(by_name[name], nodes[name], nodes[target], (name, target) in back)
             for name in by_name for target in by_name[name].next if target in nodes]
    height = len(layers) * NODE_H + max(len(layers) - 1, 0) * GAP_Y + 2 * MARGIN
    return Dag(list(nodes.values()), edges, width, height, stored)


def _edge(shape: StepShape, source: DagNode, target: DagNode, back: bool) -> DagEdge:
    if back:
        x1, y1 = source.x + NODE_W, source.y + NODE_H // 2
        x2, y2 = target.x + NODE_W, target.y + NODE_H // 2
        if source is target:  # a step leading to itself: out at its lower right, back in at its upper right
            y1, y2 = source.y + NODE_H - 10, source.y + 10
        bend = max(x1, x2) + BACK_EDGE_SPAN
        path = f"M {x1} {y1} C {bend} {y1}, {bend} {y2}, {x2 + 6} {y2}"
        return DagEdge(shape.name, target.name, path, "back", shape.switch.get(target.name), bend - 8, (y1 + y2) // 2)
    x1, y1 = source.x + NODE_W // 2, source.y + NODE_H
    x2, y2 = target.x + NODE_W // 2, target.y - 6
    bend = (y2 - y1) // 2
    path = f"M {x1} {y1} C {x1} {y1 + bend}, {x2} {y2 - bend}, {x2} {y2}"
    if shape.foreach:
        kind, label = "foreach", f"foreach {shape.foreach}"
    elif shape.parallel:
        kind, label = "foreach", f"{shape.parallel if shape.parallel > 0 else 'N'} parallel tasks"
    elif shape.switch:
        kind, label = "switch", shape.switch.get(target.name)
    else:
        kind, label = "next", None
    return DagEdge(shape.name, target.name, path, kind, label, (x1 + x2) // 2 + 6, (y1 + y2) // 2)
