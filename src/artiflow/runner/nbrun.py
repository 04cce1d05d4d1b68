"""NBRunner: run a flow class defined in a notebook cell (or in any module) through a Runner.

The child process needs a file, so the class's source is written to one, with the imports and
module-level definitions it uses (found by name, from its module's file or the notebook's cells).
"""

from __future__ import annotations

import ast
import inspect
import os
import shutil
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core import ExecutingRun, Runner, RunnerError, is_main_block

if TYPE_CHECKING:
    from ..client import Run

# Statements never copied into the flow file: they would start a run, or need IPython, in the child.
UNCOPIED_CALLS = {"NBRunner", "Runner", "get_ipython", "nbrun", "nbresume"}


@dataclass
class Statement:
    """One top-level statement of a module or cell: its text, the names it binds and the names it reads."""

    node: ast.stmt
    text: str
    binds: set[str] = field(default_factory=set)
    needs: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, node: ast.stmt, source: str) -> Statement:
        if getattr(node, "decorator_list", None):  # decorators are not part of the node's own source segment
            start = min(d.lineno for d in node.decorator_list)  # type: ignore[attr-defined]
            text = "\n".join(source.splitlines()[start - 1:node.end_lineno])
        else:
            text = ast.get_source_segment(source, node) or ast.unparse(node)
        return cls(node, textwrap.dedent(text), _binds(node), _needs(node))


def _binds(node: ast.stmt) -> set[str]:
    """Names a statement binds at module level (not inside the functions or classes it defines)."""
    names: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(item.name)
            continue
        if isinstance(item, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.partition(".")[0] for a in item.names if a.name != "*"}
        elif isinstance(item, ast.Name) and not isinstance(item.ctx, ast.Load):
            names.add(item.id)
        stack.extend(ast.iter_child_nodes(item))
    return names


def _needs(node: ast.stmt) -> set[str]:
    """Names a statement reads that it does not bind itself (a step's local variables are not needs)."""
    loads, local = set(), set()
    for item in ast.walk(node):
        if isinstance(item, ast.Name):
            (loads if isinstance(item.ctx, ast.Load) else local).add(item.id)
        elif isinstance(item, ast.arg):
            local.add(item.arg)
        elif isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and item is not node:
            local.add(item.name)
    return loads - local if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else loads


def _copyable(statement: Statement) -> bool:
    """Whether a statement may go into the flow file: a definition, not a run, a magic or a `__main__` block."""
    if isinstance(statement.node, ast.Expr) or is_main_block(statement.node):
        return False
    for item in ast.walk(statement.node):
        if isinstance(item, ast.Call):
            func = item.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in UNCOPIED_CALLS:
                return False
    return True


def _is_special_import(statement: Statement) -> bool:
    """`from __future__ import ...` and `from x import *`: copied whatever the flow uses."""
    node = statement.node
    return isinstance(node, ast.ImportFrom) and (node.module == "__future__" or any(a.name == "*" for a in node.names))


def assemble(statements: list[Statement], target: Statement, flow_name: str, origin: str) -> str:
    """A runnable flow file: the flow class, every definition it uses (transitively), and a `__main__` block."""
    latest: dict[str, Statement] = {}
    for statement in statements:
        if statement is not target and _copyable(statement):
            for name in statement.binds:
                latest[name] = statement
    chosen = {id(target)}
    todo = list(target.needs)
    while todo:
        found = latest.get(todo.pop())
        if found is not None and id(found) not in chosen:
            chosen.add(id(found))
            todo.extend(found.needs)
    kept = [s for s in statements if id(s) in chosen or _is_special_import(s)]
    future = [s for s in kept if isinstance(s.node, ast.ImportFrom) and s.node.module == "__future__"]
    body = [s for s in kept if s not in future]
    if not any(s is target for s in body):  # a class defined inside a function: last
        body.append(target)
    texts = list(dict.fromkeys(s.text for s in [*future, *body]))
    header = f"# The flow {flow_name}, written by artiflow's NBRunner from {origin}, with the definitions it uses."
    return "\n\n".join([header, *texts, f'if __name__ == "__main__":\n    {flow_name}()']) + "\n"


def _statements(source: str) -> list[Statement]:
    return [Statement.of(node, source) for node in ast.parse(source).body]


def _class_statement(statements: list[Statement], name: str) -> Statement | None:
    """The last top-level `class <name>` among the statements."""
    found = [s for s in statements if isinstance(s.node, ast.ClassDef) and s.node.name == name]
    return found[-1] if found else None


def from_module(flow: type) -> tuple[str, Path] | None:
    """The flow file's text from the file of the class's module, and that file's folder; None if not there."""
    module = sys.modules.get(flow.__module__)
    file = getattr(module, "__file__", None)
    if not file or not str(file).endswith(".py") or not Path(file).is_file():
        return None
    path = Path(file)
    try:
        statements = _statements(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError, OSError):
        return None
    target = _class_statement(statements, flow.__name__) if flow.__qualname__ == flow.__name__ else None
    if target is None:  # defined inside a function, say: its own source, dedented
        try:
            text = textwrap.dedent(inspect.getsource(flow))
            node = ast.parse(text).body[0]
        except (OSError, TypeError, SyntaxError, IndexError):
            return None
        if not isinstance(node, ast.ClassDef) or node.name != flow.__name__:
            return None
        target = Statement.of(node, text)
    return assemble(statements, target, flow.__name__, str(path)), path.parent


