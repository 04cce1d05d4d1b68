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

from .flowgraph import FlowGraph
from .nodes import RESERVED_NAMES, StepNode

__all__ = ["RESERVED_NAMES", "FlowGraph", "StepNode"]
