"""Inspect recorded runs from the command line: `artiflow status|show|logs`, `python flow.py dump|logs`.

The CLI sees every namespace (every user's runs): it is a tool for looking at a shared store, and a
pathspec already names exactly what to show. Errors are messages on stderr with exit code 1.
"""

from __future__ import annotations

import json
import pprint
from collections import Counter
from datetime import datetime
from typing import Any, Callable, Iterable

import click

from ..client import DataArtifact, Flow, Run, Step, Task
from ..client.context import using_namespace
from ..client.pathspec import InvalidPathspec, from_pathspec, quoted, split
from .errors import friendly_errors

PREVIEW_WIDTH = 60
PREVIEW_MAX_BYTES = 1_000_000
Echo = Callable[[str], Any]


# -- formatting ---------------------------------------------------------------------------------
def format_duration(start: datetime | None, end: datetime | None) -> str:
    """`0.12s`, `12.3s`, `3m 12s`, `2h 05m`; up to now while still running; `-` without a start."""
    if start is None:
        return "-"
    seconds = ((end or datetime.now()) - start).total_seconds()
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_size(size: int | None) -> str:
    """A byte count for people: `512 B`, `1.5 KB`, `12.0 MB`."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # unreachable


def format_time(moment: datetime | None) -> str:
    """A local timestamp to the second, or `-`."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def table(headers: list[str], rows: Iterable[list[Any]]) -> list[str]:
    """Plain aligned columns, a header line first."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]


def preview(artifact: DataArtifact, width: int = PREVIEW_WIDTH) -> str:
    """A one-line repr of the value, cut to `width`; large values are not loaded."""
    if artifact.size is not None and artifact.size > PREVIEW_MAX_BYTES:
        return f"<{artifact.size / 1e6:.1f} MB>"
    try:
        text = " ".join(repr(artifact.data).split())
    except Exception as exc:  # a value this process cannot load (missing module, plugin...)
        return f"<cannot load: {type(exc).__name__}>"
    return text if len(text) <= width else text[: width - 3] + "..."


def format_value(value: Any) -> str:
    """An artifact's full value: a string as is, anything else pretty-printed."""
    return value if isinstance(value, str) else pprint.pformat(value, width=100)


def status_summary(statuses: Iterable[str]) -> str:
    """`succeeded` when all agree, else counts such as `2 succeeded, 1 failed`."""
    counts = Counter(statuses)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


# -- what `show` prints for each kind of object ----------------------------------------------------------
def runs_lines(flow: Flow) -> list[str]:
    """A table of a flow's runs, newest first."""
    rows = [[run.id, run.status, format_time(run.created_at), format_duration(run.created_at, run.finished_at),
             run.user or "-", ", ".join(sorted(run.user_tags)) or "-"] for run in flow]
    return table(["ID", "STATUS", "STARTED", "DURATION", "USER", "TAGS"], rows)


def fields(pairs: list[tuple[str, str]]) -> list[str]:
    """`  name   value` lines, aligned."""
    width = max(len(name) for name, _ in pairs)
    return [f"  {name.ljust(width)}  {value}" for name, value in pairs]


def run_lines(run: Run) -> list[str]:
    """A run's facts, then its steps with task counts, status and duration."""
    params = ", ".join(f"{k}={v!r}" for k, v in run.parameters.items()) or "-"
    head = [f"Run {run.pathspec}", *fields([
        ("status", run.status), ("user", run.user or "-"), ("started", format_time(run.created_at)),
        ("duration", format_duration(run.created_at, run.finished_at)),
        ("tags", ", ".join(sorted(run.user_tags)) or "-"), ("system tags", ", ".join(sorted(run.system_tags)) or "-"),
        ("parameters", params)])]
    rows = [[step.name, len(step), status_summary(t.status for t in step), _reused_summary(step),
             format_duration(step.created_at, step.finished_at)] for step in run]
    return [*head, "", *table(["STEP", "TASKS", "STATUS", "REUSED", "DURATION"], rows)]