def notebook_cells() -> list[str] | None:
    """The source of the cells run so far in this IPython session, oldest first; None outside IPython.

    IPython is only looked at if it is already imported (it always is in a notebook).
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    history = getattr(shell, "history_manager", None)
    if history is None:
        return None
    parsed = getattr(history, "input_hist_parsed", None)  # magics already turned into Python
    if parsed:
        return [cell for cell in parsed if cell]
    raw = getattr(history, "input_hist_raw", None) or []
    return [_without_magics(cell) for cell in raw if cell]


def _without_magics(cell: str) -> str:
    """A raw cell with its `%magic` and `!shell` lines commented out (a `%%cell` magic: the whole cell)."""
    if cell.lstrip().startswith("%%"):
        return ""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in cell.splitlines())


def from_cells(flow: type, cells: list[str]) -> str | None:
    """The flow file's text from the notebook cells: the latest cell defining the class, and what it uses."""
    statements: list[Statement] = []
    for cell in cells:
        try:
            statements += _statements(cell)
        except (SyntaxError, ValueError):
            continue  # a cell that is not plain Python: nothing of it can be copied anyway
    target = _class_statement(statements, flow.__name__)
    return None if target is None else assemble(statements, target, flow.__name__, "the notebook's cells")


def flow_source(flow: type) -> tuple[str, Path | None]:
    """A runnable file's text for a flow class, and the folder its module's local imports come from."""
    found = from_module(flow)
    if found is not None:
        return found
    cells = notebook_cells()
    text = from_cells(flow, cells) if cells is not None else None
    if text is not None:
        return text, None
    where = ("no cell of this notebook defines it" if cells is not None
             else f"it is not in the file of its module {flow.__module__!r}, and this is no IPython session")
    raise RunnerError(f"NBRunner cannot find the source of class {flow.__name__}: {where}. Define the flow in a "
                      f"notebook cell (with the imports it uses) or in a module file, or use Runner('flow.py').")


class NBRunner:
    """Run a flow class defined in a notebook cell: `run = NBRunner(MyFlow).nbrun(alpha=0.5)`.

    The class's source (with the imports and definitions it uses) is written to a temporary file, which
    a Runner runs; nbrun() and nbresume() return the client Run and delete the temporary files.
    """

    def __init__(self, flow: type, show_output: bool = True, profile: str | None = None,
                 env: dict[str, str] | None = None, base_dir: str | os.PathLike[str] | None = None,
                 file_read_timeout: float = 3600, **kwargs: Any) -> None:
        if not isinstance(flow, type):
            raise RunnerError(f"NBRunner takes the flow class itself, e.g. NBRunner(MyFlow), not {flow!r}.")
        self.flow = flow
        self.source, module_folder = flow_source(flow)
        self._folder = Path(tempfile.mkdtemp(prefix="artiflow-nb-"))
        self.flow_file = self._folder / f"{flow.__name__}.py"
        self._write()
        env = dict(env or {})
        if os.environ.get("JPY_PARENT_PID"):  # the child is no kernel: do not let it look like one
            env.setdefault("JPY_PARENT_PID", "")
        self.base_dir = Path(base_dir).absolute() if base_dir is not None else Path.cwd()
        self.runner = Runner(self.flow_file, show_output=show_output, profile=profile, env=env, cwd=self.base_dir,
                             file_read_timeout=file_read_timeout, **kwargs)
        self.runner._flow_names = [flow.__name__]
        if module_folder is not None:
            self.runner._add_import_path(str(module_folder))

    def _write(self) -> None:
        """(Re)write the temporary flow file: cleanup() deletes it, a later run writes it again."""
        self._folder.mkdir(parents=True, exist_ok=True)
        self.flow_file.write_text(self.source, encoding="utf-8")

    def nbrun(self, **kwargs: Any) -> Run:
        """Run the flow, wait for it, clean up, and return the client Run (also when the run failed)."""
        try:
            return self.run(**kwargs).run
        finally:
            self.cleanup()

    def nbresume(self, **kwargs: Any) -> Run:
        """Resume the flow's latest run (or `origin_run_id=`), wait, clean up, and return the client Run."""
        try:
            return self.resume(**kwargs).run
        finally:
            self.cleanup()

    def run(self, **kwargs: Any) -> ExecutingRun:
        """Runner.run() on the flow's file."""
        self._write()
        return self.runner.run(**kwargs)

    def resume(self, **kwargs: Any) -> ExecutingRun:
        """Runner.resume() on the flow's file."""
        self._write()
        return self.runner.resume(**kwargs)

    async def async_run(self, **kwargs: Any) -> ExecutingRun:
        """Runner.async_run() on the flow's file."""
        self._write()
        return await self.runner.async_run(**kwargs)

    async def async_resume(self, **kwargs: Any) -> ExecutingRun:
        """Runner.async_resume() on the flow's file."""
        self._write()
        return await self.runner.async_resume(**kwargs)

    def cleanup(self) -> None:
        """Stop what still runs and delete the temporary flow file and logs."""
        self.runner.cleanup()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __repr__(self) -> str:
        return f"NBRunner({self.flow.__name__})"
