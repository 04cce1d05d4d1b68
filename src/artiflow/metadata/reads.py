"""The metadata store's reads, as records: runs, tasks, attempts, artifacts, metadata entries, lineage.

Part of the SQL core (metadata.sql.SQLMetadata inherits them): statements in the core's SQL, run by
`_query` in the store's dialect. Rows are read as tuples in the records' column order and decoded by
the records' own constructors.
"""

from __future__ import annotations

import json
import os
from itertools import groupby

from ..datastore.store import ArtifactRef
from ..lineage.records import Producers, Read
from .metric_series import SERIES_COLUMNS, MetricSeries, series_of, unpack
from .records import (ATTEMPT_COLUMNS, READ_COLUMNS, REF_COLUMNS, RUN_COLUMNS, TASK_COLUMNS, TASK_METADATA_COLUMNS,
                      AttemptRecord, MetricRecord, RunRecord, TaskMetadataRecord, TaskRecord, producers_from_json,
                      read_from_row, ref_from_row)

HEARTBEAT_SECONDS = 2.0  # how often a runner says it is alive
WHERE_RUN = "WHERE flow = ? AND run_id = ?"
WHERE_TASK = "WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ?"


def heartbeat_timeout() -> float:
    """Seconds without a heartbeat after which a 'running' run is taken as dead (its runner was lost)."""
    return float(os.environ.get("ARTIFLOW_HEARTBEAT_TIMEOUT", "20"))


