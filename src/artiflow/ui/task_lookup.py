"""Finding what a task URL names (run, task, attempt) and reading its query values, with messages for people.

Every miss raises NotFound naming the pathspec and what exists instead (the app shows a 404 page);
a bad query value raises InvalidQuery saying what is accepted (a 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from ..client.context import listing
from ..exceptions import ArtiflowException, NotFound

if TYPE_CHECKING:
    from ..client.context import Context
    from ..metadata.records import AttemptRecord, RunRecord, TaskRecord


class InvalidQuery(ArtiflowException):
    """A query value of a UI address that cannot be used (a 400 page or JSON error)."""

    headline = "Invalid request"


@dataclass
class FoundTask:
    """A task the URL named: its run's and its own records, and the context reading the run's blobs."""

    run: RunRecord
    task: TaskRecord
    ctx: Context

    @property
    def pathspec(self) -> str:
        return self.task.pathspec

    @property
    def key(self) -> tuple[str, int, str, int]:
        """(flow, run_id, step, task_id): what the metadata store's task reads take."""
        return self.task.flow, self.task.run_id, self.task.step, self.task.task_id


def path_number(text: str, what: str, pathspec: str) -> int:
    """A run or task id from the URL; NotFound when it is not a number (no such thing can exist)."""
    if not text.isascii() or not text.isdigit():
        raise NotFound(f"{what.capitalize()} {pathspec} does not exist: {what} ids are whole numbers.")
    return int(text)


def find_task(ctx: Context, flow: str, run_text: str, step: str, task_text: str) -> FoundTask:
    """The task `flow/run/step/task`, or NotFound naming what is missing and what exists there."""
    run_id = path_number(run_text, "run", f"{flow}/{run_text}")
    task_id = path_number(task_text, "task", f"{flow}/{run_id}/{step}/{task_text}")
    run = find_run(ctx, flow, run_id)
    task = ctx.meta.task(flow, run_id, step, task_id)
    if task is None:
        raise NotFound(_missing_task(ctx, flow, run_id, step, task_id))
    return FoundTask(run, task, ctx.for_run(run))


def find_run(ctx: Context, flow: str, run_id: int) -> RunRecord:
    """The run's record, or NotFound naming the flow's runs (or the flows) instead."""
    run = ctx.meta.run(flow, run_id)
    if run is not None:
        return run
    flows = ctx.meta.flows()
    if flow not in flows:
        raise NotFound(f"Flow {flow} does not exist; flows: {listing(flows)}.")
    runs = [r.run_id for r in ctx.meta.runs(flow)]
    raise NotFound(f"Run {flow}/{run_id} does not exist; runs of {flow} (newest first): {listing(runs)}.")


def _missing_task(ctx: Context, flow: str, run_id: int, step: str, task_id: int) -> str:
    """The message for a task the run does not have: the step's tasks, or the run's steps."""
    tasks = ctx.meta.tasks(flow, run_id, step)
    if tasks:
        ids = sorted(t.task_id for t in tasks)
        return f"Task {flow}/{run_id}/{step}/{task_id} does not exist; tasks of {flow}/{run_id}/{step}: {listing(ids)}."
    steps = list(dict.fromkeys(t.step for t in ctx.meta.tasks(flow, run_id)))
    return f"Step {flow}/{run_id}/{step} does not exist; steps of {flow}/{run_id}: {listing(steps)}."


def find_attempt(found: FoundTask, attempts: list[AttemptRecord], number: int | None) -> AttemptRecord | None:
    """The attempt `number` (default: the latest), or NotFound listing the task's attempts."""
    if number is None:
        return attempts[-1] if attempts else None
    for attempt in attempts:
        if attempt.attempt == number:
            return attempt
    raise NotFound(f"Attempt {number} of task {found.pathspec} does not exist; its attempts: "
                   f"{listing(a.attempt for a in attempts)}.")


def query_int(request: Request, name: str, default: int | None = None, minimum: int = 0) -> int | None:
    """A whole-number query value (`?attempt=2`), `default` when absent; InvalidQuery when it is not one."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidQuery(f"?{name}={text!r} is not a whole number: give {name}={minimum} or more.") from None
    if value < minimum:
        raise InvalidQuery(f"?{name}={value} is below {minimum}: give {name}={minimum} or more.")
    return value


def query_choice(request: Request, name: str, choices: tuple[str, ...]) -> str:
    """A query value that must be one of `choices` (the first is the default)."""
    value = request.query_params.get(name) or choices[0]
    if value not in choices:
        raise InvalidQuery(f"?{name}={value!r} is not known: use one of {', '.join(choices)}.")
    return value
