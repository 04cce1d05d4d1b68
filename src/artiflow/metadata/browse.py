"""The metadata store's reads for browsing (the web UI): runs filtered and paged, a run's steps summed up, a step's
tasks paged, a run's attempts for its timeline (as columns), and the graph a run stored.

Part of the SQL core (metadata.sql.SQLMetadata inherits them, like metadata.reads): every list is paged in SQL and
counted with COUNT/GROUP BY, so a page of 50 costs the same over 10,000 runs or tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .reads import heartbeat_timeout
from .records import RUN_COLUMNS, TASK_COLUMNS, RunRecord, TaskRecord

RUN_STATUSES = ("running", "succeeded", "failed", "killed")
WHERE_RUN = "WHERE flow = ? AND run_id = ?"
LIKE_ESCAPE = "\\"
_MS_AFTER = "CAST(ROUND(({} - ?) * 1000) AS BIGINT)"   # whole ms after an origin (SQLite and PostgreSQL alike)


@dataclass(frozen=True)
class RunFilter:
    """Which runs to list; every field given must hold (None: any).

    `since`/`until` are epoch seconds (start time, `until` exclusive); `q` matches a flow name, run id, user or
    tag (case-insensitive, part of the text; `Flow/12` names one run). `status` is one of RUN_STATUSES, as the
    client reads it: a run whose runner was lost is failed, not running.
    """

    flow: str | None = None
    tag: str | None = None
    status: str | None = None
    user: str | None = None
    since: float | None = None
    until: float | None = None
    q: str | None = None


@dataclass
class RunPage:
    """One page of a run listing: its runs (newest first) and how many runs the filter matches in all."""

    runs: list[RunRecord]
    total: int
    offset: int
    limit: int


@dataclass
class StepSummary:
    """A step of a run in numbers: its tasks by status, how many were reused (resume) or cached, and its times."""

    step: str
    counts: dict[str, int] = field(default_factory=dict)  # task status -> tasks
    cached: int = 0  # step-cache hits
    reused: int = 0  # taken over from the origin run by resume
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class TaskPage:
    """One page of a step's tasks (by task id) and the step's task count."""

    tasks: list[TaskRecord]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class Timeline:
    """A run's attempts in the order they started, as columns (row i of each is attempt i): read in one pass,
    since a 10,000-task run would be 10,000 records to build. `started_ms`/`finished_ms` are whole milliseconds
    after the origin asked for (`finished_ms` None while an attempt runs); `reused` is whether its task was taken
    over (a step-cache hit or a resume) rather than run; `truncated` whether the run made more attempts."""

    steps: tuple[str, ...] = ()
    task_ids: tuple[int, ...] = ()
    attempts: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ()
    started_ms: tuple[int, ...] = ()
    finished_ms: tuple[int | None, ...] = ()
    reused: tuple[bool, ...] = ()
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.steps)


def _like(text: str) -> str:
    """`text` as a case-insensitive LIKE pattern matching any value containing it (its % and _ taken literally)."""
    escaped = text.lower().replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class BrowseQueries:
    """Paged, counted reads for people browsing the store (the UI)."""

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        raise NotImplementedError

    def _write(self, statements: Any) -> None:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    # -- runs ---------------------------------------------------------------------------------------------
    def find_runs(self, where: RunFilter, offset: int = 0, limit: int = 50) -> RunPage:
        """The runs `where` selects, newest first: `limit` of them from `offset`, and how many match in all."""
        clause, args = self._run_clause(where)
        (total,) = self._query(f"SELECT COUNT(*) FROM runs {clause}", args)[0]
        rows = self._query(f"SELECT {RUN_COLUMNS} FROM runs {clause} ORDER BY created_at DESC, flow, run_id DESC "
                           f"LIMIT ? OFFSET ?", (*args, limit, offset))
        tags = self._tags_of(rows)
        now, timeout = self.now(), heartbeat_timeout()
        runs = [RunRecord.from_row(row, tags.get((row[0], row[1]), []), now, timeout) for row in rows]
        return RunPage(runs, int(total), offset, limit)

    def run_users(self) -> list[str]:
        """Every user who started a run, sorted."""
        return [user for (user,) in self._query('SELECT DISTINCT "user" FROM runs WHERE "user" IS NOT NULL '
                                                'ORDER BY 1')]

    def _run_clause(self, where: RunFilter) -> tuple[str, tuple]:
        """The WHERE clause (and its arguments) of a RunFilter."""
        parts: list[str] = []
        args: list[Any] = []
        for column, value in (("flow", where.flow), ('"user"', where.user)):
            if value is not None:
                parts.append(f"{column} = ?")
                args.append(value)
        if where.tag is not None:
            parts.append("EXISTS (SELECT 1 FROM run_tags t WHERE t.flow = runs.flow AND t.run_id = runs.run_id "
                         "AND t.tag = ?)")
            args.append(where.tag)
        if where.status is not None:
            self._status_clause(where.status, parts, args)
        if where.since is not None:
            parts.append("created_at >= ?")
            args.append(where.since)
        if where.until is not None:
            parts.append("created_at < ?")
            args.append(where.until)
        if where.q:
            self._search_clause(where.q.strip(), parts, args)
        return ("WHERE " + " AND ".join(parts) if parts else ""), tuple(args)

    def _status_clause(self, status: str, parts: list[str], args: list[Any]) -> None:
        """A status as readers see it: a 'running' run silent for longer than the heartbeat timeout is failed."""
        alive_since = self.now() - heartbeat_timeout()
        if status == "running":
            parts.append("status = 'running' AND COALESCE(heartbeat_at, 0) >= ?")
            args.append(alive_since)
        elif status == "failed":
            parts.append("(status = 'failed' OR (status = 'running' AND COALESCE(heartbeat_at, 0) < ?))")
            args.append(alive_since)
        else:
            parts.append("status = ?")
            args.append(status)

    @staticmethod
    def _search_clause(q: str, parts: list[str], args: list[Any]) -> None:
        """Runs whose flow, id, user or a tag contains `q`; `Flow/12` is that run."""
        flow, _, run = q.partition("/")
        if run.isdigit() and flow:
            parts.append("flow = ? AND run_id = ?")
            args.extend((flow, int(run)))
            return
        pattern = _like(q)
        escape = f"ESCAPE '{LIKE_ESCAPE}'"
        parts.append(f"(LOWER(flow) LIKE ? {escape} OR CAST(run_id AS TEXT) = ? OR LOWER(\"user\") LIKE ? {escape} "
                     f"OR EXISTS (SELECT 1 FROM run_tags t WHERE t.flow = runs.flow AND t.run_id = runs.run_id "
                     f"AND LOWER(t.tag) LIKE ? {escape}))")
        args.extend((pattern, q, pattern, pattern))

    def _tags_of(self, rows: list[tuple]) -> dict[tuple[str, int], list[tuple[str, int]]]:
        """The (tag, is_system) pairs of the runs in `rows` (RUN_COLUMNS rows), in one query."""
        by_flow: dict[str, list[int]] = {}
        for row in rows:
            by_flow.setdefault(row[0], []).append(row[1])
        if not by_flow:
            return {}
        clause = " OR ".join(f"(flow = ? AND run_id IN ({', '.join('?' * len(ids))}))" for ids in by_flow.values())
        args = tuple(value for flow, ids in by_flow.items() for value in (flow, *ids))
        found: dict[tuple[str, int], list[tuple[str, int]]] = {}
        for flow, run_id, tag, system in self._query(f"SELECT flow, run_id, tag, system FROM run_tags WHERE {clause}",
                                                     args):
            found.setdefault((flow, run_id), []).append((tag, system))
        return found

    # -- a run's graph ------------------------------------------------------------------------------------
    def set_run_graph(self, flow: str, run_id: int, graph: dict[str, Any]) -> None:
        """Record the graph the run runs (steps, their types and next steps; see graph/stored.py)."""
        self._write([("UPDATE runs SET graph = ? WHERE flow = ? AND run_id = ?",
                      (json.dumps(graph, sort_keys=True), flow, run_id))])

    def run_graph(self, flow: str, run_id: int) -> dict[str, Any] | None:
        """The graph the run recorded when it started, or None (a run made before runs kept it)."""
        rows = self._query(f"SELECT graph FROM runs {WHERE_RUN}", (flow, run_id))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def step_parents(self, flow: str, run_id: int) -> dict[str, set[str]]:
        """The steps each step's tasks started from (for a run without a stored graph), from a sample of its tasks.

        Every task of a step has parents of the same steps, but for a switch's or a split's, so the tasks with
        the least and the greatest parents list are read: two rows per step, whatever the run's size."""
        rows = self._query(f"SELECT step, MIN(parents), MAX(parents), MIN(created_at) FROM tasks {WHERE_RUN} "
                           f"GROUP BY step ORDER BY 4", (flow, run_id))
        found: dict[str, set[str]] = {}
        for step, low, high, _ in rows:
            parents = found.setdefault(step, set())
            for text in (low, high):
                parents.update(path.split("/")[0] for path in json.loads(text or "[]"))
        return found

    # -- a run's steps and tasks --------------------------------------------------------------------------
    def step_summaries(self, flow: str, run_id: int) -> list[StepSummary]:
        """Each step of a run that has tasks, in the order its first task started, with its tasks counted."""
        rows = self._query(
            "SELECT step, status, CASE WHEN cached_from IS NULL THEN 0 ELSE 1 END, "
            "CASE WHEN origin IS NULL THEN 0 ELSE 1 END, COUNT(*), MIN(created_at), MAX(finished_at) "
            f"FROM tasks {WHERE_RUN} GROUP BY 1, 2, 3, 4", (flow, run_id))
        steps: dict[str, StepSummary] = {}
        for step, status, cached, reused, count, started, finished in rows:
            summary = steps.setdefault(step, StepSummary(step))
            summary.counts[status] = summary.counts.get(status, 0) + count
            summary.cached += count if cached else 0
            summary.reused += count if reused else 0
            summary.started_at = started if summary.started_at is None else min(summary.started_at, started)
            if finished is not None:
                summary.finished_at = finished if summary.finished_at is None else max(summary.finished_at, finished)
        return sorted(steps.values(), key=lambda s: (s.started_at or 0, s.step))

    def task_page(self, flow: str, run_id: int, step: str, offset: int = 0, limit: int = 50) -> TaskPage:
        """`limit` tasks of a step from `offset`, by task id, and the step's task count."""
        args = (flow, run_id, step)
        (total,) = self._query(f"SELECT COUNT(*) FROM tasks {WHERE_RUN} AND step = ?", args)[0]
        rows = self._query(f"SELECT {TASK_COLUMNS} FROM tasks {WHERE_RUN} AND step = ? ORDER BY task_id "
                           f"LIMIT ? OFFSET ?", (*args, limit, offset))
        return TaskPage([TaskRecord.from_row(row) for row in rows], int(total), offset, limit)

    def timeline(self, flow: str, run_id: int, origin: float = 0.0, limit: int = 100_000) -> Timeline:
        """The run's first `limit` attempts in the order they started, as columns, timed from `origin` (epoch s)."""
        taken = set(self._query(f"SELECT step, task_id FROM tasks {WHERE_RUN} AND (cached_from IS NOT NULL OR "
                                f"origin IS NOT NULL)", (flow, run_id)))   # a join costs more: few are taken
        rows = self._query(f"SELECT step, task_id, attempt, status, {_MS_AFTER.format('started_at')}, "
                           f"{_MS_AFTER.format('finished_at')} FROM attempts {WHERE_RUN} "
                           f"ORDER BY started_at, step, task_id, attempt LIMIT ?",
                           (origin, origin, flow, run_id, limit + 1))
        if not rows:
            return Timeline()
        steps, task_ids, attempts, statuses, started, finished = zip(*rows[:limit])
        reused = tuple(task in taken for task in zip(steps, task_ids)) if taken else (False,) * len(steps)
        return Timeline(steps, task_ids, attempts, statuses, started, finished, reused, len(rows) > limit)

    def attempt_count(self, flow: str, run_id: int) -> int:
        """How many attempts a run made (all tasks)."""
        return int(self._query(f"SELECT COUNT(*) FROM attempts {WHERE_RUN}", (flow, run_id))[0][0])
