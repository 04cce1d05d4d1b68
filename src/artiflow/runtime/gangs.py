"""Gangs: the N tasks of a `num_parallel` fan-out, which start together and end together.

The scheduler starts a gang's tasks at once, and goes on only when every one has ended: with all
of them if all succeeded; otherwise the whole gang is retried (a distributed job cannot resume
one node), or, under @catch, only its control task (node 0) goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .spec import TaskResult, TaskSpec


@dataclass
class Gang:
    """One attempt of a gang: its members by node index and what each ended with."""

    members: list[TaskSpec]
    outcomes: dict[int, tuple[TaskSpec, TaskResult | None, dict | None]] = field(default_factory=dict)
    stopped: set[int] = field(default_factory=set)   # members the scheduler killed after another failed

    @property
    def control(self) -> TaskSpec:
        """Node 0, the control task."""
        return self.members[0]

    @property
    def complete(self) -> bool:
        return len(self.outcomes) == len(self.members)

    def running(self) -> list[int]:
        """Task ids of the members that have not ended yet."""
        return [m.task_id for m in self.members if m.task_id not in self.outcomes]

    def finish(self, finished: Any, result: TaskResult | None, exception: dict | None) -> None:
        self.outcomes[finished.spec.task_id] = (finished.spec, result, exception)

    def failures(self) -> list[tuple[TaskSpec, dict]]:
        """(member, error) of each member that failed: those that failed by themselves first, by node index."""
        failed = [(spec, exc) for spec, _, exc in self._ordered() if exc is not None]
        return sorted(failed, key=lambda item: item[0].task_id in self.stopped)

    def results(self) -> list[tuple[TaskSpec, TaskResult]]:
        """(member, result) of every member, by node index (all succeeded)."""
        return [(spec, result) for spec, result, _ in self._ordered() if result is not None]

    def _ordered(self) -> list[tuple[TaskSpec, TaskResult | None, dict | None]]:
        return [self.outcomes[m.task_id] for m in self.members]


class Gangs:
    """The gangs of a run that are still going, found by any member's task id."""

    def __init__(self) -> None:
        self._by_task: dict[int, Gang] = {}

    def start(self, members: list[TaskSpec]) -> None:
        """Track a gang's members (in node order); a gang of reused tasks (resume) is not tracked."""
        if not members:
            return
        gang = Gang(sorted(members, key=lambda m: m.parallel.node_index if m.parallel else 0))
        for member in members:
            self._by_task[member.task_id] = gang

    def pop_member(self, task_id: int) -> Gang | None:
        """The gang a task belongs to, or None for a task outside any gang."""
        return self._by_task.get(task_id)

    def close(self, gang: Gang) -> None:
        for member in gang.members:
            self._by_task.pop(member.task_id, None)
