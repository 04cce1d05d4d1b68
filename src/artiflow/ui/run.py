"""A run's page `/run/{flow}/{id}`: parameters, tags, status, its DAG with each step's state, a timeline of every
attempt, and each step's first page of tasks; `/run/.../step/{step}?page=N` pages a step's tasks.

`/api/run/{flow}/{id}` is the live JSON the page polls while the run runs (status, duration, step states and
counts); `/api/run/{flow}/{id}/timeline` the attempts the timeline draws; `/api/run/{flow}/{id}/step/{step}` a
page of a step's tasks (the tables, rebuilt while the run runs). Everything is read paged or counted in
the metadata store, so a 10,000-task run costs a few small queries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..metadata.browse import StepSummary, TaskPage
from ..metadata.records import RunRecord, TaskRecord
from . import compare, filters, query
from .app import page, reader
from .dag import Dag, count_text, layout, shapes_from_stored, shapes_from_tasks, step_state
from .lookup import check_step, find_run

TASKS_PER_PAGE = 50
TIMELINE_LIMIT = 100_000  # attempts drawn at most (the API says when there were more)
OTHER_RUNS_SHOWN = 200  # runs offered by the compare picker


@dataclass
class StepView:
    """A step as the run page shows it: its summary, state and first page of tasks."""

    name: str
    state: str
    counts: str
    summary: StepSummary | None
    tasks: TaskPage | None


def _steps_and_dag(meta: Any, run: RunRecord) -> tuple[list[str], dict[str, StepSummary], Dag]:
    """The run's steps (graph order), their summaries, and the DAG drawn from the stored graph or the tasks."""
    summaries = {s.step: s for s in meta.step_summaries(run.flow, run.run_id)}
    stored = meta.run_graph(run.flow, run.run_id)
    if stored is not None:
        shapes = shapes_from_stored(stored)
    else:
        shapes = shapes_from_tasks(summaries, meta.step_parents(run.flow, run.run_id))
    names = [shape.name for shape in shapes]
    names += [name for name in summaries if name not in names]
    dag = layout(shapes, summaries, run.status == "running", stored is not None)
    return names, summaries, dag


def task_row(task: TaskRecord, values: dict[int, str] | None = None) -> dict[str, Any]:
    """What a task table shows of a task; `values` are foreach values by task id (from foreach_values)."""
    foreach = ", ".join(f"{f.get('var') or '?'}[{f.get('index')}] of {f.get('num_splits', '?')}"
                        for f in task.foreach_stack)
    shown_status = "cached" if task.cached_from else "reused" if task.origin else task.status
    source = task.cached_from or task.origin
    return {"id": task.task_id, "url": f"/task/{task.flow}/{task.run_id}/{task.step}/{task.task_id}",
            "status": shown_status, "attempts": task.attempt + 1, "foreach": foreach,
            "value": (values or {}).get(task.task_id),
            "started": filters.when(task.created_at), "duration": filters.elapsed(task.created_at, task.finished_at),
            "from": source, "from_url": _task_url(source)}


def foreach_values(meta: Any, tasks: list[TaskRecord]) -> dict[int, str]:
    """Each foreach task's element, as the preview of its parent's list shows it (the first items only; nothing
    is unpickled): task id -> the element's repr."""
    wanted: dict[int, tuple[str, int, str, int]] = {}  # task id -> (parent step, parent id, var, index)
    for task in tasks:
        frame = task.foreach_stack[-1] if task.foreach_stack else None
        parent = next((p for p in task.parents if frame and p.split("/")[0] == frame.get("step")), None)
        if parent and frame.get("var"):
            wanted[task.task_id] = (parent.split("/")[0], int(parent.split("/")[1]), frame["var"], frame["index"])
    keys: dict[tuple[str, int, str], str] = {}
    for step, parent_id, var in {w[:3] for w in wanted.values()}:
        ref = meta.artifacts(tasks[0].flow, tasks[0].run_id, step, parent_id).get(var)
        if ref is not None:
            keys[(step, parent_id, var)] = ref.key
    previews = meta.previews(keys.values()) if keys else {}
    values = {}
    for task_id, (step, parent_id, var, index) in wanted.items():
        items = previews.get(keys.get((step, parent_id, var), ""), {}).get("items") or []
        if isinstance(index, int) and 0 <= index < len(items):
            values[task_id] = str(items[index])
    return values


def _task_url(pathspec: str | None) -> str | None:
    return f"/task/{pathspec}" if pathspec and pathspec.count("/") == 3 else None


def _param_rows(run: RunRecord) -> list[tuple[str, str]]:
    """The run's parameters as (name, shown value); text as is, anything else as JSON."""
    return [(name, value if isinstance(value, str) else json.dumps(value))
            for name, value in sorted(run.params.items())]


async def run_page(request: Request) -> Response:
    """`/run/{flow}/{run_id}`."""
    flow, run_id = request.path_params["flow"], request.path_params["run_id"]
    with reader(request)() as ctx:
        meta = ctx.meta
        run = find_run(meta, flow, run_id)
        names, summaries, dag = _steps_and_dag(meta, run)
        running = run.status == "running"
        steps = [StepView(name, step_state(summaries.get(name), running), count_text(summaries.get(name)),
                          summaries.get(name),
                          meta.task_page(flow, run.run_id, name, 0, TASKS_PER_PAGE) if name in summaries else None)
                 for name in names]
        others = compare.other_runs(meta, run, OTHER_RUNS_SHOWN)
        values = {step.name: foreach_values(meta, step.tasks.tasks) for step in steps if step.tasks}
    live = {"api": f"/api/run/{flow}/{run.run_id}", "timeline": f"/api/run/{flow}/{run.run_id}/timeline",
            "steps": f"/api/run/{flow}/{run.run_id}/step/", "running": running}
    return page(request, "run.html", run=run, dag=dag, steps=steps, params=_param_rows(run), task_row=task_row,
                values=values, others=others, live=live, per_page=TASKS_PER_PAGE,
                timeline_rows=sum(summary.total for summary in summaries.values()))


