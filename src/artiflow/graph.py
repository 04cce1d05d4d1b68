"""The DAG of a flow, read from the source of its class with `ast` and validated.

Nothing in the flow is executed: the `@step` methods of the flow class (and of its base classes)
are parsed, the final `self.next(...)` of each gives the edges, and every user mistake is
reported as one `GraphError` whose message names the step and its `file:line`.

Node types are Metaflow's: "start", "linear", "split" (static branches), "foreach" (also a
`num_parallel` fan-out), "split-switch" (a conditional transition), "join" and "end". As in
Metaflow, the type says how a step leaves: a join that fans out again is a "split" or "foreach";
`is_join` says it takes inputs. A join's `split_parents` includes the split it closes (last).

A switch (`self.next({"a": self.a, "b": self.b}, condition="attr")`) takes one of its arms at run
time. Its arms may meet again at a step with several predecessors that is not a join (only one
arm runs), and an arm may lead back to the switch or an earlier step (a loop): such back edges
are allowed only out of a switch, and every other check looks at the graph without them.
"""

from __future__ import annotations

import ast
import heapq
import inspect
import os
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from .exceptions import GraphError

RESERVED_NAMES = frozenset({
    "next", "input", "index", "foreach_stack", "merge_artifacts", "name", "script_name",
    "log_metric", "cmd", "run", "resume", "check", "show", "current",
})


@dataclass
class StepNode:
    """One `@step` method of a flow and its place in the DAG."""

    name: str
    func_lineno: int
    file: str
    type: str = "linear"
    out: list[str] = field(default_factory=list)
    foreach_var: str | None = None
    is_join: bool = False
    in_steps: list[str] = field(default_factory=list)
    join_kind: str | None = None
    matching_join: str | None = None
    split_parents: list[str] = field(default_factory=list)
    decorators: list[str] = field(default_factory=list)
    doc: str = ""
    next_lineno: int = 0
    switch_cases: dict[Any, str] = field(default_factory=dict)   # case value -> step, for a switch
    condition: str | None = None                                  # the attribute a switch reads
    num_parallel: int = 0        # self.next(..., num_parallel=N): N (-1 when not a literal)
    branch_of: dict[str, int] = field(default_factory=dict)      # a static join: in-step -> branch

    @property
    def is_switch(self) -> bool:
        """True if this step takes one of several arms at run time (`condition=`)."""
        return self.condition is not None

    @property
    def fans_out(self) -> bool:
        """True if the next step runs as several tasks (a foreach or a num_parallel gang)."""
        return self.foreach_var is not None or self.num_parallel != 0

    @property
    def opens_split(self) -> bool:
        """True if this step fans out (static branches, a foreach or a gang), whatever its type."""
        return self.fans_out or (len(self.out) > 1 and not self.is_switch)

    # Metaflow's names for the same facts (flows and their checks read them on `self._graph`)
    @property
    def in_funcs(self) -> list[str]:
        return sorted(set(self.in_steps))

    @property
    def out_funcs(self) -> list[str]:
        return list(self.out)

    @property
    def foreach_param(self) -> str | None:
        return self.foreach_var

    @property
    def parallel_foreach(self) -> bool:
        return self.num_parallel != 0

    @property
    def parallel_step(self) -> bool:
        """True for a step decorated with @parallel (its tasks run as one gang)."""
        return "parallel" in self.decorators

    @property
    def func_name(self) -> str:
        return self.name


def _display(file: str) -> str:
    """The file relative to the current folder when it is below it, else as given."""
    try:
        rel = os.path.relpath(file)
    except ValueError:
        return file
    return file if rel.startswith("..") else rel


def _where(file: str, line: int) -> str:
    return f"{_display(file)}:{line}"


def _dec_name(dec: ast.expr) -> str:
    """The bare name of a decorator: `step`, `artiflow.step`, `retry(times=2)` -> last name."""
    target = dec.func if isinstance(dec, ast.Call) else dec
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return ast.unparse(target)


def _skip_class(klass: type) -> bool:
    if klass is object or klass.__module__ == "builtins":
        return True
    return klass.__name__ == "FlowSpec" and (
        klass.__module__ == "artiflow.flowspec" or klass.__module__.startswith("metaflow"))


def _class_def(klass: type) -> tuple[ast.ClassDef, str] | None:
    """Parse the source of `klass`; line numbers in the tree are absolute in its file."""
    try:
        lines, start = inspect.getsourcelines(klass)
        file = inspect.getsourcefile(klass) or inspect.getfile(klass)
    except (OSError, TypeError):
        return None
    text = "".join(lines)
    try:
        tree, offset = ast.parse(textwrap.dedent(text)), start - 1
    except SyntaxError:  # e.g. a multi-line string less indented than the class
        tree, offset = ast.parse("if 1:\n" + text), start - 2
    ast.increment_lineno(tree, offset)
    cdef = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))
    return cdef, os.path.abspath(file)


