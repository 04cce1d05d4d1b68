"""The graph a run stores when it starts (metadata `set_run_graph`), so a viewer draws the run as it ran.

Plain JSON: the steps in the graph's order, each with its type (Metaflow's), next steps, foreach variable,
switch cases and join kind. The UI reads it back; it never needs the flow's source.
"""

from __future__ import annotations

from typing import Any

from .flowgraph import FlowGraph

STORED_GRAPH_VERSION = 1


def stored_graph(graph: FlowGraph) -> dict[str, Any]:
    """The JSON-ready description of `graph` a run records."""
    return {"version": STORED_GRAPH_VERSION, "flow": graph.name,
            "steps": [_stored_step(node) for node in graph]}


def _stored_step(node: Any) -> dict[str, Any]:
    return {"name": node.name, "type": node.type, "next": list(node.out), "foreach": node.foreach_var,
            "num_parallel": node.num_parallel, "condition": node.condition,
            "switch": [[repr(case), target] for case, target in node.switch_cases.items()],
            "join": node.join_kind if node.is_join else None, "decorators": list(node.decorators),
            "doc": node.doc, "line": node.func_lineno}