def _reused_summary(step: Step) -> str:
    """How many of a step's tasks came from the step cache or from a resumed run: `2 from cache`, or `-`."""
    tasks = list(step)
    cached = sum(1 for t in tasks if t.cached_from)
    resumed = sum(1 for t in tasks if t.origin_pathspec)
    parts = ([f"{cached} from cache"] if cached else []) + ([f"{resumed} resumed"] if resumed else [])
    return ", ".join(parts) or "-"


def step_lines(step: Step) -> list[str]:
    """A step's tasks (id, status, foreach index, attempt, duration); a step of one task also shows its artifacts."""
    tasks = step.tasks()
    rows = [[task.id, task.status, "-" if task.index is None else task.index, task.attempt,
             format_duration(task.created_at, task.finished_at)] for task in tasks]
    lines = [f"Step {step.pathspec}: {len(tasks)} task{'s' if len(tasks) != 1 else ''}", "",
             *table(["TASK", "STATUS", "INDEX", "ATTEMPT", "DURATION"], rows), ""]
    if len(tasks) == 1:
        return [*lines, f"Artifacts of task {tasks[0].pathspec}:", *artifact_rows(tasks[0])]
    return [*lines, f"To see one task's artifacts: artiflow show {step.pathspec}/TASK, e.g. {tasks[0].pathspec}."]


def artifact_rows(task: Task) -> list[str]:
    """A table of a task's artifacts with type, size and a short preview."""
    artifacts = list(task.artifacts)
    if not artifacts:
        note = "" if task.successful else f" (the task {task.status}: artifacts are stored only on success)"
        return [f"No artifacts{note}."]
    rows = [[a.name, a.type, format_size(a.size), preview(a)] for a in artifacts]
    return table(["NAME", "TYPE", "SIZE", "PREVIEW"], rows)


def task_lines(task: Task) -> list[str]:
    """A task's facts, then its artifacts."""
    pairs = [("status", task.status), ("started", format_time(task.created_at)),
             ("duration", format_duration(task.created_at, task.finished_at))]
    for frame in task.foreach_stack:
        pairs.append(("foreach", f"{frame.get('var')}[{frame.get('index')}] of {frame.get('num_splits')} "
                                 f"(split in {frame.get('step')})"))
    if task.origin_pathspec:
        pairs.append(("origin", task.origin_pathspec))
    if task.cached_from:
        pairs.append(("cached from", task.cached_from))
    if task.exception:
        pairs.append(("exception", str(task.exception)))
    return [f"Task {task.pathspec}", *fields(pairs), "", *attempt_rows(task), *artifact_rows(task)]


def attempt_rows(task: Task) -> list[str]:
    """Every attempt of a retried task with its outcome (nothing for a task that ran once)."""
    attempts = task.attempts
    if len(attempts) <= 1:
        return []
    rows = [[str(a.number), a.status, format_duration(a.started_at, a.finished_at), str(a.exception or "")]
            for a in attempts]
    return [*table(["ATTEMPT", "STATUS", "DURATION", "ERROR"], rows), ""]


def show_lines(pathspec: str) -> list[str]:
    """What `artiflow show` prints for any pathspec."""
    obj = from_pathspec(pathspec)
    if isinstance(obj, Flow):
        return [f"Flow {obj.name}", "", *runs_lines(obj)]
    if isinstance(obj, Run):
        return run_lines(obj)
    if isinstance(obj, Step):
        return step_lines(obj)
    if isinstance(obj, Task):
        return task_lines(obj)
    return format_value(obj.data).splitlines() or [""]


# -- the functions the per-flow CLI calls ---------------------------------------------------------------
def flow_object(flow_name: str, spec: str, kinds: tuple[str, ...], usage: str, example: str) -> Run | Step | Task:
    """The object a flow-relative pathspec (`RUN/STEP/TASK`; the flow name may lead) names."""
    parts = split(spec)
    if parts[0] == flow_name and len(parts) > 1:
        parts = parts[1:]
    kind = {1: "run", 2: "step", 3: "task"}.get(len(parts))
    if kind not in kinds:
        raise InvalidPathspec(f"{quoted(spec)} is not a valid argument here: give {usage}, e.g. {example}.")
    return from_pathspec("/".join([flow_name, *parts]))


def tasks_of(obj: Run | Step | Task) -> list[Task]:
    """Every task under a run, step or task."""
    if isinstance(obj, Task):
        return [obj]
    if isinstance(obj, Step):
        return obj.tasks()
    return [task for step in obj for task in step]


