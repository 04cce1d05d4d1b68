"""The metadata store over SQL, whatever the engine: every statement, transaction and record decoding.

A backend subclasses SQLMetadata with its Dialect and its connection (`_connect`, `_explain`, and
`now` when the database's clock is not this machine's); see metadata/sqlite.py. Connections are in
autocommit mode: the core opens each write transaction itself (`dialect.begin_write`), so the
runner is the only writer of a run and many runs (and readers) can share one database. Only
`metadata/` speaks SQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any, Iterable, Iterator, Sequence

from ..datastore.store import ArtifactRef
from ..exceptions import MetadataError
from ..lineage.records import Producers, Read
from . import schema
from .dialect import Dialect
from .metric_series import SERIES_COLUMNS, pack
from .browse import BrowseQueries
from .previews import PreviewQueries
from .reads import HEARTBEAT_SECONDS, ReadQueries, heartbeat_timeout
from .records import (ATTEMPT_COLUMNS, READ_COLUMNS, REF_COLUMNS, RUN_COLUMNS, TASK_COLUMNS, TASK_METADATA_COLUMNS,
                      BlobReferences, TaskRecord, ref_to_json, refs_from_json)


def upsert(table: str, columns: str, values: str, key: str) -> str:
    """INSERT that replaces every other column of the row with this key when it exists (SQLite and PostgreSQL)."""
    keys = {k.strip() for k in key.split(",")}
    updates = ", ".join(f"{c} = excluded.{c}" for c in (c.strip() for c in columns.split(",")) if c not in keys)
    return f"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE SET {updates}"


TASK_KEY = "flow, run_id, step, task_id"
WHERE_TASK = "WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ?"
# constants are written into the statements rather than bound: a 1,000-task run makes thousands of these
TASK_START = upsert("tasks", TASK_COLUMNS, "?, ?, ?, ?, 'running', ?, ?, NULL, ?, ?, NULL, NULL, ?, NULL", TASK_KEY)
TASK_CLONE = upsert("tasks", TASK_COLUMNS, "?, ?, ?, ?, 'succeeded', 0, ?, ?, ?, ?, ?, ?, ?, ?", TASK_KEY)
ATTEMPT_START = upsert("attempts", ATTEMPT_COLUMNS, "?, ?, ?, ?, ?, 'running', ?, NULL, NULL, NULL, NULL",
                       f"{TASK_KEY}, attempt")
# a cloned task's attempt: the logs of its source's latest attempt
CLONED_ATTEMPT_UPSERT = upsert(
    "attempts", ATTEMPT_COLUMNS,
    "?, ?, ?, ?, 0, 'succeeded', ?, ?, "
    f"(SELECT stdout_key FROM attempts {WHERE_TASK} ORDER BY attempt DESC LIMIT 1), "
    f"(SELECT stderr_key FROM attempts {WHERE_TASK} ORDER BY attempt DESC LIMIT 1), NULL", f"{TASK_KEY}, attempt")
ARTIFACT_UPSERT = upsert("artifacts", f"{TASK_KEY}, name, {REF_COLUMNS}, producers", "?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
                         f"{TASK_KEY}, name")
METADATA_INSERT = (f"INSERT INTO task_metadata ({TASK_KEY}, {TASK_METADATA_COLUMNS}) "
                   f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
ATTEMPT_ENTRY = (f"INSERT INTO task_metadata ({TASK_KEY}, {TASK_METADATA_COLUMNS}) "
                 f"VALUES (?, ?, ?, ?, ?, 'attempt', ?, 'attempt', '[]', ?)")
READ_INSERT = f"INSERT INTO task_reads ({TASK_KEY}, attempt, {READ_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
TAG_INSERT = "INSERT INTO run_tags (flow, run_id, tag, system) VALUES (?, ?, ?, ?) ON CONFLICT (flow, run_id, tag) DO NOTHING"
RUN_INSERT = (f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (?, ?, ?, 'running', ?, NULL, ?, ?, ?, ?, NULL, NULL, ?)")
# the next run id of a flow: one past its counter, or past its highest recorded run (a database an
# earlier artiflow wrote to has no counter yet, or one behind); never an id a deleted run had
NEXT_RUN_ID = ("INSERT INTO run_counters (flow, last_run_id) SELECT ?, COALESCE(MAX(run_id), 0) + 1 FROM runs "
               "WHERE flow = ? ON CONFLICT (flow) DO UPDATE SET "
               "last_run_id = {greatest}(run_counters.last_run_id + 1, excluded.last_run_id) RETURNING last_run_id")


METRICS_INSERT = f"INSERT INTO metrics ({TASK_KEY}, attempt, {SERIES_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# a cloned task's points: those of its source's latest attempt that logged any, as its attempt 0
METRICS_CLONE = (f"INSERT INTO metrics ({TASK_KEY}, attempt, {SERIES_COLUMNS}) SELECT ?, ?, ?, ?, 0, {SERIES_COLUMNS} "
                 f"FROM metrics {WHERE_TASK} AND attempt = (SELECT MAX(attempt) FROM metrics {WHERE_TASK})")


def _artifact_rows(where: tuple, artifacts: dict[str, ArtifactRef],
                   producers: dict[str, Producers]) -> list[tuple[str, tuple]]:
    return [(ARTIFACT_UPSERT, (*where, name, ref.key, ref.serializer, ref.type, ref.size,
                               json.dumps(list(producers.get(name, ())))))
            for name, ref in artifacts.items()]


class SQLMetadata(ReadQueries, BrowseQueries, PreviewQueries):
    """The metadata store on a SQL database; a subclass gives the dialect and the connection.

    Subclasses set `dialect` and `_errors` (the driver's error classes) and implement `_connect`
    (a new connection in autocommit mode whose `execute(sql, args)` returns a cursor, as sqlite3's
    and psycopg's do), `_explain` (a driver error as a MetadataError a person can act on), `describe`
    and `exists`; `now` when the database's clock should judge time, `_is_disconnect` when a dropped
    connection can be told apart (it is then opened again), `_allocate_run_id` if the counter's
    upsert ... RETURNING does not suit the engine.
    """

    dialect: Dialect
    _errors: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        self._conn: Any = None
        self._pid = 0  # the process that opened _conn (a forked child opens its own)
        self._pending: list[tuple[str, tuple]] | None = None  # writes gathered by batch()
        self._statements: dict[str, str] = {}  # core SQL -> this dialect's

    # -- what a backend provides ------------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _explain(self, exc: BaseException) -> MetadataError:
        return MetadataError(f"The metadata store {self.describe()} failed: {type(exc).__name__}: {exc}.")

    def describe(self) -> str:
        raise NotImplementedError

    def exists(self) -> bool:
        raise NotImplementedError

    def now(self) -> float:
        """The store's clock: this machine's (a backend on a server reads the server's)."""
        return time.time()

    # -- connection, transactions -------------------------------------------------------------------
    @property
    def conn(self) -> Any:
        """The open connection (opened, and the schema brought up to date, on first use).

        A forked child never uses its parent's connection: it opens its own, and leaves the inherited
        one alone (closing it could end the parent's session).
        """
        if self._conn is not None and self._pid != os.getpid():
            self._conn = None
        if self._conn is None:
            try:
                conn = self._connect()
            except self._errors as exc:
                raise self._explain(exc) from exc
            try:
                self._upgrade(conn)
            except BaseException:
                conn.close()
                raise
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def close(self) -> None:
        """Close this process's connection (the next use opens a new one)."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def schema_version(self) -> int:
        """The schema version of the database (schema.LATEST once opened by this artiflow)."""
        return schema.read_version(self.conn, self.dialect, self._errors)

    def _upgrade(self, conn: Any) -> None:
        """Apply pending migrations, one process at a time (the others wait, then find nothing to do)."""
        if schema.read_version(conn, self.dialect, self._errors) >= schema.LATEST:
            return
        with self._transaction(conn) as tx:
            if self.dialect.schema_lock:
                tx.execute(self.dialect.schema_lock)
            schema.migrate(tx, self.dialect, self.now())

    def _sql(self, text: str) -> str:
        """A core statement in this store's dialect (translated once)."""
        found = self._statements.get(text)
        if found is None:
            found = self._statements[text] = self.dialect.sql(text)
        return found

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Gather the writes made inside into one transaction (the runner records many tasks at once)."""
        if self._pending is not None:
            yield
            return
        self._pending = []
        try:
            yield
        except BaseException:
            pending, self._pending = self._pending, None
            try:  # keep what was recorded so far, but never hide the error that ended the block
                if pending:
                    self._write(pending)
            except Exception:  # noqa: BLE001
                pass
            raise
        pending, self._pending = self._pending, None
        if pending:
            self._write(pending)

    def _write(self, statements: Iterable[tuple[str, tuple]]) -> None:
        """Run statements in one write transaction: all of them land, or none (inside batch(): later)."""
        if self._pending is not None:
            self._pending.extend(statements)
            return
        known, sql = self._statements, self._sql
        with self._transaction() as conn:
            for text, args in statements:
                conn.execute(known.get(text) or sql(text), args)

    @contextlib.contextmanager
    def _transaction(self, conn: Any = None) -> Iterator[Any]:
        """One write transaction: committed if the block ends, rolled back if it raises.

        The driver's errors come out as MetadataError, saying what happened to which store. A
        connection found lost when the transaction begins is opened again (nothing was written yet).
        """
        if conn is None:
            conn = self._again_if_lost(lambda: self._begin(self.conn))
        else:
            self._explained(lambda: self._begin(conn))
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback(conn)
            if isinstance(exc, self._errors):
                raise self._explain(exc) from exc
            raise

    def _begin(self, conn: Any) -> Any:
        conn.execute(self.dialect.begin_write)
        return conn

    def _rollback(self, conn: Any) -> None:
        """Roll back the open transaction, if the database has not done so already."""
        try:
            conn.execute("ROLLBACK")
        except self._errors:
            pass

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """The rows of one read, as tuples (a read on a connection found lost is made again once)."""
        text = self._sql(sql)
        return self._again_if_lost(lambda: self.conn.execute(text, args).fetchall())

    def _is_disconnect(self, exc: BaseException) -> bool:
        """Whether a driver error means the connection is gone (the server dropped it); a backend's hook."""
        return False

    def _explained(self, action: Any) -> Any:
        try:
            return action()
        except self._errors as exc:
            raise self._explain(exc) from exc

    def _again_if_lost(self, action: Any) -> Any:
        """`action()`, once more on a new connection if the first try found the connection gone."""
        try:
            return action()
        except self._errors as exc:
            if not self._is_disconnect(exc):
                raise self._explain(exc) from exc
        self._forget_connection()
        return self._explained(action)

    def _forget_connection(self) -> None:
        """Drop a broken connection, closing what can still be closed."""
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except self._errors:
                pass

    # -- writes (the runner) --------------------------------------------------------------------
    def new_run(self, flow: str, user: str, tags: Sequence[str], params: dict[str, Any],
                param_refs: dict[str, ArtifactRef] | None = None, origin_run_id: int | None = None,
                system_tags: Sequence[str] = (), datastore_root: str | None = None) -> int:
        """Allocate the next run id of this flow and record the run as running."""
        now = self.now()
        refs = json.dumps({name: ref_to_json(ref) for name, ref in (param_refs or {}).items()})
        with self._transaction() as conn:
            run_id = self._allocate_run_id(conn, flow)
            conn.execute(self._sql(RUN_INSERT), (flow, run_id, user, now, now, json.dumps(params), origin_run_id,
                                                 refs, datastore_root))
            every_tag = [(t, 1) for t in (f"user:{user}", *system_tags)] + [(t, 0) for t in tags]
            for tag, system in every_tag:
                conn.execute(self._sql(TAG_INSERT), (flow, run_id, tag, system))
        return run_id

    def _allocate_run_id(self, conn: Any, flow: str) -> int:
        """The flow's next run id, inside the transaction that records the run (the counter row stays locked)."""
        (run_id,) = conn.execute(self._sql(NEXT_RUN_ID), (flow, flow)).fetchone()
        return int(run_id)

    def finish_run(self, flow: str, run_id: int, status: str) -> None:
        now = self.now()
        self._write([("UPDATE runs SET status = ?, finished_at = ?, heartbeat_at = ? WHERE flow = ? AND run_id = ?",
                      (status, now, now, flow, run_id))])

    def fail_unfinished(self, flow: str, run_id: int, reason: str) -> None:
        """Mark every task and attempt of a run still recorded as running as failed (its runner is stopping)."""
        now = self.now()
        exception = json.dumps({"type": "RunnerStopped", "message": reason, "traceback": ""})
        where = "WHERE flow = ? AND run_id = ? AND status = 'running'"
        self._write([
            (f"UPDATE tasks SET status = 'failed', finished_at = ? {where}", (now, flow, run_id)),
            (f"UPDATE attempts SET status = 'failed', finished_at = ?, exception = ? {where}", (now, exception, flow, run_id)),
        ])

    def heartbeat(self, flow: str, run_id: int) -> None:
        """Say the runner is alive; readers take a run silent for heartbeat_timeout() as failed."""
        self._write([("UPDATE runs SET heartbeat_at = ? WHERE flow = ? AND run_id = ?", (self.now(), flow, run_id))])

    def start_task(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                   foreach_stack: list, parents: list[str], cache_key: str | None = None) -> None:
        """Record an attempt as running; `cache_key` is the task's step-cache key when caching applies to it."""
        now = self.now()
        where = (flow, run_id, step, task_id)
        self._write([
            (TASK_START, (*where, attempt, now, json.dumps(foreach_stack), json.dumps(parents), cache_key)),
            (ATTEMPT_START, (*where, attempt, now)),
            (ATTEMPT_ENTRY, (*where, attempt, str(attempt), now)),
        ])

    def finish_task(self, flow: str, run_id: int, step: str, task_id: int, attempt: int, status: str,
                    artifacts: dict[str, ArtifactRef], stdout_key: str | None, stderr_key: str | None,
                    exception: dict | None, transition: dict | None = None, metadata: Iterable[Any] = (),
                    producers: dict[str, Producers] | None = None, reads: Iterable[Read] = ()) -> None:
        """Record an attempt's outcome; on success its artifacts become visible in the same transaction.

        `metadata` are the attempt's MetadataEntry items (field, value, type, tags); `producers` says,
        per artifact, which tasks first produced its value; `reads` are the artifacts the attempt read.
        """
        now = self.now()
        where = (flow, run_id, step, task_id)
        statements = [
            # a task's artifacts are those of its latest attempt that ended (a failed one's, for debugging)
            (f"DELETE FROM artifacts {WHERE_TASK}", where),
            (f"DELETE FROM task_reads {WHERE_TASK}", where),
            (f"UPDATE tasks SET status = ?, finished_at = ?, transition = ? {WHERE_TASK}",
             (status, now, json.dumps(transition) if transition else None, *where)),
            (f"UPDATE attempts SET status = ?, finished_at = ?, stdout_key = ?, stderr_key = ?, exception = ? "
             f"{WHERE_TASK} AND attempt = ?",
             (status, now, stdout_key, stderr_key, json.dumps(exception) if exception else None, *where, attempt)),
        ]
        statements += _artifact_rows(where, artifacts, producers or {})
        statements += [(READ_INSERT, (*where, attempt, r.name, r.key, json.dumps(list(r.producers)), r.kind, r.source))
                       for r in reads]
        statements += [(METADATA_INSERT, (*where, attempt, e.field, e.value, e.type, json.dumps(e.tags), now))
                       for e in metadata]
        self._write(statements)

    def set_attempt_logs(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                         stdout_key: str | None, stderr_key: str | None) -> None:
        """Record the logs a running attempt has stored so far (runtime/live_logs.py); an ended one is left alone."""
        self._write([(f"UPDATE attempts SET stdout_key = ?, stderr_key = ? {WHERE_TASK} AND attempt = ? "
                      f"AND status = 'running'", (stdout_key, stderr_key, flow, run_id, step, task_id, attempt))])

    def add_metrics(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                    points: Sequence[tuple]) -> None:
        """Record the metric points an attempt logged, (name, value, step, timestamp) each: a row per metric name."""
        if points:
            where = (flow, run_id, step, task_id, attempt)
            self._write([(METRICS_INSERT, (*where, *row)) for row in pack(points)])

    def clone_task(self, flow: str, run_id: int, step: str, task_id: int, foreach_stack: list, parents: list[str],
                   source: TaskRecord, artifacts: dict[str, ArtifactRef],
                   producers: dict[str, Producers] | None = None, cached: bool = False) -> None:
        """Record a task reused from an earlier task (resume, or a step-cache hit when `cached`).

        Same artifacts, producers, reads, logs and metric points (those of the source's latest attempt),
        by reference (points are copied); the new task names where it came from: `origin` for resume, `cached_from` for a
        cache hit (the first task that ran the code, when the source was itself reused).
        """
        now = self.now()
        first = source.first_source if cached else (source.origin or source.pathspec)
        where = (flow, run_id, step, task_id)
        source_where = (source.flow, source.run_id, source.step, source.task_id)
        statements = [
            (TASK_CLONE, (*where, now, now, json.dumps(foreach_stack), json.dumps(parents),
                           None if cached else first, json.dumps(source.transition) if source.transition else None,
                           source.cache_key, first if cached else None)),
            (CLONED_ATTEMPT_UPSERT, (*where, now, now, *source_where, *source_where)),
            (f"INSERT INTO task_reads ({TASK_KEY}, attempt, {READ_COLUMNS}) SELECT ?, ?, ?, ?, 0, {READ_COLUMNS} "
             f"FROM task_reads {WHERE_TASK} ORDER BY {{order}}", (*where, *source_where)),
        ]
        statements += _artifact_rows(where, artifacts, producers or {})
        statements.append((METRICS_CLONE, (*where, *source_where, *source_where)))
        # the source's metadata (attempts, cards, ...) comes along, then where it came from
        statements.append((f"INSERT INTO task_metadata ({TASK_KEY}, {TASK_METADATA_COLUMNS}) "
                           f"SELECT ?, ?, ?, ?, {TASK_METADATA_COLUMNS} FROM task_metadata {WHERE_TASK} "
                           f"AND field NOT IN ('origin-run-id', 'origin-task-id', 'cached-from') ORDER BY {{order}}",
                           (*where, *source_where)))
        _, source_run, _, source_task = first.split("/")
        fields = [("cached-from", first)] if cached else [("origin-run-id", source_run), ("origin-task-id", source_task)]
        statements += [(METADATA_INSERT, (*where, 0, name, value, name, "[]", now)) for name, value in fields]
        self._write(statements)

    def add_task_metadata(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                          entries: Iterable[Any]) -> None:
        """Record MetadataEntry items for a task attempt outside finish_task (e.g. the scheduler's own)."""
        now = self.now()
        self._write([(METADATA_INSERT, (flow, run_id, step, task_id, attempt, e.field, e.value, e.type,
                                        json.dumps(e.tags), now)) for e in entries])

    def set_run_code(self, flow: str, run_id: int, code_key: str | None, environment_key: str | None) -> None:
        """Record the blobs holding a run's code snapshot and its environment (lineage/code.py writes them)."""
        self._write([("UPDATE runs SET code_key = ?, environment_key = ? WHERE flow = ? AND run_id = ?",
                      (code_key, environment_key, flow, run_id))])

    # -- tag changes (the client: run.add_tag & co, also from inside a running step) -------------
    def mutate_run_tags(self, flow: str, run_id: int, remove: Iterable[str], add: Iterable[str],
                        check: Any = None) -> tuple[list[str], list[str]] | None:
        """Remove, then add, user tags of a run in one short transaction; returns (user tags, system tags).

        A tag to add that is already a system tag is skipped. `check(user, system)` runs inside the
        transaction before anything changes (it raises to refuse the change). None when the run is unknown.
        """
        sql, key = self._sql, (flow, run_id)
        with self._transaction() as conn:
            if conn.execute(sql("SELECT 1 FROM runs WHERE flow = ? AND run_id = ?{lock_row}"), key).fetchone() is None:
                return None
            rows = conn.execute(sql("SELECT tag, system FROM run_tags WHERE flow = ? AND run_id = ?"), key).fetchall()
            system = sorted(tag for tag, is_system in rows if is_system)
            user = sorted(tag for tag, is_system in rows if not is_system)
            if check is not None:
                check(user, system)
            for tag in remove:
                conn.execute(sql("DELETE FROM run_tags WHERE flow = ? AND run_id = ? AND tag = ? AND system = 0"),
                             (*key, tag))
            for tag in add:
                if tag not in system:
                    conn.execute(sql(TAG_INSERT), (*key, tag, 0))
            after = conn.execute(sql("SELECT tag FROM run_tags WHERE flow = ? AND run_id = ? AND system = 0"),
                                 key).fetchall()
        return sorted(tag for (tag,) in after), system

    # -- garbage collection (datastore/gc.py) --------------------------------------------------------
    def delete_runs(self, flow: str, run_ids: Iterable[int]) -> None:
        """Delete every record of these runs, all in one transaction (their blobs are gc's to remove)."""
        ids = list(run_ids)
        self._write([(f"DELETE FROM {table} WHERE flow = ? AND run_id = ?", (flow, run_id))
                     for run_id in ids for table in schema.RUN_TABLES])

    def blob_references(self, without: dict[str, Iterable[int]] | None = None) -> BlobReferences:
        """Every blob key a record refers to, by kind; `without` leaves out the records of those runs.

        Log keys are raw (maybe `parts:`); a card is the raw JSON value of its metadata entry.
        """
        dropped = {(flow, int(run_id)) for flow, ids in (without or {}).items() for run_id in ids}

        def kept(sql: str) -> list[tuple]:
            return [row[2:] for row in self._query(sql) if (row[0], row[1]) not in dropped]

        found = BlobReferences()
        found.artifact.update(k for (k,) in kept("SELECT DISTINCT flow, run_id, key FROM artifacts"))
        for out, err in kept("SELECT flow, run_id, stdout_key, stderr_key FROM attempts"):
            found.log.update(k for k in (out, err) if k)
        for refs, code, env in kept("SELECT flow, run_id, param_refs, code_key, environment_key FROM runs"):
            found.param.update(ref.key for ref in refs_from_json(refs).values())
            if code:
                found.code.add(code)
            if env:
                found.environment.add(env)
        found.card.update(v for (v,) in kept("SELECT flow, run_id, value FROM task_metadata WHERE field = 'card'") if v)
        return found

    def linked_runs(self, flow: str, run_id: int) -> set[int]:
        """Runs of the flow this run depends on: the one it resumed, and those its tasks were reused or cached from."""
        linked: set[int] = set()
        for (origin,) in self._query("SELECT origin_run_id FROM runs WHERE flow = ? AND run_id = ?", (flow, run_id)):
            if origin is not None:
                linked.add(int(origin))
        for row in self._query("SELECT origin, cached_from FROM tasks WHERE flow = ? AND run_id = ? "
                               "AND (origin IS NOT NULL OR cached_from IS NOT NULL)", (flow, run_id)):
            for path in row:
                if path and path.split("/")[0] == flow:
                    linked.add(int(path.split("/")[1]))
        linked.discard(run_id)
        return linked


__all__ = ["HEARTBEAT_SECONDS", "SQLMetadata", "heartbeat_timeout", "upsert"]
