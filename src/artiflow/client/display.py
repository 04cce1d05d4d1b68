"""What the client objects show in a notebook (`_repr_html_`): a flow's runs, a run's steps, a step's tasks, a
task's artifacts, one artifact's value, a metric set's metrics.

Cheap and safe by design: a run's view costs two metadata queries (its tasks, its metric names), a step's
none, a task's one for its artifact refs (and its metrics), and only small artifacts are loaded for previews
(PREVIEW_MAX_BYTES each, PREVIEW_MAX_COUNT in all). Every value shown is HTML-escaped; the HTML is self-contained (inline styles, no scripts) and uses
the theme's own text colour, so it reads in light and dark notebooks alike.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..cards.page import esc
from ..cli.inspect import format_duration, format_size, format_time
from .context import to_datetime
from .preview import MUTED, PRE, cut, short_text, value_html

if TYPE_CHECKING:
    from ..metadata.records import MetricRecord
    from .data import DataArtifact, TaskData
    from .flow import Flow, Run
    from .metrics import MetricSet
    from .task import Step, Task

PREVIEW_MAX_BYTES = 64 * 1024  # a task's view previews artifacts up to this size...
PREVIEW_MAX_COUNT = 20  # ...and at most this many of them
VALUE_MAX_BYTES = 32 * 1024 * 1024  # an artifact's own view loads values up to this size
FLOW_RUNS = 20  # runs in a flow's view
STEP_TASKS = 100  # tasks in a step's view
FAILED_TASKS = 10  # failed tasks a run's view names
PARAM_CHARS = 300  # characters of a run's parameters shown
EXCEPTION_CHARS = 400  # characters of a failed task's exception shown
METRIC_NAMES = 50  # metrics in a metric set's view
SPARK_POINTS = 200  # points of a metric's sparkline

BOX = "font-family:inherit;font-size:0.92em;line-height:1.45;margin:2px 0"
TITLE = "font-weight:600;font-size:1.08em;margin-bottom:2px"
TABLE = "border-collapse:collapse;margin:6px 0;border:none"
CELL = ("padding:2px 12px 2px 0;text-align:left;vertical-align:top;white-space:nowrap;"
        "border-bottom:1px solid rgba(128,128,128,0.3)")
WRAP = "white-space:normal;min-width:16em"  # a cell of free text (a preview) wraps
HEAD_CELL = CELL + ";font-weight:600"
CODE = "font-family:monospace;font-size:0.95em"
# white on a saturated colour: readable on light and dark backgrounds
STATUS_COLOURS = {"succeeded": "#1a7f37", "failed": "#cf222e", "running": "#9a6700", "caught": "#8250df"}
OTHER_COLOUR = "#57606a"


UNSTORED = {"failed": "The task failed: artifacts are stored only when a task succeeds.",
            "running": "The task is still running: its artifacts are stored when it succeeds."}


# -- small pieces ----------------------------------------------------------------------------------
def badge(status: str) -> str:
    """A status as a small coloured label."""
    colour = STATUS_COLOURS.get(status, OTHER_COLOUR)
    return (f'<span style="background:{colour};color:#fff;border-radius:3px;padding:0 5px;'
            f'font-size:0.9em;white-space:nowrap">{esc(status)}</span>')


def statuses_html(statuses: Iterable[str]) -> str:
    """One badge when every task agrees, else a badge and count per status (`succeeded ×3 failed ×1`)."""
    counts = Counter(statuses)
    if len(counts) == 1:
        return badge(next(iter(counts)))
    return " ".join(f"{badge(status)}&nbsp;×{n}" for status, n in sorted(counts.items()))


def code(text: object) -> str:
    """Text in a monospace font, escaped."""
    return f'<code style="{CODE}">{esc(text)}</code>'


def table(headers: list[str], rows: Iterable[list[str]]) -> str:
    """A table from header names and cells that are already HTML."""
    head = "".join(f'<th style="{HEAD_CELL}">{esc(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td style="{CELL}">{c}</td>' for c in row) + "</tr>" for row in rows)
    return f'<table style="{TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    """`label value · label value` for the pairs whose value is not empty (values are HTML)."""
    shown = [f'<span style="{MUTED}">{esc(label)}</span> {value}' for label, value in pairs if value]
    return f"<div>{' · '.join(shown)}</div>" if shown else ""


def note(text: str) -> str:
    """A muted line of text (escaped)."""
    return f'<div style="{MUTED}">{esc(text)}</div>'


def note_inline(text: str) -> str:
    """Muted text inside a line (escaped)."""
    return f'<span style="{MUTED}">({esc(text)})</span>'


def box(kind: str, pathspec: str, status_html: str, *parts: str) -> str:
    """The frame of every view: a title line (kind, pathspec, status) and the parts below it."""
    title = f'<div style="{TITLE}">{esc(kind)} {code(pathspec)} {status_html}</div>'
    return f'<div style="{BOX}">{title}{"".join(parts)}</div>'


def duration(start: datetime | None, end: datetime | None) -> str:
    """How long something took, or `running for …` when it has not ended."""
    if start is None:
        return "-"
    text = format_duration(start, end)
    return text if end is not None else f"running for {text}"


def span_of(created: Iterable[float], finished: Iterable[float | None]) -> tuple[datetime | None, datetime | None]:
    """The first start and the last end of some tasks (no end while one of them runs)."""
    starts, ends = list(created), list(finished)
    end = None if not ends or None in ends else max(e for e in ends if e is not None)
    return to_datetime(min(starts) if starts else None), to_datetime(end)


# -- a flow: its newest runs -----------------------------------------------------------------------
def flow_html(flow: Flow) -> str:
    """A flow's newest runs: id, status, start, duration, user and tags (one query: the flow's runs)."""
    rows = flow._run_rows()
    runs = [flow._run(row) for row in rows[:FLOW_RUNS]]
    lines = [[code(run.id), badge(run.status), esc(format_time(run.created_at)),
              esc(duration(run.created_at, run.finished_at)), esc(run.user or "-"),
              esc(", ".join(sorted(run.user_tags)) or "-")] for run in runs]
    where = "every namespace" if flow._visible_ns is None else f"namespace {flow._visible_ns}"
    parts = [facts([("runs", esc(f"{len(rows):,} in {where}"))])]
    parts.append(table(["run", "status", "started", "duration", "user", "tags"], lines) if runs
                 else note("No runs in this namespace."))
    if len(rows) > FLOW_RUNS:
        parts.append(note(f"The newest {FLOW_RUNS} of {len(rows):,} runs; all of them: list(flow)."))
    return box("Flow", flow.pathspec, "", *parts)


# -- a run: its steps ------------------------------------------------------------------------------
def run_html(run: Run) -> str:
    """A run's facts, its steps (tasks, status, start, duration, retries) and metric names: two queries."""
    steps = run.steps()
    tasks = {step.name: step.tasks() for step in steps}
    lines = [_step_line(step, tasks[step.name]) for step in steps]
    failed = [task.pathspec for step_tasks in tasks.values() for task in step_tasks if task.status == "failed"]
    parts = [_run_facts(run), table(["step", "tasks", "status", "started", "duration", "retries", "reused"], lines)
             if steps else note("No task has started yet.")]
    if failed:
        more = f" (and {len(failed) - FAILED_TASKS} more)" if len(failed) > FAILED_TASKS else ""
        parts.append(facts([("failed", ", ".join(code(p) for p in failed[:FAILED_TASKS]) + esc(more))]))
    parts.append(_metric_names(run))
    return box("Run", run.pathspec, badge(run.status), *parts)


