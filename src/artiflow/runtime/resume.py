"""Resume: which tasks of an earlier (origin) run a new run reuses by reference instead of running.

A task is reused when its step is not at or after the resume point and the origin run has a
successful task at the same place (same step, same foreach indices). Without a named step, the
resume point is every step that did not fully succeed: its successful tasks are reused, its failed
ones and everything after it run again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..datastore import ArtifactRef
from ..exceptions import CommandError
from ..flowspec import Frame
from ..graph import FlowGraph
from ..lineage.records import Producers

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from ..metadata.records import RunRecord, TaskRecord

# an origin task to reuse: its record, its artifacts and their producers
Reusable = tuple["TaskRecord", dict[str, ArtifactRef], dict[str, Producers]]


def descendants(graph: FlowGraph, steps: set[str], include_self: bool) -> set[str]:
    """Every step reachable from `steps` going forward (and the steps themselves if include_self).

    A loop's back edge is not followed: the visits of a loop before its failure are reused.
    """
    found = set(steps) if include_self else set()

    def forward(name: str) -> list[str]:
        return [child for child in graph[name].out if (name, child) not in graph.back_edges]

    todo = [child for s in steps for child in forward(s)]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(forward(name))
    return found


def _place(step: str, indices: tuple[int, ...] | list) -> tuple:
    return (step, tuple(indices))


class ResumePlan:
    """The origin run's reusable tasks, and the steps that must run again."""

    def __init__(self, metadata: MetadataStore, graph: FlowGraph, origin: RunRecord, step: str | None) -> None:
        self.origin = origin
        flow, run_id = origin.flow, origin.run_id
        tasks = metadata.tasks(flow, run_id)
        incomplete = {t.step for t in tasks if t.status != "succeeded"}  # a caught failure runs again
        if step is not None:
            if step not in graph:
                raise CommandError(f"resume {step}: the flow {graph.name} has no step '{step}'; its steps are: "
                                   f"{', '.join(n.name for n in graph)}.")
            self.rerun = descendants(graph, {step}, include_self=True)
            self.resume_point = step
        else:
            if origin.status == "succeeded" and not incomplete:
                raise CommandError(
                    f"Run {flow}/{run_id} succeeded: there is nothing to resume. To run again from a step, name "
                    f"it: resume STEP (e.g. resume {next(iter(graph)).name}).")
            failed = incomplete & set(n.name for n in graph)
            # a @parallel gang runs whole: a step with a failed gang member runs again entirely
            gangs = {name for name in failed if graph[name].parallel_step}
            self.rerun = descendants(graph, failed, include_self=False) | gangs
            order = [n.name for n in graph]
            self.resume_point = min(failed, key=order.index) if failed else None
        artifacts = metadata.artifacts_of_run(flow, run_id)
        producers = metadata.producers_of_run(flow, run_id)
        # a place (step, foreach indices) holds one task per visit: several when a switch loops back
        self.reusable: dict[tuple, list[Reusable | None]] = {}
        for t in sorted(tasks, key=lambda t: t.task_id):
            visits = self.reusable.setdefault(_place(t.step, [f["index"] for f in t.foreach_stack]), [])
            ok = t.status == "succeeded" and t.transition is not None
            where = (t.step, t.task_id)
            visits.append((t, artifacts.get(where, {}), producers.get(where, {})) if ok else None)

    def find(self, step: str, frames: list[Frame], visit: int = 0) -> Reusable | None:
        """The origin task to reuse for this place and visit (its record, artifacts, producers), or None."""
        if step in self.rerun:
            return None
        visits = self.reusable.get(_place(step, [f.index for f in frames]), [])
        return visits[visit] if visit < len(visits) else None


def origin_pathspec(task: TaskRecord) -> str:
    """Where a reused task's artifacts were first made (a task reused twice points at the first)."""
    return task.origin or task.pathspec
