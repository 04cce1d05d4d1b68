"""The runs list `/`: every flow's runs newest first, filtered, searched and paged in the metadata store.

`/api/runs` answers the same query as JSON; the page's script polls it every 2 s while a run it shows is
running, to update those runs' status and duration without a reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..metadata.browse import RUN_STATUSES, RunFilter, RunPage
from . import filters, query
from .app import page, reader
from .lookup import check_flow

PAGE_SIZE = 50
FILTER_NAMES = ("flow", "tag", "status", "user", "since", "until", "q")


@dataclass
class RunsQuery:
    """What the runs list was asked for: the filter, the page, and the query string that says it."""

    where: RunFilter
    page: int
    given: dict[str, str]  # the filter values as given (for the form and the pager's links)

    def link(self, **changes: Any) -> str:
        """The address of this listing with some values changed (e.g. page=2)."""
        values = {**self.given, "page": str(self.page), **{k: str(v) for k, v in changes.items()}}
        kept = {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}
        return "/" + (f"?{urlencode(kept)}" if kept else "")


def read_query(params: Any) -> RunsQuery:
    """The runs list's query string, checked (a bad value is a BadQuery saying what is accepted)."""
    since, until = query.day(params, "since"), query.day(params, "until")
    if since and until and until < since:
        raise query.BadQuery(f"until={until:%Y-%m-%d} is before since={since:%Y-%m-%d}: give an until date on or "
                             f"after the since date.")
    where = RunFilter(flow=query.text(params, "flow"), tag=query.text(params, "tag"),
                      status=query.one_of(params, "status", RUN_STATUSES), user=query.text(params, "user"),
                      since=query.day_start(since) if since else None, until=query.day_end(until) if until else None,
                      q=query.text(params, "q"))
    given = {name: query.text(params, name) or "" for name in FILTER_NAMES}
    return RunsQuery(where, query.page_number(params), given)


def _find(request: Request) -> tuple[RunsQuery, RunPage, dict[str, list[str]]]:
    """The page of runs the request asks for, and the choices of the filter form."""
    asked = read_query(request.query_params)
    with reader(request)() as ctx:
        meta = ctx.meta
        if not meta.exists():
            return asked, RunPage([], 0, 0, PAGE_SIZE), {"flows": [], "users": []}
        if asked.where.flow is not None:
            check_flow(meta, asked.where.flow)
        found = meta.find_runs(asked.where, (asked.page - 1) * PAGE_SIZE, PAGE_SIZE)
        choices = {"flows": meta.flows(), "users": meta.run_users()}
    if asked.page > 1 and not found.runs and found.total:
        pages = -(-found.total // PAGE_SIZE)
        raise query.BadQuery(f"page={asked.page} is past the last page: these filters match {found.total} runs, "
                             f"{pages} page{'s' if pages != 1 else ''} of {PAGE_SIZE}.")
    return asked, found, choices


def run_json(run: Any) -> dict[str, Any]:
    """What the list shows of a run, as JSON (the live updates)."""
    return {"flow": run.flow, "run_id": run.run_id, "status": run.status,
            "status_class": filters.status_class(run.status),
            "user": run.user, "tags": run.tags, "system_tags": run.system_tags, "created_at": run.created_at,
            "finished_at": run.finished_at, "started": filters.when(run.created_at),
            "duration": filters.elapsed(run.created_at, run.finished_at), "url": f"/run/{run.flow}/{run.run_id}"}


async def runs_page(request: Request) -> Response:
    """`/`: the runs list."""
    asked, found, choices = _find(request)
    pages = max(1, -(-found.total // PAGE_SIZE))
    live = {"api": "/api/runs" + asked.link()[1:], "total": found.total,
            "running": [[r.flow, r.run_id] for r in found.runs if r.status == "running"]}
    return page(request, "runs.html", asked=asked, found=found, choices=choices, statuses=RUN_STATUSES,
                pages=pages, first=found.offset + 1 if found.runs else 0, last=found.offset + len(found.runs),
                live=live)


async def runs_api(request: Request) -> Response:
    """`/api/runs`: the same page of runs as JSON."""
    asked, found, _ = _find(request)
    return JSONResponse({"total": found.total, "page": asked.page, "page_size": PAGE_SIZE,
                         "runs": [run_json(run) for run in found.runs]})


def routes() -> list[Route]:
    return [Route("/", runs_page), Route("/api/runs", runs_api)]