class ReadQueries:
    """Every read of the metadata store (the client, the CLI, resume, caching, lineage, gc)."""

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    # -- runs -----------------------------------------------------------------------------------------
    def flows(self) -> list[str]:
        """Every flow with a recorded run, by name."""
        return [flow for (flow,) in self._query("SELECT DISTINCT flow FROM runs ORDER BY flow")]

    def runs(self, flow: str) -> list[RunRecord]:
        """Runs of a flow, newest first, each with its `tags` and `system_tags`."""
        rows = self._query(f"SELECT {RUN_COLUMNS} FROM runs WHERE flow = ? ORDER BY run_id DESC", (flow,))
        tags: dict[int, list[tuple[str, int]]] = {}
        for run_id, tag, system in self._query("SELECT run_id, tag, system FROM run_tags WHERE flow = ?", (flow,)):
            tags.setdefault(run_id, []).append((tag, system))
        now, timeout = self.now(), heartbeat_timeout()
        return [RunRecord.from_row(row, tags.get(row[1], []), now, timeout) for row in rows]

    def run(self, flow: str, run_id: int) -> RunRecord | None:
        """One run, or None."""
        rows = self._query(f"SELECT {RUN_COLUMNS} FROM runs {WHERE_RUN}", (flow, run_id))
        if not rows:
            return None
        tags = self._query(f"SELECT tag, system FROM run_tags {WHERE_RUN}", (flow, run_id))
        return RunRecord.from_row(rows[0], tags, self.now(), heartbeat_timeout())

    # -- tasks and attempts -------------------------------------------------------------------------------
    def tasks(self, flow: str, run_id: int, step: str | None = None) -> list[TaskRecord]:
        """Tasks of a run (or of one step), in the order they were started."""
        sql = f"SELECT {TASK_COLUMNS} FROM tasks {WHERE_RUN}"
        args: tuple = (flow, run_id)
        if step is not None:
            sql += " AND step = ?"
            args += (step,)
        return [TaskRecord.from_row(row) for row in self._query(sql + " ORDER BY created_at, task_id", args)]

    def task(self, flow: str, run_id: int, step: str, task_id: int) -> TaskRecord | None:
        """One task, or None."""
        rows = self._query(f"SELECT {TASK_COLUMNS} FROM tasks {WHERE_TASK}", (flow, run_id, step, task_id))
        return TaskRecord.from_row(rows[0]) if rows else None

    def attempts(self, flow: str, run_id: int, step: str, task_id: int) -> list[AttemptRecord]:
        """The task's attempts, first to latest."""
        rows = self._query(f"SELECT {ATTEMPT_COLUMNS} FROM attempts {WHERE_TASK} ORDER BY attempt",
                           (flow, run_id, step, task_id))
        return [AttemptRecord.from_row(row) for row in rows]

    def last_logs(self, flow: str, run_id: int, step: str, task_id: int) -> tuple[str | None, str | None]:
        """The stdout and stderr keys of a task's latest attempt."""
        rows = self._query(f"SELECT stdout_key, stderr_key FROM attempts {WHERE_TASK} ORDER BY attempt DESC LIMIT 1",
                           (flow, run_id, step, task_id))
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def last_logs_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], tuple[str | None, str | None]]:
        """The stdout and stderr keys of every task's last attempt in a run, in one query, by (step, task_id)."""
        rows = self._query(f"SELECT step, task_id, stdout_key, stderr_key FROM attempts {WHERE_RUN} ORDER BY attempt",
                           (flow, run_id))
        return {(step, task_id): (out, err) for step, task_id, out, err in rows}

    # -- task metadata --------------------------------------------------------------------------------
    def task_metadata(self, flow: str, run_id: int, step: str, task_id: int) -> list[TaskMetadataRecord]:
        """Every metadata entry of a task (all attempts), oldest first."""
        rows = self._query(f"SELECT {TASK_METADATA_COLUMNS} FROM task_metadata {WHERE_TASK} ORDER BY ts, {{order}}",
                           (flow, run_id, step, task_id))
        return [TaskMetadataRecord.from_row(row) for row in rows]

    def tasks_with_metadata(self, flow: str, run_id: int, step: str, field: str, value: str) -> set[int]:
        """Ids of a step's tasks that recorded the metadata entry `field` = `value` (e.g. control tasks)."""
        rows = self._query(f"SELECT DISTINCT task_id FROM task_metadata {WHERE_RUN} AND step = ? AND field = ? "
                           f"AND value = ?", (flow, run_id, step, field, value))
        return {task_id for (task_id,) in rows}

    # -- artifacts ------------------------------------------------------------------------------------
    def artifacts(self, flow: str, run_id: int, step: str, task_id: int) -> dict[str, ArtifactRef]:
        """A task's artifacts by name."""
        rows = self._query(f"SELECT name, {REF_COLUMNS} FROM artifacts {WHERE_TASK} ORDER BY name",
                           (flow, run_id, step, task_id))
        return {row[0]: ref_from_row(row[1:]) for row in rows}

    def artifacts_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], dict[str, ArtifactRef]]:
        """Every artifact of a run in one query, by (step, task_id)."""
        found: dict[tuple[str, int], dict[str, ArtifactRef]] = {}
        for row in self._query(f"SELECT step, task_id, name, {REF_COLUMNS} FROM artifacts {WHERE_RUN}", (flow, run_id)):
            found.setdefault((row[0], row[1]), {})[row[2]] = ref_from_row(row[3:])
        return found

    def artifact_keys_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], dict[str, str]]:
        """Every artifact's content key in a run, by (step, task_id) and name: what comparing two runs needs (a
        10,000-task run's keys without building its ArtifactRefs)."""
        found: dict[tuple[str, int], dict[str, str]] = {}
        for step, task_id, name, key in self._query(f"SELECT step, task_id, name, key FROM artifacts {WHERE_RUN}",
                                                    (flow, run_id)):
            found.setdefault((step, task_id), {})[name] = key
        return found

    def foreach_indices(self, flow: str, run_id: int) -> dict[tuple[str, int], tuple[int, ...]]:
        """Each task of a run, (step, task_id) in the order they started, with its foreach indices (outermost
        first; none outside a foreach): how tasks of two runs are matched."""
        rows = self._query(f"SELECT step, task_id, foreach_stack FROM tasks {WHERE_RUN} ORDER BY created_at, task_id",
                           (flow, run_id))
        return {(step, task_id): tuple(int(frame["index"]) for frame in json.loads(stack)) if stack else ()
                for step, task_id, stack in rows}

    def artifact_in_tasks(self, flow: str, run_id: int, step: str, name: str) -> dict[int, ArtifactRef]:
        """One artifact of every task of a step, in one query (for reading many tasks fast)."""
        rows = self._query(f"SELECT task_id, {REF_COLUMNS} FROM artifacts {WHERE_RUN} AND step = ? AND name = ?",
                           (flow, run_id, step, name))
        return {row[0]: ref_from_row(row[1:]) for row in rows}

    # -- step caching and lineage (caching/, lineage/) ----------------------------------------------------
    def cache_candidates(self, flow: str, step: str, cache_key: str) -> list[TaskRecord]:
        """Tasks of the step that succeeded with this cache key (not caught, not failed), newest first."""
        # the hint (SQLite: INDEXED BY): without statistics SQLite would walk the flow's whole primary key instead
        rows = self._query(f"SELECT {TASK_COLUMNS} FROM tasks{{cache_index_hint}} WHERE flow = ? AND step = ? "
                           f"AND cache_key = ? AND status = 'succeeded' ORDER BY run_id DESC, task_id DESC",
                           (flow, step, cache_key))
        return [TaskRecord.from_row(row) for row in rows]

    def artifacts_with_producers(self, flow: str, run_id: int, step: str,
                                 task_id: int) -> tuple[dict[str, ArtifactRef], dict[str, Producers]]:
        """A task's artifacts and their producers, in one query (a cache hit needs both)."""
        rows = self._query(f"SELECT name, {REF_COLUMNS}, producers FROM artifacts {WHERE_TASK} ORDER BY name",
                           (flow, run_id, step, task_id))
        return ({row[0]: ref_from_row(row[1:5]) for row in rows}, {row[0]: producers_from_json(row[5]) for row in rows})

    def artifact_producers(self, flow: str, run_id: int, step: str, task_id: int) -> dict[str, Producers]:
        """Which tasks first produced each artifact's value of a task (empty for a parameter)."""
        rows = self._query(f"SELECT name, producers FROM artifacts {WHERE_TASK}", (flow, run_id, step, task_id))
        return {name: producers_from_json(producers) for name, producers in rows}

    def producers_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], dict[str, Producers]]:
        """`artifact_producers` of every task of a run in one query, by (step, task_id)."""
        found: dict[tuple[str, int], dict[str, Producers]] = {}
        for step, task_id, name, producers in self._query(
                f"SELECT step, task_id, name, producers FROM artifacts {WHERE_RUN}", (flow, run_id)):
            found.setdefault((step, task_id), {})[name] = producers_from_json(producers)
        return found

    def task_reads(self, flow: str, run_id: int, step: str, task_id: int) -> list[Read]:
        """The artifacts a task's latest recorded attempt read, in the order it read them."""
        rows = self._query(f"SELECT {READ_COLUMNS} FROM task_reads {WHERE_TASK} ORDER BY {{order}}",
                           (flow, run_id, step, task_id))
        return [read_from_row(row) for row in rows]


    # -- metrics --------------------------------------------------------------------------------------
    def metrics(self, flow: str, run_id: int, step: str | None = None, task_id: int | None = None,
                name: str | None = None, attempt: int | None = None) -> list[MetricRecord]:
        """The metric points of a run (or of one step, or one task), by task id then as logged; one name if given.

        Each task's points are those of its latest attempt that logged any, unless `attempt` names one.
        """
        where, args = WHERE_RUN, [flow, run_id]
        for column, value in (("step", step), ("task_id", task_id), ("attempt", attempt)):
            if value is not None:
                where += f" AND {column} = ?"
                args.append(value)
        latest = None if attempt is not None else self._latest_metric_attempts(where, tuple(args))
        if name is not None:
            where += " AND name = ?"
            args.append(name)
        rows = self._query(f"SELECT step, task_id, attempt, {SERIES_COLUMNS} FROM metrics {where} "
                           f"ORDER BY task_id, attempt, name, part", tuple(args))
        found: list[MetricRecord] = []
        for (step_name, task, tried), series in groupby(rows, key=lambda row: row[:3]):
            if latest is None or latest.get((step_name, task)) == tried:
                found.extend(unpack(f"{flow}/{run_id}/{step_name}/{task}", tried, [row[3:] for row in series]))
        return found

    def task_metric_series(self, flow: str, run_id: int, step: str, task_id: int) -> list[MetricSeries]:
        """Every metric of a task, one series per (attempt, name), as columns in logged order (charts of many points)."""
        rows = self._query(f"SELECT attempt, {SERIES_COLUMNS} FROM metrics {WHERE_RUN} AND step = ? AND task_id = ? "
                           f"ORDER BY attempt, name, part", (flow, run_id, step, task_id))
        return [series_of(tried, name, [row[1:] for row in parts])
                for (tried, name), parts in groupby(rows, key=lambda row: row[:2])]

    def metric_names(self, flow: str, run_id: int) -> list[str]:
        """The names of every metric of a run, sorted."""
        return [n for (n,) in self._query(f"SELECT DISTINCT name FROM metrics {WHERE_RUN} ORDER BY name",
                                          (flow, run_id))]

    def _latest_metric_attempts(self, where: str, args: tuple) -> dict[tuple[str, int], int]:
        """(step, task_id) -> the task's latest attempt that logged points, for the tasks `where` selects."""
        rows = self._query(f"SELECT step, task_id, MAX(attempt) FROM metrics {where} GROUP BY step, task_id", args)
        return {(step, task_id): latest for step, task_id, latest in rows}