def _metric_names(run: Run) -> str:
    """The names of the run's metrics, and how to see them (one query: the names, not the points)."""
    names = run._ctx.meta.metric_names(run.flow_name, run._row.run_id)
    if not names:
        return ""
    shown = ", ".join(code(n) for n in names[:METRIC_NAMES]) + (" …" if len(names) > METRIC_NAMES else "")
    return facts([("metrics", f"{shown} {note_inline('run.metrics() shows them')}")])


def _run_facts(run: Run) -> str:
    """A run's start, duration, user, tags, origin and parameters."""
    params = ", ".join(f"{name}={value!r}" for name, value in run.parameters.items())
    return facts([("started", esc(format_time(run.created_at))),
                  ("duration", esc(duration(run.created_at, run.finished_at))),
                  ("user", esc(run.user or "")), ("tags", esc(", ".join(sorted(run.user_tags)))),
                  ("resumed from", code(run.origin_pathspec) if run.origin_pathspec else ""),
                  ("parameters", code(cut(params, PARAM_CHARS)) if params else "")])


def _step_line(step: Step, tasks: list[Task]) -> list[str]:
    """One row of a run's step table."""
    start, end = span_of((t._row.created_at for t in tasks), (t._row.finished_at for t in tasks))
    retries = sum(t.attempt for t in tasks)
    return [code(step.name), f"{len(tasks):,}", statuses_html(t.status for t in tasks), esc(format_time(start)),
            esc(duration(start, end)), f"{retries:,}" if retries else "-", esc(_reused(tasks))]


