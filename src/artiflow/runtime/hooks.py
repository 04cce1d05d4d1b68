"""What a step decorator's task hooks may use: the task, its stores, and a way to record metadata.

The hooks run in the task's own process (a worker); they never write the metadata store
themselves. What they record travels back in the TaskResult and the scheduler writes it with the
attempt, so a backend with one writer (SQLite's runner, later a cluster's scheduler) stays one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..datastore import ContentStore
    from ..flowspec import FlowSpec
    from ..graph import FlowGraph
    from .spec import TaskSpec


@dataclass
class MetadataEntry:
    """One fact about a task attempt (Metaflow's task metadata): a field, its value and a type."""

    field: str
    value: str
    type: str
    tags: list[str] = field(default_factory=list)


@dataclass
class TaskHooks:
    """Handed to `StepDecorator.task_pre_step` / `task_post_step` inside the task's process."""

    flow: FlowSpec
    spec: TaskSpec
    store: ContentStore
    graph: FlowGraph
    metadata: list[MetadataEntry] = field(default_factory=list)

    def add_metadata(self, field_name: str, value: Any, type: str | None = None, tags: list[str] | None = None) -> None:
        """Record a metadata entry for this attempt (stored when the attempt ends, even if it failed)."""
        self.metadata.append(MetadataEntry(field_name, str(value), type or field_name, list(tags or [])))
