"""`/compare/{flow}/{a}/{b}`: two runs of a flow side by side: parameters, metrics, artifacts by content key, code.

The artifact matching and the code diff are `artiflow diff`'s (lineage/diff.py); values are never loaded (a
parameter is shown as the run recorded it, an artifact compared by its content key only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..exceptions import ArtiflowException
from ..lineage.code import code_of_run
from ..lineage.diff import code_changes, slot_changes, step_ranks
from ..metadata.browse import RunFilter
from ..metadata.records import RunRecord
from . import query
from .app import page, reader
from .lookup import find_run

MISSING = "—"


@dataclass
class ArtifactRow:
    """An artifact name of a step in both runs: "same" (equal content keys in every task), "changed", or in one."""

    step: str
    name: str
    status: str
    tasks: int = 0  # matched tasks compared
    differ: int = 0  # of them, with another content key


@dataclass
class CodeDiff:
    """The code diff of two runs, or why there is none."""

    files: dict[str, list[str]] = field(default_factory=dict)
    missing: str | None = None  # "run X stored no code" (then no diff)


def other_runs(meta: Any, run: RunRecord, limit: int) -> list[RunRecord]:
    """The flow's other runs, newest first (the compare picker's choices)."""
    return [r for r in meta.find_runs(RunFilter(flow=run.flow), 0, limit + 1).runs if r.run_id != run.run_id][:limit]


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def parameter_rows(a: RunRecord, b: RunRecord) -> list[tuple[str, str, str, bool]]:
    """(name, value in A, value in B, differ) for every parameter of either run."""
    rows = []
    for name in sorted(set(a.params) | set(b.params)):
        in_a, in_b = name in a.params, name in b.params
        shown_a = _shown(a.params[name]) if in_a else MISSING
        shown_b = _shown(b.params[name]) if in_b else MISSING
        rows.append((name, shown_a, shown_b, in_a != in_b or a.params.get(name) != b.params.get(name)))
    return rows


def latest_metrics(meta: Any, run: RunRecord) -> dict[str, float]:
    """The latest logged value of each metric of a run (by timestamp, across its tasks)."""
    latest: dict[str, tuple[float, float]] = {}
    for point in meta.metrics(run.flow, run.run_id):
        seen = latest.get(point.name)
        if seen is None or point.timestamp >= seen[0]:
            latest[point.name] = (point.timestamp, point.value)
    return {name: value for name, (_, value) in latest.items()}


def metric_rows(meta: Any, a: RunRecord, b: RunRecord) -> list[tuple[str, str, str, bool]]:
    """(name, latest in A, latest in B, differ) for every metric of either run."""
    in_a, in_b = latest_metrics(meta, a), latest_metrics(meta, b)
    rows = []
    for name in sorted(set(in_a) | set(in_b)):
        va, vb = in_a.get(name), in_b.get(name)
        rows.append((name, MISSING if va is None else f"{va:.6g}", MISSING if vb is None else f"{vb:.6g}", va != vb))
    return rows


def artifact_rows(meta: Any, a: RunRecord, b: RunRecord) -> list[ArtifactRow]:
    """Each step's artifact names in both runs, tasks matched as `artiflow diff` matches them."""
    rows: dict[tuple[str, str], ArtifactRow] = {}
    for slot, name, status in slot_changes(meta, (a.flow, a.run_id), (b.flow, b.run_id)):
        row = rows.get((slot[0], name))
        if row is None:
            row = rows[(slot[0], name)] = ArtifactRow(slot[0], name, status)
        row.tasks += 1
        if status != "same":
            row.differ += 1
        if row.status != status:
            row.status = "changed"
    rank = step_ranks(meta, (a.flow, a.run_id), (b.flow, b.run_id))
    return sorted(rows.values(), key=lambda r: (rank.get(r.step, len(rank)), r.step, r.name))


def code_diff(ctx: Any, a: RunRecord, b: RunRecord) -> CodeDiff:
    """The unified diff of the runs' stored code (none when a run stored no code or it cannot be read)."""
    snapshots = []
    for run in (a, b):
        try:
            snapshot = code_of_run(ctx.for_run(run).store, run)
        except (ArtiflowException, OSError) as exc:
            return CodeDiff(missing=f"The code of run {run.pathspec} cannot be read: {exc}")
        if snapshot is None:
            return CodeDiff(missing=f"Run {run.pathspec} stored no code, so there is no code diff.")
        snapshots.append(snapshot)
    return CodeDiff(code_changes(snapshots[0], snapshots[1], a.pathspec, b.pathspec))


async def compare_page(request: Request) -> Response:
    """`/compare/{flow}/{run_id}/{other_run_id}`."""
    flow = request.path_params["flow"]
    with reader(request)() as ctx:
        meta = ctx.meta
        a = find_run(meta, flow, request.path_params["run_id"])
        b = find_run(meta, flow, request.path_params["other_run_id"])
        values = {"params": parameter_rows(a, b), "metrics": metric_rows(meta, a, b),
                  "artifacts": artifact_rows(meta, a, b), "code": code_diff(ctx, a, b)}
    return page(request, "compare.html", a=a, b=b, **values)


async def pick_other(request: Request) -> Response:
    """`/compare/{flow}/{run_id}?other=N` (the run page's picker): on to `/compare/{flow}/{run_id}/N`."""
    flow, run_id = request.path_params["flow"], request.path_params["run_id"]
    other = query.text(request.query_params, "other")
    if other is None or not other.isdigit():
        raise query.BadQuery(f"other={other or ''!r} does not name a run to compare {flow}/{run_id} with: give its "
                             f"run id, e.g. /compare/{flow}/{run_id}?other=1.")
    return RedirectResponse(f"/compare/{flow}/{run_id}/{other}", status_code=303)


def routes() -> list[Route]:
    return [Route("/compare/{flow}/{run_id}/{other_run_id}", compare_page),
            Route("/compare/{flow}/{run_id}", pick_other)]