def _reused(tasks: list[Task]) -> str:
    """How many tasks were reused: from the step cache, or cloned by resume; `-` when none."""
    cached = sum(1 for t in tasks if t.cached_from)
    resumed = sum(1 for t in tasks if t.origin_pathspec)
    parts = ([f"{cached} from cache"] if cached else []) + ([f"{resumed} resumed"] if resumed else [])
    return ", ".join(parts) or "-"


# -- a step: its tasks -----------------------------------------------------------------------------
def step_html(step: Step) -> str:
    """A step's tasks (id, status, foreach index, start, duration, attempts): no query, the step has its rows."""
    tasks = step.tasks()
    start, end = span_of((t._row.created_at for t in tasks), (t._row.finished_at for t in tasks))
    lines = [[code(t.id), badge(t.status), "-" if t.index is None else str(t.index), esc(format_time(t.created_at)),
              esc(duration(t.created_at, t.finished_at)), str(t.attempt + 1)] for t in tasks[:STEP_TASKS]]
    parts = [facts([("tasks", f"{len(tasks):,}"), ("started", esc(format_time(start))),
                    ("duration", esc(duration(start, end)))]),
             table(["task", "status", "index", "started", "duration", "attempts"], lines)]
    if len(tasks) > STEP_TASKS:
        parts.append(note(f"The first {STEP_TASKS} of {len(tasks):,} tasks; all of them: step.tasks()."))
    return box("Step", step.pathspec, statuses_html(t.status for t in tasks), *parts)


# -- a task: its artifacts -------------------------------------------------------------------------
def task_html(task: Task) -> str:
    """A task's facts, its exception if it failed, and its artifacts with type, size and a preview of small ones."""
    parts = [_task_facts(task)]
    if task.status in ("failed", "caught") and task.exception is not None:
        parts.append(f'<pre style="{PRE}">{esc(cut(str(task.exception), EXCEPTION_CHARS))}</pre>')
    parts.append(artifacts_html(task))
    if len(task.metrics):
        parts.append(metrics_html(task.metrics))
    return box("Task", task.pathspec, badge(task.status), *parts)


def _task_facts(task: Task) -> str:
    """A task's start, duration, attempts, foreach position and where it was reused from."""
    frames = [f"{f.get('var')}[{f.get('index')}] of {f.get('num_splits')}" for f in task.foreach_stack]
    return facts([("started", esc(format_time(task.created_at))),
                  ("duration", esc(duration(task.created_at, task.finished_at))),
                  ("attempts", str(task.attempt + 1) if task.attempt else ""),
                  ("foreach", esc(", ".join(frames))),
                  ("resumed from", code(task.origin_pathspec) if task.origin_pathspec else ""),
                  ("cached from", code(task.cached_from) if task.cached_from else "")])


def artifacts_html(task: Task) -> str:
    """A task's artifacts: name, type, size, and a preview of the first PREVIEW_MAX_COUNT small ones."""
    refs = task._all_refs()
    unstored = UNSTORED.get(task.status, "")
    if not refs:
        return note(f"No artifacts. {unstored}")
    small = [name for name, ref in refs.items() if ref.size <= PREVIEW_MAX_BYTES]
    previewed = set(small[:PREVIEW_MAX_COUNT])
    lines = [[code(name), code(ref.type), esc(format_size(ref.size)), _preview_cell(task, name, ref.size, previewed)]
             for name, ref in refs.items()]
    return table(["artifact", "type", "size", "preview"], lines) + (note(unstored) if unstored else "")


def _preview_cell(task: Task, name: str, size: int, previewed: set[str]) -> str:
    """A one-line preview of a small artifact (it is loaded), else why it is not shown."""
    if size > PREVIEW_MAX_BYTES:
        return note(f"not loaded ({format_size(size)})")
    if name not in previewed:
        return note(f"not loaded (only {PREVIEW_MAX_COUNT} previews per task)")
    return f'<div style="{WRAP}">{_guarded(lambda: code(short_text(task.data[name])))}</div>'


def _guarded(render: Callable[[], str]) -> str:
    """A preview, or why it could not be made (a value this process cannot load: a missing module, a plugin)."""
    try:
        return render()
    except Exception as exc:  # noqa: BLE001 - a value that cannot be loaded here must not break the view
        return note(f"cannot load: {type(exc).__name__}: {cut(str(exc), 200)}")


def task_data_html(data: TaskData) -> str:
    """`task.data` shows the same artifact table as its task."""
    task = data._af_task
    return box("Data of", task.pathspec, "", artifacts_html(task))


