"""Random state in forked tasks: the same as in the fresh process Metaflow starts for every task.

A forked task inherits the runner's generators, where a new process would get fresh entropy, or,
if the flow file seeds at module level, the seeded state (a new process runs that code again).
Without care, every task of a foreach would draw the same numpy numbers, and Python's `random`,
which reseeds itself after a fork, would ignore a module-level `random.seed(42)`. So the runner
reads which generators the flow file seeds, and each task starts as a new process would:
seeded ones keep the runner's (freshly seeded) state, the others are reseeded from entropy.

Covered: Python's `random` and numpy's global `np.random` functions. Generator objects a module
creates (`rng = np.random.default_rng()`) are inherited as they are; seed them in the step.
"""

from __future__ import annotations

import ast
import os
import random
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

PYTHON = "random"
NUMPY = "numpy.random"
_SEEDERS = {f"{PYTHON}.seed": PYTHON, f"{PYTHON}.setstate": PYTHON,
            f"{NUMPY}.seed": NUMPY, f"{NUMPY}.set_state": NUMPY}


@dataclass
class TaskRandomness:
    """Made by the runner before it forks; `apply` runs first thing in each task."""

    seeded: set[str] = field(default_factory=set)
    python_state: Any = None

    @classmethod
    def for_flow_file(cls, path: str | None) -> TaskRandomness:
        seeded = module_level_seeding(path)
        return cls(seeded, random.getstate() if PYTHON in seeded else None)

    def apply(self) -> None:
        """In the forked task: fresh entropy where a new process would have it, the seeded state elsewhere."""
        if self.python_state is not None:
            random.setstate(self.python_state)  # undo the reseed Python does after every fork
        numpy_random = sys.modules.get(NUMPY)
        if numpy_random is not None and NUMPY not in self.seeded:
            # numpy does not reseed after a fork; 128 bits of entropy (6x cheaper than seed() with none)
            entropy = os.urandom(16)
            numpy_random.seed([int.from_bytes(entropy[i : i + 4], "little") for i in range(0, 16, 4)])


def module_level_seeding(path: str | None) -> set[str]:
    """Which of `random` and `numpy.random` the file seeds outside its functions and classes."""
    if not path:
        return set()
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    aliases: dict[str, str] = {}
    seeded: set[str] = set()
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import):
            for name in node.names:
                aliases[name.asname or name.name.split(".")[0]] = name.name if name.asname else name.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for name in node.names:
                aliases[name.asname or name.name] = f"{node.module}.{name.name}"
        elif isinstance(node, ast.Call):
            dotted = _dotted(node.func)
            if dotted:
                head, _, rest = dotted.partition(".")
                full = ".".join(filter(None, (aliases.get(head, head), rest)))
                if full in _SEEDERS:
                    seeded.add(_SEEDERS[full])
    return seeded


def _module_level(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """The nodes in source order (imports before the calls that use them), except inside functions and classes."""
    for node in nodes:
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            yield from _module_level(ast.iter_child_nodes(node))


def _dotted(node: ast.AST) -> str | None:
    """`np.random.seed` for that attribute chain; None for anything else (a call result, a subscript)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])
