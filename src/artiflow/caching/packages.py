"""The installed third-party distributions a flow imports, with their versions (part of a step's cache key).

Library code is not fingerprinted, its version is: the flow file and the local modules it imports
are scanned for imports, and the top-level names that are neither the stdlib, artiflow/metaflow,
nor the user's own modules are mapped to the distributions that provide them.
"""

from __future__ import annotations

import ast
import functools
import os
import sys
import types

from .sources import FRAMEWORKS, UserCode, top


def flow_package_versions(flow_cls: type) -> dict[str, str]:
    """The installed distributions the flow module (and the local modules it imports) import: name -> version."""
    import importlib.metadata

    versions: dict[str, str] = {}
    for name in sorted(imported_packages(flow_cls, UserCode(flow_cls))):
        for dist in _packages_distributions().get(name, ()):
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
    return dict(sorted(versions.items()))


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    """Top-level import name -> distributions providing it (slow to compute: once per process)."""
    import importlib.metadata

    return importlib.metadata.packages_distributions()


def imported_packages(flow_cls: type, code: UserCode) -> set[str]:
    """Top-level names of the non-stdlib, non-framework packages the flow and its local modules import."""
    tops: set[str] = set()
    todo, done = [code.flow_file] if code.flow_file else [], set()
    module = sys.modules.get(flow_cls.__module__)
    for value in vars(module).values() if module else ():
        if isinstance(value, types.ModuleType):  # imported by importlib.import_module(...) too
            _note_import(code, value.__name__, tops, todo)
    while todo:
        path = todo.pop()
        source = code.source(path, None) if path not in done else None
        done.add(path)
        for dotted in _imported_names(source.tree) if source else ():
            _note_import(code, dotted, tops, todo)
    return tops


def _note_import(code: UserCode, dotted: str, tops: set[str], todo: list[str]) -> None:
    """A loaded local module goes on `todo` (its imports count too); a library's top-level name into `tops`."""
    loaded = sys.modules.get(dotted)
    if loaded is not None and code.is_user_module(loaded):
        todo.extend(filter(None, [getattr(loaded, "__file__", None)]))
    elif _is_library(code, top(dotted)):
        tops.add(top(dotted))


def _is_library(code: UserCode, name: str) -> bool:
    """Not the stdlib, not artiflow/metaflow, and not a module or package of the user's own."""
    if not name or name in sys.stdlib_module_names or name in FRAMEWORKS or name in ("__future__", "__main__"):
        return False
    loaded = sys.modules.get(name)
    if loaded is not None:
        return not code.is_user_module(loaded)
    base = os.path.join(code.root or "", name)
    return not (code.root and (os.path.isfile(base + ".py") or os.path.isdir(base)))


def _imported_names(tree: ast.Module) -> list[str]:
    """Absolute module names imported anywhere in a file; `from a import b` gives `a` and `a.b` (b may be a module)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.extend([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    return names
