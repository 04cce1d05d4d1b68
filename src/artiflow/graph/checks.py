"""The structural checks of a graph: joins, reachability, loops only out of switches, splits paired with joins."""

from __future__ import annotations

import heapq
from typing import Iterator

from ..exceptions import GraphError
from .nodes import StepNode, _where

def _single_input_join(node: StepNode, pred: str) -> GraphError:
    return GraphError(
        f"Step '{node.name}' at {_where(node.file, node.func_lineno)} takes `inputs`, so it is a "
        f"join, but only '{pred}' leads into it and it does not close a foreach. A join must "
        "merge the branches of a split or close a foreach; otherwise write "
        f"`def {node.name}(self):`.", node.func_lineno)


def _closure(first: list[str], edges: dict[str, list[str]]) -> set[str]:
    """Every step reachable from `first` along `edges` (cycles are fine)."""
    seen: set[str] = set()
    todo = list(first)
    while todo:
        cur = todo.pop()
        if cur not in seen:
            seen.add(cur)
            todo.extend(edges[cur])
    return seen


def _check_joins(nodes: dict[str, StepNode], preds: dict[str, list[str]]) -> None:
    """Check 5: joins and steps with several predecessors agree on taking `inputs`.

    Unreachable steps are left to check 6, so that a leftover step is reported as such.
    """
    live = _closure(["start"], {n: node.out for n, node in nodes.items()})
    for name, node in nodes.items():
        into = [p for p in preds[name] if p in live]
        if name not in live:
            continue
        where = _where(node.file, node.func_lineno)
        if len(into) > 1 and not node.is_join and not _after_switch(nodes, preds, name):
            listed = ", ".join(f"'{p}'" for p in into)
            raise GraphError(
                f"Step '{name}' at {where} has several steps leading into it ({listed}), so it "
                f"is a join: write it as `def {name}(self, inputs):`.", node.func_lineno)
        if node.is_join and not into:
            raise GraphError(
                f"Step '{name}' at {where} takes `inputs`, but no step leads into it. Only a "
                f"join takes inputs: write `def {name}(self):`.", node.func_lineno)
        if node.is_join and len(into) == 1 and not any(
                nodes[a].fans_out for a in _closure(into, preds)):
            raise _single_input_join(node, into[0])


def _after_switch(nodes: dict[str, StepNode], preds: dict[str, list[str]], name: str) -> bool:
    """True if a switch comes before this step: its predecessors may then be a switch's arms."""
    return any(nodes[a].is_switch for a in _closure(preds[name], preds))


def _check_reachable(nodes: dict[str, StepNode]) -> None:
    """Check 6: every step can be reached from `start`."""
    seen = _closure(["start"], {n: node.out for n, node in nodes.items()})
    lost = [n for n in nodes if n not in seen]
    if lost:
        first = nodes[lost[0]]
        listed = ", ".join(f"'{n}'" for n in lost)
        many = len(lost) > 1
        what = f"Steps {listed} (first at" if many else f"Step {listed} (at"
        them = "them" if many else "it"
        raise GraphError(f"{what} {_where(first.file, first.func_lineno)}) can never run: no chain "
                    f"of self.next calls leads there from 'start'. Add a transition to {them} "
                    f"or remove {them}.", first.func_lineno)


def _back_edges(nodes: dict[str, StepNode]) -> set[tuple[str, str]]:
    """Check 7: the edges that lead back to a step on the current path; only a switch may loop.

    Depth-first from `start`; an edge to a step still on the path closes a cycle. Out of a switch
    that is a loop (run again until the condition says otherwise); out of any other step, an error.
    """
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {"start": 1}  # 1: on the current path, 2: done
    path = ["start"]
    stack: list[tuple[str, Iterator[str]]] = [("start", iter(nodes["start"].out))]
    while stack:
        name, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            path.pop()
            state[name] = 2
        elif state.get(child) == 1:
            src = nodes[name]
            if not src.is_switch:
                cycle = path[path.index(child):] + [child]
                raise GraphError(
                    f"The flow has a cycle: {' -> '.join(cycle)} (self.next in step '{name}' at "
                    f"{_where(src.file, src.next_lineno)}). Only a switch may lead back to itself or an "
                    "earlier step (a loop: self.next({\"again\": self.step, \"done\": self.next_step}, "
                    "condition=\"attribute\")); any other transition must go forward.", src.next_lineno)
            back.add((name, child))
        elif child not in state:
            state[child] = 1
            path.append(child)
            stack.append((child, iter(nodes[child].out)))
    return back