@dataclass
class StepTasks:
    """One page of a step's tasks, as the step page and its JSON show it."""

    run: RunRecord
    summary: StepSummary
    tasks: TaskPage
    values: dict[int, str]
    number: int
    pages: int


def _step_tasks(request: Request) -> StepTasks:
    """The page of the step's tasks the request asks for (`?page=N`, from 1), checked."""
    flow, run_id, step = (request.path_params[k] for k in ("flow", "run_id", "step"))
    number = query.page_number(request.query_params)
    with reader(request)() as ctx:
        meta = ctx.meta
        run = find_run(meta, flow, run_id)
        summaries = {s.step: s for s in meta.step_summaries(flow, run.run_id)}
        check_step(run, step, list(summaries))
        tasks = meta.task_page(flow, run.run_id, step, (number - 1) * TASKS_PER_PAGE, TASKS_PER_PAGE)
        values = foreach_values(meta, tasks.tasks)
    pages = max(1, -(-tasks.total // TASKS_PER_PAGE))
    if number > pages:
        raise query.BadQuery(f"page={number} is past the last page: step {run.pathspec}/{step} has {tasks.total} "
                             f"tasks, {pages} page{'s' if pages != 1 else ''} of {TASKS_PER_PAGE}.")
    return StepTasks(run, summaries[step], tasks, values, number, pages)


async def step_page(request: Request) -> Response:
    """`/run/{flow}/{run_id}/step/{step}?page=N`: one page of a step's tasks."""
    found = _step_tasks(request)
    running = found.run.status == "running"
    return page(request, "step.html", run=found.run, step=request.path_params["step"], tasks=found.tasks,
                task_row=task_row, values=found.values, page_number=found.number, pages=found.pages,
                state=step_state(found.summary, running), counts=count_text(found.summary))


async def step_api(request: Request) -> Response:
    """`/api/run/{flow}/{run_id}/step/{step}?page=N`: a page of the step's tasks as the task tables show them (the
    run page rebuilds its tables from it while the run runs)."""
    found = _step_tasks(request)
    rows = [task_row(task, found.values) for task in found.tasks.tasks]
    for row in rows:
        row["status_class"] = filters.status_class(row["status"])
    return JSONResponse({"step": request.path_params["step"], "total": found.tasks.total, "page": found.number,
                         "pages": found.pages, "per_page": TASKS_PER_PAGE, "tasks": rows})


def live_json(meta: Any, run: RunRecord) -> dict[str, Any]:
    """What the run page updates while the run goes on."""
    running = run.status == "running"
    steps = {}
    for summary in meta.step_summaries(run.flow, run.run_id):
        steps[summary.step] = {"state": step_state(summary, running), "counts": count_text(summary),
                               "total": summary.total, "by_status": summary.counts, "cached": summary.cached,
                               "reused": summary.reused}
    return {"flow": run.flow, "run_id": run.run_id, "status": run.status,
            "status_class": filters.status_class(run.status), "running": running, "finished_at": run.finished_at,
            "duration": filters.elapsed(run.created_at, run.finished_at), "steps": steps}


async def run_api(request: Request) -> Response:
    """`/api/run/{flow}/{run_id}`: the run's live JSON."""
    with reader(request)() as ctx:
        run = find_run(ctx.meta, request.path_params["flow"], request.path_params["run_id"])
        return JSONResponse(live_json(ctx.meta, run))


async def timeline_api(request: Request) -> Response:
    """`/api/run/{flow}/{run_id}/timeline`: every attempt, as columns for the Gantt chart.

    Attempt i is row `row[i]` (named `rows[row[i]]`, `step/task_id`, rows in the order their tasks first started),
    its number `attempt[i]`, its status `statuses[status[i]]` ("cached" for a task taken over), and it ran from
    `start_ms[i]` to `end_ms[i]` ms after the run's start (end null while it runs; `now_ms` is now)."""
    with reader(request)() as ctx:
        meta = ctx.meta
        run = find_run(meta, request.path_params["flow"], request.path_params["run_id"])
        spans = meta.timeline(run.flow, run.run_id, run.created_at, TIMELINE_LIMIT)
        now = meta.now()
    tasks = list(zip(spans.steps, spans.task_ids))
    rows = {task: i for i, task in enumerate(dict.fromkeys(tasks))}   # first start first (C loops: 10,000 is 2 ms)
    statuses = ["cached" if reused else status for status, reused in zip(spans.statuses, spans.reused)]
    names = {status: i for i, status in enumerate(dict.fromkeys(statuses))}
    return JSONResponse({
        "now_ms": round((now - run.created_at) * 1000), "running": run.status == "running",
        "rows": [f"{step}/{task}" for step, task in rows], "statuses": list(names),
        "row": list(map(rows.__getitem__, tasks)), "attempt": spans.attempts,
        "status": list(map(names.__getitem__, statuses)), "start_ms": spans.started_ms, "end_ms": spans.finished_ms,
        "truncated": spans.truncated})


def routes() -> list[Route]:
    return [Route("/run/{flow}/{run_id}", run_page), Route("/run/{flow}/{run_id}/step/{step}", step_page),
            Route("/api/run/{flow}/{run_id}", run_api), Route("/api/run/{flow}/{run_id}/timeline", timeline_api),
            Route("/api/run/{flow}/{run_id}/step/{step}", step_api),
            *compare.routes()]
