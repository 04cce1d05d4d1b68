"""Which code is the user's (the flow file and modules beside it), and its parsed source files.

The fingerprint walk follows only user code and the package discovery lists only what is not; both
read the files once per computation, through one `UserCode`.
"""

from __future__ import annotations

import ast
import os
import sys
import tokenize
import types
from typing import Iterator, NamedTuple

FRAMEWORKS = frozenset({"artiflow", "metaflow"})
PACKAGE_DIRS = frozenset({"site-packages", "dist-packages"})


def top(module_name: str | None) -> str:
    """The top-level package of a dotted module name ("" for None)."""
    return (module_name or "").partition(".")[0]


def is_framework(module_name: str | None) -> bool:
    """artiflow's or metaflow's own module, or builtins: never user code, never a library to version."""
    return top(module_name) in FRAMEWORKS or module_name == "builtins"


class Binding(NamedTuple):
    """Where a name is bound at module (or class) level, and the module it was imported from, if it was."""

    line: int
    imported_from: str | None = None
    level: int = 0


class Source:
    """One parsed source file: its tree, its defs and classes, and its module-level bindings."""

    def __init__(self, rel: str, label: str, text: str) -> None:
        self.rel, self.label, self.text = rel, label, text
        self.tree = ast.parse(text)
        self.functions: dict[tuple[str, int], list[ast.AST]] = {}   # (name, first line) -> defs/lambdas
        self.classes: dict[str, ast.AST] = {}                       # qualified name -> class statement
        self._index(self.tree, [])
        self.bindings = bindings(self.tree.body)
        for stmt in self.tree.body:  # `Point = namedtuple(...)`: a class made by a call has that as source
            for target in getattr(stmt, "targets", [getattr(stmt, "target", None)]):
                if isinstance(target, ast.Name) and isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    self.classes.setdefault(target.id, stmt)

    def _index(self, node: ast.AST, stack: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                self.classes[".".join([*stack, child.name])] = child
                self._index(child, [*stack, child.name])
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])  # = co_firstlineno
                self.functions.setdefault((child.name, first), []).append(child)
                self._index(child, [*stack, child.name, "<locals>"])
            else:
                if isinstance(child, ast.Lambda):
                    self.functions.setdefault(("<lambda>", child.lineno), []).append(child)
                self._index(child, stack)


def bindings(body: list[ast.stmt]) -> dict[str, Binding]:
    """Names bound by these statements (not inside their defs or classes); the last binding wins."""
    found: dict[str, Binding] = {}
    for node in _shallow_walk(body):
        if isinstance(node, ast.Import):
            found.update({a.asname or top(a.name): Binding(node.lineno, a.name) for a in node.names})
        elif isinstance(node, ast.ImportFrom):
            found.update({a.asname or a.name: Binding(node.lineno, node.module or "", node.level) for a in node.names})
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = Binding(node.lineno)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found[node.id] = Binding(node.lineno)
    return found


def _shallow_walk(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The nodes of these statements in source order, not descending into defs, classes or lambdas."""
    todo: list[ast.AST] = list(reversed(body))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(reversed(list(ast.iter_child_nodes(node))))


def _flow_file(flow_cls: type) -> str | None:
    """The file defining the flow: its module's, else (a module not in sys.modules) that of its methods."""
    file = getattr(sys.modules.get(flow_cls.__module__), "__file__", None)
    codes = [f.__code__.co_filename for f in vars(flow_cls).values() if isinstance(f, types.FunctionType)]
    return file or next((c for c in codes if os.path.isfile(c)), None)


class UserCode:
    """The flow's folder and what in it is the user's own code; each file parsed once."""

    def __init__(self, flow_cls: type) -> None:
        flow_file = _flow_file(flow_cls)
        self.flow_file = os.path.realpath(flow_file) if flow_file else None
        self.root = os.path.dirname(self.flow_file) if self.flow_file else None
        self.sources: dict[str, Source | None] = {}
        self.user_files: dict[str, bool] = {}

    def is_user_file(self, path: str) -> bool:
        """The flow file, or a file under its folder but not in site-packages/dist-packages or a virtualenv."""
        if path not in self.user_files:
            real = os.path.realpath(path)
            rel = os.path.relpath(real, self.root) if self.root else os.pardir
            parts = rel.split(os.sep)[:-1]
            self.user_files[path] = real == self.flow_file or (
                rel != os.pardir and not rel.startswith(os.pardir + os.sep) and not PACKAGE_DIRS.intersection(parts)
                and not any(os.path.exists(os.path.join(self.root, *parts[:i], "pyvenv.cfg"))
                            for i in range(len(parts) + 1)))
        return self.user_files[path]

    def is_user_module(self, module: types.ModuleType) -> bool:
        paths = [getattr(module, "__file__", None) or "", *list(getattr(module, "__path__", []) or [])]
        return not is_framework(module.__name__) and any(path and self.is_user_file(path) for path in paths)

    def is_user_function(self, func: types.FunctionType) -> bool:
        """Defined in the flow module or a local module; or made by exec/typed in a session (source unknown)."""
        name, file = func.__globals__.get("__name__"), func.__globals__.get("__file__")
        return not is_framework(name) and (self.is_user_file(file) if file else name in (None, "__main__"))

    def is_user_class(self, klass: type) -> bool:
        module = sys.modules.get(klass.__module__)
        return module is not None and self.is_user_module(module)

    def source(self, path: str, module_name: str | None) -> Source | None:
        """The parsed file (None if unreadable), labelled `flow.py:` for the flow module, else `module.`."""
        real = os.path.realpath(path)
        if real not in self.sources:
            rel = os.path.relpath(real, self.root) if self.root and self.is_user_file(real) else os.path.basename(real)
            label = f"{rel}:" if real == self.flow_file else f"{module_name}."
            try:
                with tokenize.open(real) as handle:
                    self.sources[real] = Source(rel.replace(os.sep, "/"), label, handle.read())
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                self.sources[real] = None
        return self.sources[real]

    def module_source(self, module: types.ModuleType | None) -> Source | None:
        file = getattr(module, "__file__", None)
        return self.source(file, module.__name__) if file else None
