"""The worker side of a task, as one callable: what an executor runs for each TaskSpec.

Built once per run where the flow's code is loaded (the runner, before it forks; a Dask worker's
task host, once per run), so that each task only calls it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..decorators import all_step_decorators
from .rng import TaskRandomness
from .spec import TaskResult, TaskSpec
from .task import run_task

if TYPE_CHECKING:
    from ..datastore import ContentStore
    from ..decorators import StepDecorator
    from ..flowspec import FlowSpec
    from ..graph import FlowGraph


class TaskWork:
    """Runs one task in this process: the flow class, its graph, the store and each step's decorators."""

    def __init__(self, flow_cls: type[FlowSpec], graph: FlowGraph, store: ContentStore,
                 decorators: dict[str, list[StepDecorator]]) -> None:
        self.flow_cls = flow_cls
        self.graph = graph
        self.store = store
        self.decorators = decorators
        flow_file = getattr(sys.modules.get(flow_cls.__module__), "__file__", None)
        self.randomness = TaskRandomness.for_flow_file(flow_file)  # each task's random state, as in a new process

    @classmethod
    def for_flow(cls, flow_cls: type[FlowSpec], graph: FlowGraph, store: ContentStore,
                 with_decorators: list[StepDecorator] = ()) -> TaskWork:
        """The work of a flow whose steps get their own decorators plus those of `--with`."""
        decorators = {n.name: all_step_decorators(flow_cls, n.name, list(with_decorators)) for n in graph}
        return cls(flow_cls, graph, store, decorators)

    def __call__(self, spec: TaskSpec) -> TaskResult:
        self.randomness.apply()
        return run_task(self.flow_cls, self.graph, spec, self.store, self.decorators[spec.step])
