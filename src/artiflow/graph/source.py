"""Read a flow's steps from the source of its class (and bases) with `ast`, and each step's `self.next(...)`."""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
from typing import Any

from ..exceptions import GraphError
from .nodes import StepNode, _where

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


def _check_signature(func: ast.FunctionDef | ast.AsyncFunctionDef, file: str) -> None:
    """Check 2: a step is a plain method taking `self` (a join: `self, inputs`), nothing else."""
    where = f"Step '{func.name}' at {_where(file, func.lineno)}"
    if isinstance(func, ast.AsyncFunctionDef):
        raise GraphError(f"{where} is an `async def`; a step is a plain method: write `def {func.name}(self):`.",
                         func.lineno)
    args = func.args
    positional = [a.arg for a in args.posonlyargs + args.args]
    extra = [f"*{args.vararg.arg}"] if args.vararg else []
    extra += [a.arg for a in args.kwonlyargs] + ([f"**{args.kwarg.arg}"] if args.kwarg else [])
    if not positional or len(positional) > 2 or extra:
        shown = ", ".join(positional + extra) or "no arguments"
        raise GraphError(f"{where} takes {shown}; a step takes only `self`, and a join `self, inputs`: write "
                         f"`def {func.name}(self):` or `def {func.name}(self, inputs):`.", func.lineno)


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
                    _check_signature(stmt, file)
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