# -- one artifact: its value -----------------------------------------------------------------------
def artifact_html(artifact: DataArtifact) -> str:
    """An artifact's type, size and serializer, and its value (a DataFrame as a table) unless it is very large."""
    ref = artifact._ref
    parts = [facts([("type", code(ref.type)), ("size", esc(format_size(ref.size))),
                    ("serializer", esc(ref.serializer)), ("key", code(ref.key[:16]))])]
    loaded = artifact.name in artifact._task.data._af_values
    if ref.size > VALUE_MAX_BYTES and not loaded:
        parts.append(note(f"Not loaded ({format_size(ref.size)}): read it with artifact.data."))
    else:
        parts.append(_guarded(lambda: value_html(artifact.data)))
    return box("Artifact", artifact.pathspec, "", *parts)



# -- metrics: a row per metric name ----------------------------------------------------------------
def metrics_html(metrics: MetricSet) -> str:
    """A metric set: per name, its points, tasks, last value, min, max and a sparkline (nothing is queried)."""
    where = metrics.where or "these points"
    if not len(metrics):
        return box("Metrics of", where, "", note("No metrics logged (self.log_metric(name, value) in a step)."))
    by_name: dict[str, list[MetricRecord]] = {}
    for record in metrics:
        by_name.setdefault(record.name, []).append(record)
    lines = [_metric_line(name, records) for name, records in list(by_name.items())[:METRIC_NAMES]]
    tasks = len({r.pathspec for r in metrics})
    parts = [facts([("points", f"{len(metrics):,}"), ("tasks", f"{tasks:,}" if tasks > 1 else "")]),
             table(["metric", "points", "tasks", "last", "min", "max", "trend"], lines)]
    if len(by_name) > METRIC_NAMES:
        parts.append(note(f"The first {METRIC_NAMES} of {len(by_name):,} metrics; all of them: metrics.names."))
    return box("Metrics of", where, "", *parts)


def _metric_line(name: str, records: list[MetricRecord]) -> list[str]:
    """One metric's row: counts, the last value logged, the range of its non-NaN values, its trend."""
    values = [r.value for r in records if not math.isnan(r.value)]
    last = max(records, key=lambda r: r.timestamp).value
    low, high = (number(min(values)), number(max(values))) if values else ("-", "-")
    tasks = len({r.pathspec for r in records})
    return [code(name), f"{len(records):,}", f"{tasks:,}", number(last), low, high, sparkline(records)]


def number(value: float) -> str:
    """A metric value, six significant digits (`nan`, `inf` as such)."""
    return esc(f"{value:.6g}")


def _trend(records: list[MetricRecord]) -> list[float]:
    """A metric's finite values in order: by its step (the mean over tasks at each step) when every point has
    one, else as logged (by time)."""
    finite = [r for r in records if math.isfinite(r.value)]
    if any(r.step is None for r in finite):
        return [r.value for r in sorted(finite, key=attrgetter("timestamp"))]
    steps = [r.step for r in finite]
    if all(a < b for a, b in zip(steps, steps[1:])):  # one task's points, logged step by step
        return [r.value for r in finite]
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for record in finite:
        step = record.step
        sums[step] = sums.get(step, 0.0) + record.value  # type: ignore[index]
        counts[step] = counts.get(step, 0) + 1  # type: ignore[index]
    return [sums[step] / counts[step] for step in sorted(sums)]


def sparkline(records: list[MetricRecord]) -> str:
    """A small inline SVG line of a metric's values (by its step when every point has one, else as logged)."""
    values = _trend(records)
    if len(values) < 2:
        return "-"
    if len(values) > SPARK_POINTS:  # evenly spaced points, the last one kept
        values = [values[i * (len(values) - 1) // (SPARK_POINTS - 1)] for i in range(SPARK_POINTS)]
    low, high = min(values), max(values)
    spread = (high - low) or 1.0
    width, height = 120, 22
    xy = " ".join(f"{i * width / (len(values) - 1):.1f},{height - 2 - (v - low) / spread * (height - 4):.1f}"
                  for i, v in enumerate(values))
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'style="vertical-align:middle"><polyline points="{xy}" fill="none" stroke="currentColor" '
            f'stroke-width="1.5"/></svg>')


VIEWS: dict[str, Callable[[Any], str]] = {
    "flow": flow_html, "run": run_html, "step": step_html, "task": task_html, "artifact": artifact_html,
}


def html_of(obj: Any) -> str:
    """The notebook view of a client object, chosen by its kind."""
    return VIEWS[obj._kind](obj)
