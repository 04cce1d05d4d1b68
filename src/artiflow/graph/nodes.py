"""A step of the graph (StepNode) and how graph errors point at source: `file:line`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

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