def _topo_order(nodes: dict[str, StepNode], preds: dict[str, list[str]],
                back: set[tuple[str, str]]) -> list[str]:
    """Topological order of the graph without its loops' back edges; ties broken by source order."""
    index = {n: i for i, n in enumerate(nodes)}
    missing = {n: len(preds[n]) for n in nodes}
    ready = [(index[n], n) for n in nodes if not missing[n]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for child in nodes[name].out:
            if (name, child) in back:
                continue
            missing[child] -= 1
            if not missing[child]:
                heapq.heappush(ready, (index[child], child))
    return order


def _describe_place(step: str, stack: list[str]) -> str:
    return f"'{step}' (in a branch of '{stack[-1]}')" if stack else f"'{step}' (outside any split)"


def _join_stack(node: StepNode, nodes: dict[str, StepNode], into: list[str],
                incoming: list[list[str]], switch_arms: bool) -> list[str]:
    """The open splits at a join (the one it closes last); sets join_kind and matching_join.

    `switch_arms`: a switch comes before the join, so several of its in-steps may be one branch.
    """
    where = _where(node.file, node.func_lineno)
    stack = incoming[0]
    for pred, other in zip(into[1:], incoming[1:]):
        if other != stack:
            raise GraphError(
                f"Step '{node.name}' at {where} joins steps from different splits: "
                f"{_describe_place(into[0], stack)} and {_describe_place(pred, other)}. A join "
                "must merge exactly the branches of one split: make every branch of a split "
                "lead into the same join.", node.func_lineno)
    if len(into) == 1 or (stack and nodes[stack[-1]].fans_out and switch_arms):
        if not stack or not nodes[stack[-1]].fans_out:
            raise _single_input_join(node, into[0])
        node.join_kind = "foreach"
    elif not stack or nodes[stack[-1]].fans_out:
        raise GraphError(f"Step '{node.name}' at {where} merges steps that are not the branches of "
                         "one split. A join must merge exactly the branches of one split.",
                         node.func_lineno)
    else:
        node.join_kind = "static"
    split = nodes[stack[-1]]
    if split.matching_join not in (None, node.name):
        raise GraphError(f"The branches of split '{split.name}' "
                         f"({_where(split.file, split.next_lineno)}) end in two different joins, "
                         f"'{split.matching_join}' and '{node.name}' at {where}. All branches of a "
                         "split must lead into one join.", node.func_lineno)
    split.matching_join = node.name
    return stack


def _pair_splits(nodes: dict[str, StepNode], preds: dict[str, list[str]]) -> None:
    """Check 8: every split is closed by one join before `end`; fill split_parents."""
    after: dict[str, list[str]] = {}  # the open splits seen by each step's successors
    for name, node in nodes.items():
        incoming = [after[p] for p in preds[name]]
        if node.is_join:
            stack = _join_stack(node, nodes, preds[name], incoming, _after_switch(nodes, preds, name))
        else:
            stack = incoming[0] if incoming else []
            if any(other != stack for other in incoming[1:]):
                raise GraphError(
                    f"Step '{name}' at {_where(node.file, node.func_lineno)} is reached from "
                    f"{', '.join(repr(p) for p in preds[name])}, which are not in the same split: the arms "
                    "of a switch must meet again where the same branches are open (join a split "
                    "opened in one arm before the arms meet).", node.func_lineno)
        node.split_parents = list(stack)
        after[name] = (stack[:-1] if node.is_join else stack) + (
            [name] if node.opens_split else [])
    if after["end"]:
        split = nodes[after["end"][-1]]
        what = f"foreach over '{split.foreach_var}'" if split.foreach_var else "split"
        raise GraphError(f"The {what} at step '{split.name}' "
                         f"({_where(split.file, split.next_lineno)}) is never joined: 'end' is "
                         "reached with its branches still open. Add a join step "
                         "(`def join(self, inputs):`) that all its branches lead into before "
                         "'end'.", split.next_lineno)


def _order_static_inputs(join: StepNode, nodes: dict[str, StepNode]) -> None:
    """Order a static join's in_steps by the branch order of its split."""
    split = nodes[join.split_parents[-1]]
    branch: dict[str, int] = {}
    for i, first in enumerate(split.out):
        todo = [first] if first != join.name else []
        if first == join.name:
            branch[split.name] = i
        while todo:
            cur = todo.pop()
            if cur not in branch and cur != join.name:
                branch[cur] = i
                todo.extend(nodes[cur].out)
    join.in_steps.sort(key=lambda p: branch.get(p, len(split.out)))
    join.branch_of = {p: branch.get(p, len(split.out)) for p in join.in_steps}
