"""FlowGraph: a flow's validated DAG, read from its class, in topological order."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Iterator

from ..exceptions import GraphError
from .checks import (_back_edges, _check_joins, _check_reachable, _order_static_inputs, _pair_splits,
                     _topo_order)
from .nodes import RESERVED_NAMES, StepNode, _display, _where
from .source import _collect, _find_next_calls, _node_type, _read_next

class FlowGraph:
    """The validated DAG of a flow class; iterating yields its steps in topological order."""

    def __init__(self, name: str, nodes: dict[str, StepNode], file: str,
                 back_edges: set[tuple[str, str]] = frozenset()) -> None:
        self.name = name
        self.nodes = nodes
        self.file = file
        self.back_edges = set(back_edges)   # a switch's arms that loop back (step, earlier step)

    @classmethod
    def from_flow(cls, flow_cls: type) -> FlowGraph:
        """Read the DAG of `flow_cls` from its source and validate it (raises GraphError)."""
        steps, file, class_line = _collect(flow_cls)
        where = _where(file, class_line)
        if not steps:
            raise GraphError(f"Flow '{flow_cls.__name__}' at {where} has no steps: mark its methods with @step, "
                             "starting with `def start(self):` and ending with `def end(self):`.", class_line)
        for required in ("start", "end"):
            if required not in steps:
                raise GraphError(f"Flow '{flow_cls.__name__}' at {where} has no '{required}' step. "
                                 f"Every flow needs a @step method named '{required}'.", class_line)
        for name, (node, _) in steps.items():
            if name in RESERVED_NAMES:
                raise GraphError(
                    f"Step '{name}' at {_where(node.file, node.func_lineno)} uses a name "
                    "reserved by FlowSpec. Rename the step.", node.func_lineno)
        calls = _find_next_calls(steps)
        nodes = {name: node for name, (node, _) in steps.items()}
        for name, call in calls.items():
            _read_next(nodes[name], call, set(nodes))
        preds: dict[str, list[str]] = {n: [] for n in nodes}
        for name, node in nodes.items():
            node.type = _node_type(node)
            for child in node.out:
                preds[child].append(name)
        back = _back_edges(nodes)  # first: a cycle also makes a step look like a join
        for src, dst in back:
            preds[dst].remove(src)
        _check_joins(nodes, preds)
        _check_reachable(nodes)
        order = _topo_order(nodes, preds, back)
        rank = {n: i for i, n in enumerate(order)}
        nodes = {n: nodes[n] for n in order}
        for name, node in nodes.items():
            node.in_steps = sorted(preds[name], key=rank.__getitem__)
        _pair_splits(nodes, {n: nodes[n].in_steps for n in nodes})
        for node in nodes.values():
            if node.join_kind == "static":
                _order_static_inputs(node, nodes)
        return cls(flow_cls.__name__, nodes, file, back)

    def __getitem__(self, name: str) -> StepNode:
        return self.nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __iter__(self) -> Iterator[StepNode]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def describe(self) -> str:
        """Human-readable text of the flow, for `python flow.py show`."""
        lines = [f"Flow {self.name}  ({_display(self.file)})", ""]
        for node in self:
            head = f"Step {node.name}"
            if node.join_kind == "foreach":
                head += f"  (join: closes the foreach at '{node.split_parents[-1]}')"
            elif node.join_kind == "static":
                head += f"  (join of {', '.join(node.in_steps)})"
            lines.append(head)
            if node.doc:
                lines.append(f"    {node.doc}")
            if node.foreach_var:
                lines.append(f"    => {node.out[0]}  (foreach over {node.foreach_var})")
            elif node.num_parallel:
                size = node.num_parallel if node.num_parallel > 0 else "N"
                lines.append(f"    => {node.out[0]}  (a gang of {size} parallel tasks)")
            elif node.is_switch:
                cases = ", ".join(f"{case!r} -> {target}" for case, target in node.switch_cases.items())
                lines.append(f"    => one of {' | '.join(node.out)}  (switch on self.{node.condition}: {cases})")
            elif node.out:
                lines.append(f"    => {', '.join(node.out)}")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description of the flow and its steps (in topological order)."""
        return {"name": self.name, "file": self.file, "steps": [asdict(n) for n in self]}
