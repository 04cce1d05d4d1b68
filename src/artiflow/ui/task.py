"""The task page: status, place in the run, attempts, logs, artifacts, metrics, cards and lineage of one task.

`/task/{flow}/{run}/{step}/{task}?attempt=N` shows attempt N (default: the latest). Its logs,
artifact previews, charts and lineage come from ui/task_*.py and ui/artifact*.py; this module puts
them on one page, and registers their routes (logs API, cards, lineage page, artifact pages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..lineage.records import FOREACH
from . import artifact, task_cards, task_logs
from .app import page, reader
from .artifact_preview import preview_rows
from .task_cards import card_rows
from .task_lineage import task_lineage
from .task_logs import PAGE_BYTES, STREAMS, attempt_done, read_slice
from .task_lookup import FoundTask, find_attempt, find_task, query_int
from .task_metrics import metric_charts

if TYPE_CHECKING:
    from ..metadata.records import AttemptRecord, TaskRecord

MAX_LINKS = 50  # parents/children listed by link (a join of a wide foreach has thousands)


def task_page(request: Request) -> Response:
    """The task's page, showing one attempt's logs, exception and metrics."""
    number = query_int(request, "attempt")
    with reader(request)() as ctx:
        found = _find(ctx, request)
        attempts = ctx.meta.attempts(*found.key)
        shown = find_attempt(found, attempts, number)
        artifacts = ctx.meta.artifacts(*found.key)
        logs = _first_logs(found, shown)
        values = {
            "found": found, "task": found.task, "summary": _summary(found), "attempts": _attempt_rows(attempts),
            "shown": shown, "logs": logs, "artifacts": preview_rows(found, artifacts),
            "charts": metric_charts(found), "cards": card_rows(found),
            "lineage": task_lineage(found, artifacts), "links": _links(found),
            "live": {"logs_url": "/api/logs/" + "/".join(map(str, found.key)), "done": logs["done"],
                     "attempt": shown.attempt if shown is not None else None},
        }
    return page(request, "task.html", **values)


def lineage_page(request: Request) -> Response:
    """The task's lineage graph on a page of its own."""
    with reader(request)() as ctx:
        found = _find(ctx, request)
        lineage = task_lineage(found, ctx.meta.artifacts(*found.key))
    return page(request, "lineage.html", found=found, task=found.task, lineage=lineage)


def _find(ctx: Any, request: Request) -> FoundTask:
    params = request.path_params
    return find_task(ctx, params["flow"], params["run_id"], params["step"], params["task_id"])


def _summary(found: FoundTask) -> dict[str, Any]:
    """Status, times, foreach position and where a reused task came from."""
    task = found.task
    frames = task.foreach_stack
    value = _foreach_value(found, frames[-1]) if frames else None
    return {"status": task.status, "attempt": task.attempt, "started": task.created_at, "finished": task.finished_at,
            "foreach": [{"step": f.get("step"), "var": f.get("var"), "index": f.get("index"),
                         "of": f.get("num_splits"), "value": value if f is frames[-1] else None} for f in frames],
            "cached_from": task.cached_from, "origin": task.origin, "cache_key": task.cache_key,
            "user": found.run.user, "run_status": found.run.status}


def _foreach_value(found: FoundTask, frame: dict[str, Any]) -> str | None:
    """The task's foreach element as its list's preview shows it (None past the items the preview keeps)."""
    read = next((r for r in found.ctx.meta.task_reads(*found.key) if r.kind == FOREACH), None)
    index = frame.get("index")
    if read is None or not isinstance(index, int):
        return None
    preview = found.ctx.meta.previews([read.key]).get(read.key) or {}
    items = preview.get("items") if preview.get("kind") == "sequence" else None
    return items[index] if isinstance(items, list) and 0 <= index < len(items) else None


def _attempt_rows(attempts: list[AttemptRecord]) -> list[dict[str, Any]]:
    rows = []
    for attempt in attempts:
        exception = attempt.exception or {}
        rows.append({"number": attempt.attempt, "status": attempt.status, "started": attempt.started_at,
                     "finished": attempt.finished_at, "exception_type": exception.get("type"),
                     "exception_message": exception.get("message"), "traceback": exception.get("traceback")})
    return rows


def _first_logs(found: FoundTask, shown: AttemptRecord | None) -> dict[str, Any]:
    """The head of each log stream of the shown attempt, rendered with the page (the rest is fetched)."""
    store = found.ctx.store
    return {stream: read_slice(store, shown, stream, 0, PAGE_BYTES) for stream in STREAMS} | {
        "done": attempt_done(shown)}


def _links(found: FoundTask) -> dict[str, Any]:
    """Parent and child tasks (at most MAX_LINKS each, with how many there are)."""
    task = found.task
    prefix = f"{task.flow}/{task.run_id}"
    parents = [f"{prefix}/{p}" for p in task.parents]
    children = [row.pathspec for row in _children(found, task)]
    return {"parents": parents[:MAX_LINKS], "parent_count": len(parents),
            "children": children[:MAX_LINKS], "child_count": len(children)}


def _children(found: FoundTask, task: TaskRecord) -> list[TaskRecord]:
    """The tasks that started from this one: those of the steps it led to that name it as a parent."""
    me = f"{task.step}/{task.task_id}"
    steps = (task.transition or {}).get("next") or []
    rows = []
    for step in steps:
        rows += [row for row in found.ctx.meta.tasks(task.flow, task.run_id, step) if me in row.parents]
    return rows


def routes() -> list[Route]:
    return [Route("/task/{flow}/{run_id}/{step}/{task_id}", task_page),
            Route("/lineage/{flow}/{run_id}/{step}/{task_id}", lineage_page),
            *task_logs.routes(), *task_cards.routes(), *artifact.routes()]