def _make_node(func: ast.FunctionDef, file: str) -> StepNode:
    args = func.args.posonlyargs + func.args.args
    doc = (ast.get_docstring(func) or "").strip().splitlines()
    return StepNode(
        name=func.name, func_lineno=func.lineno, file=file, is_join=len(args) >= 2,
        next_lineno=func.lineno,
        decorators=[_dec_name(d) for d in func.decorator_list if _dec_name(d) != "step"],
        doc=doc[0].strip() if doc else "")


def _collect(flow_cls: type) -> tuple[dict[str, tuple[StepNode, ast.FunctionDef]], str, int]:
    """Steps by name (base classes first, subclasses override), the flow's file and line."""
    steps: dict[str, tuple[StepNode, ast.FunctionDef]] = {}
    flow_file, class_line = "", 0
    for klass in reversed(flow_cls.__mro__):
        if _skip_class(klass):
            continue
        parsed = _class_def(klass)
        if parsed is None:
            if klass is flow_cls:
                raise GraphError(f"Cannot read the source of flow class '{flow_cls.__name__}'. "
                                 "Define the flow in a .py file and run that file.", None)
            continue
        cdef, file = parsed
        if klass is flow_cls:
            flow_file, class_line = file, cdef.lineno
        for stmt in cdef.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if any(_dec_name(d) == "step" for d in stmt.decorator_list):
                    steps[stmt.name] = (_make_node(stmt, file), stmt)
                else:
                    steps.pop(stmt.name, None)
    return steps, flow_file, class_line


def _next_call(stmt: ast.stmt, self_name: str) -> ast.Call | None:
    """The `self.next(...)` call if `stmt` is exactly that, else None."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    func = stmt.value.func
    if (isinstance(func, ast.Attribute) and func.attr == "next"
            and isinstance(func.value, ast.Name) and func.value.id == self_name):
        return stmt.value
    return None


def _find_next_calls(steps: dict[str, tuple[StepNode, ast.FunctionDef]]) -> dict[str, ast.Call]:
    """Check 3: every step but `end` ends with `self.next(...)`; `end` does not."""
    calls = {}
    for name, (node, func) in steps.items():
        args = func.args.posonlyargs + func.args.args
        last = func.body[-1]
        call = _next_call(last, args[0].arg if args else "self")
        where = _where(node.file, last.lineno)
        if name == "end" and call is not None:
            raise GraphError(f"Step 'end' at {where} calls self.next(...), but 'end' is the last "
                             "step of the flow and must not transition anywhere. Remove that call.",
                             last.lineno)
        if name != "end" and call is None:
            raise GraphError(f"Step '{name}' at {where} does not end with self.next(...). The last "
                             "statement of every step except 'end' must be a single call such as "
                             "self.next(self.<next_step>); add it (a body of only a docstring or "
                             "`pass` is not enough).", last.lineno)
        if call is not None:
            calls[name] = call
    return calls


def _read_next(node: StepNode, call: ast.Call, names: set[str]) -> None:
    """Check 4: set `node.out` / `node.foreach_var` from the arguments of `self.next`."""
    where, line = _where(node.file, call.lineno), call.lineno
    intro = f"In step '{node.name}' at {where}, self.next(...)"
    self_name = call.func.value.id  # type: ignore[attr-defined]
    if any(kw.arg == "condition" for kw in call.keywords) or (call.args and isinstance(call.args[0], ast.Dict)):
        _read_switch(node, call, names, intro, self_name)
        node.next_lineno = line
        return
    if not call.args:
        raise GraphError(
            f"{intro} names no step. Give the next step, e.g. self.next(self.end).", line)
    for arg in call.args:
        if not (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)
                and arg.value.id == self_name):
            raise GraphError(f"{intro} has the argument `{ast.unparse(arg)}`; each step must be "
                             "written as self.<step_name>, e.g. self.next(self.train).", line)
        if arg.attr not in names:
            raise GraphError(
                f"{intro} has a transition to '{arg.attr}', which is not a step of the flow. "
                f"Define `{arg.attr}` as a @step method, or fix the name.", line)
        if arg.attr in node.out:
            raise GraphError(f"{intro} names '{arg.attr}' twice; list each step once.", line)
        node.out.append(arg.attr)
    if len(call.keywords) > 1:
        raise GraphError(f"{intro} combines {', '.join(f'{k.arg}=' for k in call.keywords)}; a step "
                         "fans out one way: foreach=\"<attribute>\" or num_parallel=N.", line)
    for kw in call.keywords:
        if kw.arg == "num_parallel":
            _read_num_parallel(node, call, kw, intro, line)
            continue
        if kw.arg != "foreach":
            raise GraphError(f"{intro} has an unknown argument `{ast.unparse(kw)}`; self.next accepts "
                             "foreach=\"<attribute>\", num_parallel=N, or a dict of steps with "
                             "condition=\"<attribute>\".", line)
        value = kw.value
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)
                and value.value.isidentifier()):
            raise GraphError(f"{intro} has foreach={ast.unparse(value)}; foreach must be a string "
                             "literal naming an attribute of self, e.g. foreach=\"items\" after "
                             "self.items = [...].", line)
        if len(call.args) != 1:
            raise GraphError(
                f"{intro} uses foreach with {len(call.args)} steps; a foreach takes exactly one "
                "target step, e.g. self.next(self.train, foreach=\"grid\").", line)
        node.foreach_var = value.value
    node.next_lineno = line


def _read_num_parallel(node: StepNode, call: ast.Call, kw: ast.keyword, intro: str, line: int) -> None:
    """`self.next(self.train, num_parallel=4)`: one target, run as a gang of N tasks."""
    if len(call.args) != 1:
        raise GraphError(f"{intro} uses num_parallel with {len(call.args)} steps; it takes exactly one "
                         "target step, e.g. self.next(self.train, num_parallel=4).", line)
    value = kw.value
    if isinstance(value, ast.Constant):
        if isinstance(value.value, bool) or not isinstance(value.value, int) or value.value < 1:
            raise GraphError(f"{intro} has num_parallel={ast.unparse(value)}; it must be a whole number "
                             "of 1 or more.", line)
        node.num_parallel = value.value
    else:
        node.num_parallel = -1  # known when the step runs


def _case_key(key: ast.expr | None) -> Any:
    """A switch case's key: a literal (a string, number or bool), else None."""
    if isinstance(key, ast.Constant) and isinstance(key.value, (str, int, float, bool)):
        return key.value
    return None