def dump(flow_name: str, spec: str, echo: Echo = print, as_json: bool = False) -> None:
    """Print the artifacts (name, type, size, preview) of every task under RUN[/STEP[/TASK]]."""
    with using_namespace(None):
        tasks = tasks_of(flow_object(flow_name, spec, ("run", "step", "task"), "RUN[/STEP[/TASK]]", "12/start"))
        if as_json:
            doc = {t.pathspec: {a.name: {"type": a.type, "size": a.size, "sha": a.sha, "preview": preview(a)}
                                for a in t.artifacts} for t in tasks}
            echo(json.dumps(doc, indent=2))
            return
        for number, task in enumerate(tasks):
            lines = [f"Task {task.pathspec} ({task.status})", *artifact_rows(task)]
            echo("\n".join(([""] if number else []) + lines))


def logs(flow_name: str, spec: str, stream: str | None = None, echo: Echo = print) -> None:
    """Print the stored output of the tasks under RUN/STEP[/TASK]: stdout, stderr or (None) both."""
    if stream not in (None, "stdout", "stderr"):
        raise InvalidPathspec(f"Unknown log stream {stream!r}: use stdout or stderr.")
    with using_namespace(None):
        obj = flow_object(flow_name, spec, ("step", "task"), "RUN/STEP[/TASK]", "12/start")
        print_logs(tasks_of(obj), stream, echo)


def _log_sections(task: Task, streams: list[str]) -> list[tuple[str, str, str]]:
    """(title, stream, text) of a task; a retried task gives every attempt's output, oldest first."""
    attempts = task.attempts
    if len(attempts) <= 1:
        return [(task.pathspec, name, getattr(task, name)) for name in streams]
    return [(f"{task.pathspec} attempt {a.number} ({a.status})", name, getattr(a, name))
            for a in attempts for name in streams]


def print_logs(tasks: list[Task], stream: str | None, echo: Echo) -> None:
    """One stream of one task as it is; several (streams, tasks or attempts), each under a header."""
    streams = [stream] if stream else ["stdout", "stderr"]
    sections = [section for task in tasks for section in _log_sections(task, streams)]
    with_text = [section for section in sections if section[2]]
    if not with_text:
        echo(f"(no {stream or 'output'} recorded)")
    elif len(sections) == 1:
        echo(sections[0][2].rstrip("\n"))
    else:
        for title, name, text in with_text:
            echo(f"--- {title} {name} ---")
            echo(text.rstrip("\n"))


# -- the `artiflow` commands -----------------------------------------------------------------------
@click.command("status", help="List the runs of FLOW: id, status, start, duration, user, tags.")
@click.argument("flow")
@friendly_errors
def status_command(flow: str) -> None:
    with using_namespace(None):
        for line in runs_lines(Flow(flow)):
            click.echo(line)


@click.command("show", help="Show a flow's runs, a run's steps, a step's tasks, a task's artifacts, or an "
                            "artifact's value: PATHSPEC is Flow[/run[/step[/task[/artifact]]]].")
@click.argument("pathspec")
@friendly_errors
def show_command(pathspec: str) -> None:
    with using_namespace(None):
        lines = show_lines(pathspec)
    for line in lines:
        click.echo(line)


@click.command("logs", help="Print the stored output of a step's tasks: PATHSPEC is Flow/run/step[/task].")
@click.argument("pathspec")
@click.option("--stderr/--stdout", "stderr", default=None, help="Only stderr, or only stdout (default: both).")
@friendly_errors
def logs_command(pathspec: str, stderr: bool | None) -> None:
    parts = split(pathspec)
    if len(parts) not in (3, 4):
        raise InvalidPathspec(f"{quoted(pathspec)} does not name a step or a task: give Flow/run/step[/task], "
                              f"e.g. HelloFlow/3/start.")
    stream = None if stderr is None else ("stderr" if stderr else "stdout")
    logs(parts[0], "/".join(parts[1:]), stream, echo=click.echo)


def register(group: click.Group) -> None:
    """Add `status`, `show` and `logs` to the `artiflow` command group."""
    for command in (status_command, show_command, logs_command):
        group.add_command(command)