def _read_switch(node: StepNode, call: ast.Call, names: set[str], intro: str, self_name: str) -> None:
    """`self.next({"a": self.a, "b": self.b}, condition="attr")`: one arm, chosen by self.attr."""
    line = call.lineno
    shape = ('self.next({"a": self.step_a, "b": self.step_b}, condition="attribute")')
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Dict):
        raise GraphError(f"{intro} uses condition= but its first argument is not a dict of steps; write "
                         f"{shape}.", line)
    keywords = {kw.arg: kw.value for kw in call.keywords}
    if set(keywords) != {"condition"}:
        extra = sorted(k or "**" for k in keywords if k != "condition")
        what = f"also has {', '.join(f'{k}=' for k in extra)}" if extra else "has no condition="
        raise GraphError(f"{intro} takes a dict of steps, so it is a switch, but it {what}. A switch "
                         f"is written {shape}.", line)
    cond = keywords["condition"]
    if not (isinstance(cond, ast.Constant) and isinstance(cond.value, str) and cond.value.isidentifier()):
        raise GraphError(f"{intro} has condition={ast.unparse(cond)}; condition must be a string literal "
                         "naming an attribute of self, e.g. condition=\"mode\" after self.mode = \"fast\".",
                         line)
    cases: dict[Any, str] = {}
    for key, value in zip(call.args[0].keys, call.args[0].values):
        case = _case_key(key)
        if case is None:
            shown = "**..." if key is None else ast.unparse(key)
            raise GraphError(f"{intro} has the case {shown}; each case must be a literal such as \"a\", "
                             "1 or True, so that the graph can be read without running the flow.", line)
        if not (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name)
                and value.value.id == self_name):
            raise GraphError(f"{intro} maps the case {case!r} to `{ast.unparse(value)}`; each arm must be "
                             "a step written as self.<step_name>.", line)
        if value.attr not in names:
            raise GraphError(f"{intro} maps the case {case!r} to '{value.attr}', which is not a step of "
                             f"the flow. Define `{value.attr}` as a @step method, or fix the name.", line)
        cases[case] = value.attr
    if not cases:
        raise GraphError(f"{intro} has an empty dict of cases; a switch needs at least one: {shape}.", line)
    node.switch_cases = cases
    node.condition = cond.value
    node.out = list(dict.fromkeys(cases.values()))


def _node_type(node: StepNode) -> str:
    """Metaflow's node type: how the step leaves (a join that fans out again is a split or foreach)."""
    if node.name == "end":
        return "end"
    if node.fans_out:
        return "foreach"
    if node.is_switch:
        return "split-switch"
    if len(node.out) > 1:
        return "split"
    if node.is_join:
        return "join"
    return "start" if node.name == "start" else "linear"


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
