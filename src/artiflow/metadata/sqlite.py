"""The metadata store on SQLite: the index of flows, runs, tasks, attempts, artifacts and tags.

Only this module speaks SQL. The runner is the only writer of a run; many runs (and readers) may
share one database file, so writes are short transactions in WAL mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..datastore import ArtifactRef
from ..exceptions import MetadataError
from ..lineage.records import Producers, Read

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, user TEXT, status TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, heartbeat_at REAL, params TEXT, origin_run_id INTEGER,
    param_refs TEXT, code_key TEXT, environment_key TEXT, PRIMARY KEY (flow, run_id));
CREATE TABLE IF NOT EXISTS run_tags (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, tag TEXT NOT NULL, system INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, run_id, tag));
CREATE TABLE IF NOT EXISTS tasks (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, finished_at REAL,
    foreach_stack TEXT, parents TEXT, origin TEXT, transition TEXT, cache_key TEXT, cached_from TEXT,
    PRIMARY KEY (flow, run_id, step, task_id));
CREATE TABLE IF NOT EXISTS attempts (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,
    stdout_key TEXT, stderr_key TEXT, exception TEXT,
    PRIMARY KEY (flow, run_id, step, task_id, attempt));
CREATE TABLE IF NOT EXISTS artifacts (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    name TEXT NOT NULL, key TEXT NOT NULL, serializer TEXT NOT NULL, type TEXT, size INTEGER, producers TEXT,
    PRIMARY KEY (flow, run_id, step, task_id, name));
CREATE TABLE IF NOT EXISTS task_metadata (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, field TEXT NOT NULL, value TEXT, type TEXT, tags TEXT, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS task_metadata_by_task ON task_metadata (flow, run_id, step, task_id);
CREATE TABLE IF NOT EXISTS task_reads (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL, producers TEXT, kind TEXT NOT NULL,
    source TEXT);
CREATE INDEX IF NOT EXISTS task_reads_by_task ON task_reads (flow, run_id, step, task_id);
"""
# made once the columns they index exist (a database of an earlier artiflow gets them added first)
INDEXES = """
CREATE INDEX IF NOT EXISTS tasks_by_cache_key ON tasks (flow, step, cache_key);
"""
METADATA_INSERT = "INSERT INTO task_metadata VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

RUN_COLUMNS = ("flow, run_id, user, status, created_at, finished_at, heartbeat_at, params, origin_run_id, param_refs, "
               "code_key, environment_key")
NEW_RUN_COLUMNS = "flow, run_id, user, status, created_at, finished_at, heartbeat_at, params, origin_run_id, param_refs"
TASK_COLUMNS = ("flow, run_id, step, task_id, status, attempt, created_at, finished_at, foreach_stack, parents, origin, "
                "transition, cache_key, cached_from")
START_TASK_COLUMNS = ("flow, run_id, step, task_id, status, attempt, created_at, finished_at, foreach_stack, parents, "
                      "origin, transition, cache_key")
ARTIFACT_INSERT = ("INSERT OR REPLACE INTO artifacts (flow, run_id, step, task_id, name, key, serializer, type, size, "
                   "producers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
READ_INSERT = "INSERT INTO task_reads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# every table that holds rows of a run (gc deletes a run from each)
RUN_TABLES = ("runs", "run_tags", "tasks", "attempts", "artifacts", "task_metadata", "task_reads")
HEARTBEAT_SECONDS = 2.0


def heartbeat_timeout() -> float:
    """Seconds without a heartbeat after which a 'running' run is taken as dead (its runner was lost)."""
    return float(os.environ.get("ARTIFLOW_HEARTBEAT_TIMEOUT", "20"))


def busy_timeout() -> float:
    """Seconds a write waits for another process's lock on the database before giving up."""
    text = os.environ.get("ARTIFLOW_METADATA_BUSY_TIMEOUT", "60")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise MetadataError(f"ARTIFLOW_METADATA_BUSY_TIMEOUT={text!r} is not a number of seconds (0 or more); "
                            f"unset it to wait the default 60 s.")
    return value


def explain(exc: sqlite3.Error, path: Path) -> MetadataError:
    """A SQLite error as a person reads it: what happened to which file, and what to do."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return MetadataError(
            f"The metadata database {path} is locked by another process, and stayed locked for longer than "
            f"{busy_timeout():g} s (ARTIFLOW_METADATA_BUSY_TIMEOUT). Find the process holding it (e.g. `fuser {path}`), "
            f"let it finish or stop it, then try again.")
    if "full" in text:
        return MetadataError(f"The disk holding the metadata database {path} is full ({text}). Free some space, "
                             f"then try again (a failed run continues with: resume).")
    if "readonly" in text or "read-only" in text:
        return MetadataError(f"The metadata database {path} cannot be written ({text}). Check its permissions and "
                             f"those of its folder.")
    return MetadataError(f"The metadata database {path} failed: {type(exc).__name__}: {text}.")


def _ref_to_json(ref: ArtifactRef) -> list:
    return [ref.key, ref.serializer, ref.type, ref.size]


def _ref_from_json(item: list) -> ArtifactRef:
    return ArtifactRef(*item)


# columns newer than the first schema
ADDED_COLUMNS = {"runs": ["param_refs", "code_key", "environment_key"], "tasks": ["transition", "cache_key", "cached_from"],
                 "artifacts": ["producers"]}


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a database made by an earlier artiflow up to this schema (new columns only)."""
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column not in have:
                try:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise
    conn.executescript(INDEXES)


def _artifact_rows(where: tuple, artifacts: dict[str, ArtifactRef],
                   producers: dict[str, Producers]) -> list[tuple[str, tuple]]:
    return [(ARTIFACT_INSERT, (*where, name, ref.key, ref.serializer, ref.type, ref.size,
                               json.dumps(list(producers.get(name, ())))))
            for name, ref in artifacts.items()]


def first_source(row: dict[str, Any]) -> str:
    """The task that ran the code behind a task row: itself, or the task it was reused or cached from."""
    return row.get("cached_from") or row.get("origin") or f"{row['flow']}/{row['run_id']}/{row['step']}/{row['task_id']}"


def _decode_tasks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Task rows with their JSON columns (foreach stack, parents, transition) read back."""
    for row in rows:
        row["foreach_stack"] = json.loads(row["foreach_stack"] or "[]")
        row["parents"] = json.loads(row["parents"] or "[]")
        row["transition"] = json.loads(row["transition"]) if row["transition"] else None
    return rows


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


class SQLiteMetadata:
    """Metadata in one SQLite file (the default: `$ARTIFLOW_ROOT/metadata.db`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[str, tuple]] | None = None  # writes gathered by batch()

    # -- connection ---------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=busy_timeout(), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: each commit fsyncs the WAL, so a task recorded as finished stays so after a power loss
            # (NORMAL may roll back the last commits). The runner batches commits: ~0.4 per task, ~0.5 ms each.
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(SCHEMA)
            _add_missing_columns(conn)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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
        """Run statements in one IMMEDIATE transaction: all of them land, or none."""
        if self._pending is not None:
            self._pending.extend(statements)
            return
        with self._immediate() as conn:
            for sql, args in statements:
                conn.execute(sql, args)

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed if the block ends, rolled back if it raises.

        SQLite's errors come out as MetadataError, saying what happened to which file.
        """
        try:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise explain(exc, self.path) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise explain(exc, self.path) from exc
            raise

    def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not done so already."""
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _query(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        try:
            return _rows(self.conn.execute(sql, args))
        except sqlite3.Error as exc:
            raise explain(exc, self.path) from exc

    # -- writes (the runner) --------------------------------------------------------------------
    def new_run(self, flow: str, user: str, tags: list[str], params: dict[str, Any],
                param_refs: dict[str, ArtifactRef] | None = None, origin_run_id: int | None = None,
                system_tags: list[str] = ()) -> int:
        """Allocate the next run id of this flow and record the run as running."""
        now = time.time()
        with self._immediate() as conn:
            (last,) = conn.execute("SELECT COALESCE(MAX(run_id), 0) FROM runs WHERE flow = ?", (flow,)).fetchone()
            run_id = last + 1
            conn.execute(
                f"INSERT INTO runs ({NEW_RUN_COLUMNS}) VALUES (?, ?, ?, 'running', ?, NULL, ?, ?, ?, ?)",
                (flow, run_id, user, now, now, json.dumps(params), origin_run_id,
                 json.dumps({name: _ref_to_json(ref) for name, ref in (param_refs or {}).items()})),
            )
            every_tag = [(t, 1) for t in (f"user:{user}", *system_tags)] + [(t, 0) for t in tags]
            for tag, system in every_tag:
                conn.execute("INSERT OR IGNORE INTO run_tags VALUES (?, ?, ?, ?)", (flow, run_id, tag, system))
        return run_id

    def finish_run(self, flow: str, run_id: int, status: str) -> None:
        now = time.time()
        self._write([("UPDATE runs SET status = ?, finished_at = ?, heartbeat_at = ? WHERE flow = ? AND run_id = ?",
                      (status, now, now, flow, run_id))])

    def fail_unfinished(self, flow: str, run_id: int, reason: str) -> None:
        """Mark every task and attempt of a run still recorded as running as failed (its runner is stopping)."""
        now = time.time()
        exception = json.dumps({"type": "RunnerStopped", "message": reason, "traceback": ""})
        where = "WHERE flow = ? AND run_id = ? AND status = 'running'"
        self._write([
            (f"UPDATE tasks SET status = 'failed', finished_at = ? {where}", (now, flow, run_id)),
            (f"UPDATE attempts SET status = 'failed', finished_at = ?, exception = ? {where}", (now, exception, flow, run_id)),
        ])

    def heartbeat(self, flow: str, run_id: int) -> None:
        """Say the runner is alive; readers take a run silent for heartbeat_timeout() as failed."""
        self._write([("UPDATE runs SET heartbeat_at = ? WHERE flow = ? AND run_id = ?", (time.time(), flow, run_id))])

    def start_task(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                   foreach_stack: list, parents: list[str], cache_key: str | None = None) -> None:
        """Record an attempt as running; `cache_key` is the task's step-cache key when caching applies to it."""
        now = time.time()
        self._write([
            (f"INSERT OR REPLACE INTO tasks ({START_TASK_COLUMNS}) "
             f"VALUES (?, ?, ?, ?, 'running', ?, ?, NULL, ?, ?, NULL, NULL, ?)",
             (flow, run_id, step, task_id, attempt, now, json.dumps(foreach_stack), json.dumps(parents), cache_key)),
            ("INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, ?, 'running', ?, NULL, NULL, NULL, NULL)",
             (flow, run_id, step, task_id, attempt, now)),
            (METADATA_INSERT, (flow, run_id, step, task_id, attempt, "attempt", str(attempt), "attempt", "[]", now)),
        ])

    def finish_task(self, flow: str, run_id: int, step: str, task_id: int, attempt: int, status: str,
                    artifacts: dict[str, ArtifactRef], stdout_key: str | None, stderr_key: str | None,
                    exception: dict | None, transition: dict | None = None, metadata: Iterable[Any] = (),
                    producers: dict[str, Producers] | None = None, reads: Iterable[Read] = ()) -> None:
        """Record an attempt's outcome; on success its artifacts become visible in the same transaction.

        `metadata` are the attempt's MetadataEntry items (field, value, type, tags); `producers` says,
        per artifact, which tasks first produced its value; `reads` are the artifacts the attempt read.
        """
        now = time.time()
        where = (flow, run_id, step, task_id)
        statements = [
            # a task's artifacts are those of its latest attempt that ended (a failed one's, for debugging)
            ("DELETE FROM artifacts WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ?", where),
            ("DELETE FROM task_reads WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ?", where),
            ("UPDATE tasks SET status = ?, finished_at = ?, transition = ? "
             "WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ?",
             (status, now, json.dumps(transition) if transition else None, *where)),
            ("UPDATE attempts SET status = ?, finished_at = ?, stdout_key = ?, stderr_key = ?, exception = ? "
             "WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ? AND attempt = ?",
             (status, now, stdout_key, stderr_key, json.dumps(exception) if exception else None, *where, attempt)),
        ]
        statements += _artifact_rows(where, artifacts, producers or {})
        statements += [(READ_INSERT, (*where, attempt, r.name, r.key, json.dumps(list(r.producers)), r.kind, r.source))
                       for r in reads]
        for entry in metadata:
            statements.append((METADATA_INSERT, (*where, attempt, entry.field, entry.value, entry.type,
                                                 json.dumps(entry.tags), now)))
        self._write(statements)

    def clone_task(self, flow: str, run_id: int, step: str, task_id: int, foreach_stack: list, parents: list[str],
                   origin: dict[str, Any], artifacts: dict[str, ArtifactRef],
                   producers: dict[str, Producers] | None = None, cached: bool = False) -> None:
        """Record a task reused from an earlier task (resume, or a step-cache hit when `cached`).

        Same artifacts, producers, reads and logs (`origin["logs"]`), by reference; the new task
        names where it came from: `origin` for resume, `cached_from` for a cache hit (the first task
        that ran the code, when the origin was itself reused).
        """
        now = time.time()
        own = f"{origin['flow']}/{origin['run_id']}/{origin['step']}/{origin['task_id']}"
        source = first_source(origin) if cached else (origin["origin"] or own)
        stdout_key, stderr_key = origin["logs"]
        where = (flow, run_id, step, task_id)
        origin_where = (origin["flow"], origin["run_id"], origin["step"], origin["task_id"])
        statements = [
            (f"INSERT OR REPLACE INTO tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, 'succeeded', 0, ?, ?, ?, ?, ?, ?, ?, ?)",
             (*where, now, now, json.dumps(foreach_stack), json.dumps(parents), None if cached else source,
              json.dumps(origin["transition"]) if origin["transition"] else None, origin.get("cache_key"),
              source if cached else None)),
            ("INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, 0, 'succeeded', ?, ?, ?, ?, NULL)",
             (*where, now, now, stdout_key, stderr_key)),
            ("INSERT INTO task_reads SELECT ?, ?, ?, ?, 0, name, key, producers, kind, source FROM task_reads "
             "WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ?", (*where, *origin_where)),
        ]
        statements += _artifact_rows(where, artifacts, producers or {})
        # the origin's metadata (attempts, cards, ...) comes along, then where it came from
        statements.append(("INSERT INTO task_metadata SELECT ?, ?, ?, ?, attempt, field, value, type, tags, ts "
                           "FROM task_metadata WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ? "
                           "AND field NOT IN ('origin-run-id', 'origin-task-id', 'cached-from')",
                           (*where, *origin_where)))
        _, source_run, _, source_task = source.split("/")
        fields = [("cached-from", source)] if cached else [("origin-run-id", source_run), ("origin-task-id", source_task)]
        for field, value in fields:
            statements.append((METADATA_INSERT, (*where, 0, field, value, field, "[]", now)))
        self._write(statements)

    def add_task_metadata(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                          entries: Iterable[Any]) -> None:
        """Record MetadataEntry items for a task attempt outside finish_task (e.g. the scheduler's own)."""
        now = time.time()
        self._write([(METADATA_INSERT, (flow, run_id, step, task_id, attempt, e.field, e.value, e.type,
                                        json.dumps(e.tags), now)) for e in entries])

    def task_metadata(self, flow: str, run_id: int, step: str, task_id: int) -> list[dict[str, Any]]:
        """Every metadata entry of a task (all attempts), oldest first: field, value, type, tags, attempt, ts."""
        rows = self._query("SELECT attempt, field, value, type, tags, ts FROM task_metadata "
                           "WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ? ORDER BY ts, rowid",
                           (flow, run_id, step, task_id))
        for row in rows:
            row["tags"] = json.loads(row["tags"] or "[]")
        return rows

    # -- tag changes (the client: run.add_tag & co, also from inside a running step) -------------
    def mutate_run_tags(self, flow: str, run_id: int, remove: Iterable[str], add: Iterable[str],
                        check: Any = None) -> tuple[list[str], list[str]] | None:
        """Remove, then add, user tags of a run in one short transaction; returns (user tags, system tags).

        A tag to add that is already a system tag is skipped. `check(user, system)` runs inside the
        transaction before anything changes (it raises to refuse the change). None when the run is unknown.
        """
        with self._immediate() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE flow = ? AND run_id = ?", (flow, run_id)).fetchone() is None:
                return None
            rows = conn.execute("SELECT tag, system FROM run_tags WHERE flow = ? AND run_id = ?",
                                (flow, run_id)).fetchall()
            system = sorted(tag for tag, is_system in rows if is_system)
            user = sorted(tag for tag, is_system in rows if not is_system)
            if check is not None:
                check(user, system)
            for tag in remove:
                conn.execute("DELETE FROM run_tags WHERE flow = ? AND run_id = ? AND tag = ? AND system = 0",
                             (flow, run_id, tag))
            for tag in add:
                if tag not in system:
                    conn.execute("INSERT OR IGNORE INTO run_tags VALUES (?, ?, ?, 0)", (flow, run_id, tag))
            after = conn.execute("SELECT tag FROM run_tags WHERE flow = ? AND run_id = ? AND system = 0",
                                 (flow, run_id)).fetchall()
        return sorted(tag for (tag,) in after), system

    def tasks_with_metadata(self, flow: str, run_id: int, step: str, field: str, value: str) -> set[int]:
        """Ids of a step's tasks that recorded the metadata entry `field` = `value` (e.g. control tasks)."""
        rows = self._query("SELECT DISTINCT task_id FROM task_metadata WHERE flow = ? AND run_id = ? AND step = ? "
                           "AND field = ? AND value = ?", (flow, run_id, step, field, value))
        return {r["task_id"] for r in rows}

    # -- reads (the client and the CLI) ---------------------------------------------------------
    def flows(self) -> list[str]:
        return [r["flow"] for r in self._query("SELECT DISTINCT flow FROM runs ORDER BY flow")]

    def runs(self, flow: str) -> list[dict[str, Any]]:
        """Runs of a flow, newest first, each with its `tags` and `system_tags`."""
        runs = self._query(f"SELECT {RUN_COLUMNS} FROM runs WHERE flow = ? ORDER BY run_id DESC", (flow,))
        tags: dict[int, list[tuple[str, int]]] = {}
        for row in self._query("SELECT run_id, tag, system FROM run_tags WHERE flow = ?", (flow,)):
            tags.setdefault(row["run_id"], []).append((row["tag"], row["system"]))
        for run in runs:
            self._decorate_run(run, tags.get(run["run_id"], []))
        return runs

    def run(self, flow: str, run_id: int) -> dict[str, Any] | None:
        rows = self._query(f"SELECT {RUN_COLUMNS} FROM runs WHERE flow = ? AND run_id = ?", (flow, run_id))
        if not rows:
            return None
        tags = self._query("SELECT tag, system FROM run_tags WHERE flow = ? AND run_id = ?", (flow, run_id))
        return self._decorate_run(rows[0], [(t["tag"], t["system"]) for t in tags])

    @staticmethod
    def _decorate_run(run: dict[str, Any], tags: list[tuple[str, int]]) -> dict[str, Any]:
        run["params"] = json.loads(run["params"] or "{}")
        run["param_refs"] = {k: _ref_from_json(v) for k, v in json.loads(run["param_refs"] or "{}").items()}
        run["lost"] = run["status"] == "running" and time.time() - (run["heartbeat_at"] or 0) > heartbeat_timeout()
        if run["lost"]:
            run["status"] = "failed"  # its runner stopped beating: killed, or the machine was lost
        run["tags"] = sorted(t for t, system in tags if not system)
        run["system_tags"] = sorted(t for t, system in tags if system)
        return run

    def tasks(self, flow: str, run_id: int, step: str | None = None) -> list[dict[str, Any]]:
        """Tasks of a run (or of one step), in the order they were started."""
        sql = f"SELECT {TASK_COLUMNS} FROM tasks WHERE flow = ? AND run_id = ?"
        args: tuple = (flow, run_id)
        if step is not None:
            sql += " AND step = ?"
            args += (step,)
        rows = self._query(sql + " ORDER BY created_at, task_id", args)
        return _decode_tasks(rows)

    def task(self, flow: str, run_id: int, step: str, task_id: int) -> dict[str, Any] | None:
        rows = [t for t in self.tasks(flow, run_id, step) if t["task_id"] == task_id]
        return rows[0] if rows else None

    def attempts(self, flow: str, run_id: int, step: str, task_id: int) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM attempts WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ? "
                           "ORDER BY attempt", (flow, run_id, step, task_id))
        for row in rows:
            row["exception"] = json.loads(row["exception"]) if row["exception"] else None
        return rows

    def artifacts(self, flow: str, run_id: int, step: str, task_id: int) -> dict[str, ArtifactRef]:
        rows = self._query("SELECT name, key, serializer, type, size FROM artifacts "
                           "WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ? ORDER BY name",
                           (flow, run_id, step, task_id))
        return {r["name"]: ArtifactRef(r["key"], r["serializer"], r["type"], r["size"]) for r in rows}

    def last_logs_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], tuple[str | None, str | None]]:
        """The stdout and stderr keys of every task's last attempt in a run, in one query, by (step, task_id)."""
        rows = self._query("SELECT step, task_id, stdout_key, stderr_key FROM attempts "
                           "WHERE flow = ? AND run_id = ? ORDER BY attempt", (flow, run_id))
        return {(r["step"], r["task_id"]): (r["stdout_key"], r["stderr_key"]) for r in rows}

    def artifacts_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], dict[str, ArtifactRef]]:
        """Every artifact of a run in one query, by (step, task_id)."""
        found: dict[tuple[str, int], dict[str, ArtifactRef]] = {}
        for r in self._query("SELECT step, task_id, name, key, serializer, type, size FROM artifacts "
                             "WHERE flow = ? AND run_id = ?", (flow, run_id)):
            found.setdefault((r["step"], r["task_id"]), {})[r["name"]] = ArtifactRef(
                r["key"], r["serializer"], r["type"], r["size"])
        return found

    def artifact_in_tasks(self, flow: str, run_id: int, step: str, name: str) -> dict[int, ArtifactRef]:
        """One artifact of every task of a step, in one query (for reading many tasks fast)."""
        rows = self._query("SELECT task_id, key, serializer, type, size FROM artifacts "
                           "WHERE flow = ? AND run_id = ? AND step = ? AND name = ?", (flow, run_id, step, name))
        return {r["task_id"]: ArtifactRef(r["key"], r["serializer"], r["type"], r["size"]) for r in rows}

    # -- step caching, lineage, code (caching/, lineage/) ------------------------------------------
    def cache_candidates(self, flow: str, step: str, cache_key: str) -> list[dict[str, Any]]:
        """Tasks of the step that succeeded with this cache key (not caught, not failed), newest first."""
        # INDEXED BY: without statistics SQLite would walk the flow's whole primary key instead
        rows = self._query(f"SELECT {TASK_COLUMNS} FROM tasks INDEXED BY tasks_by_cache_key "
                           f"WHERE flow = ? AND step = ? AND cache_key = ? "
                           f"AND status = 'succeeded' ORDER BY run_id DESC, task_id DESC", (flow, step, cache_key))
        return _decode_tasks(rows)

    def last_logs(self, flow: str, run_id: int, step: str, task_id: int) -> tuple[str | None, str | None]:
        """The stdout and stderr keys of a task's last attempt."""
        rows = self._query("SELECT stdout_key, stderr_key FROM attempts WHERE flow = ? AND run_id = ? AND step = ? "
                           "AND task_id = ? ORDER BY attempt DESC LIMIT 1", (flow, run_id, step, task_id))
        return (rows[0]["stdout_key"], rows[0]["stderr_key"]) if rows else (None, None)

    def artifacts_with_producers(self, flow: str, run_id: int, step: str,
                                 task_id: int) -> tuple[dict[str, ArtifactRef], dict[str, Producers]]:
        """A task's artifacts and their producers, in one query (a cache hit needs both)."""
        rows = self._query("SELECT name, key, serializer, type, size, producers FROM artifacts "
                           "WHERE flow = ? AND run_id = ? AND step = ? AND task_id = ? ORDER BY name",
                           (flow, run_id, step, task_id))
        return ({r["name"]: ArtifactRef(r["key"], r["serializer"], r["type"], r["size"]) for r in rows},
                {r["name"]: tuple(json.loads(r["producers"] or "[]")) for r in rows})

    def artifact_producers(self, flow: str, run_id: int, step: str, task_id: int) -> dict[str, Producers]:
        """Which tasks first produced each artifact's value of a task (empty for a parameter)."""
        rows = self._query("SELECT name, producers FROM artifacts WHERE flow = ? AND run_id = ? AND step = ? "
                           "AND task_id = ?", (flow, run_id, step, task_id))
        return {r["name"]: tuple(json.loads(r["producers"] or "[]")) for r in rows}

    def producers_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], dict[str, Producers]]:
        """`artifact_producers` of every task of a run in one query, by (step, task_id)."""
        found: dict[tuple[str, int], dict[str, Producers]] = {}
        for r in self._query("SELECT step, task_id, name, producers FROM artifacts WHERE flow = ? AND run_id = ?",
                             (flow, run_id)):
            found.setdefault((r["step"], r["task_id"]), {})[r["name"]] = tuple(json.loads(r["producers"] or "[]"))
        return found

    def task_reads(self, flow: str, run_id: int, step: str, task_id: int) -> list[Read]:
        """The artifacts a task's latest recorded attempt read, in the order it read them."""
        rows = self._query("SELECT name, key, producers, kind, source FROM task_reads WHERE flow = ? AND run_id = ? "
                           "AND step = ? AND task_id = ? ORDER BY rowid", (flow, run_id, step, task_id))
        return [Read(r["name"], r["key"], tuple(json.loads(r["producers"] or "[]")), r["kind"], r["source"])
                for r in rows]

    def set_run_code(self, flow: str, run_id: int, code_key: str | None, environment_key: str | None) -> None:
        """Record the blobs holding a run's code snapshot and its environment (lineage/code.py writes them)."""
        self._write([("UPDATE runs SET code_key = ?, environment_key = ? WHERE flow = ? AND run_id = ?",
                      (code_key, environment_key, flow, run_id))])

    # -- garbage collection (datastore/gc.py) --------------------------------------------------------
    def delete_runs(self, flow: str, run_ids: Iterable[int]) -> None:
        """Delete every record of these runs, all in one transaction (their blobs are gc's to remove)."""
        ids = list(run_ids)
        self._write([(f"DELETE FROM {table} WHERE flow = ? AND run_id = ?", (flow, run_id))
                     for run_id in ids for table in RUN_TABLES])

    def blob_references(self) -> dict[str, set[str]]:
        """Every blob key a record refers to, by kind: 'artifact', 'log' (raw, maybe `parts:`), 'param',
        'code', 'environment' and 'card' (the raw JSON value of a card's metadata entry)."""
        found: dict[str, set[str]] = {k: set() for k in ("artifact", "log", "param", "code", "environment", "card")}
        conn = self.conn
        try:
            found["artifact"].update(k for (k,) in conn.execute("SELECT DISTINCT key FROM artifacts"))
            for out, err in conn.execute("SELECT stdout_key, stderr_key FROM attempts"):
                found["log"].update(k for k in (out, err) if k)
            for refs, code, env in conn.execute("SELECT param_refs, code_key, environment_key FROM runs"):
                found["param"].update(item[0] for item in json.loads(refs or "{}").values())
                if code:
                    found["code"].add(code)
                if env:
                    found["environment"].add(env)
            found["card"].update(v for (v,) in conn.execute("SELECT value FROM task_metadata WHERE field = 'card'")
                                 if v)
        except sqlite3.Error as exc:
            raise explain(exc, self.path) from exc
        return found

    def linked_runs(self, flow: str, run_id: int) -> set[int]:
        """Runs of the flow this run depends on: the one it resumed, and those its tasks were reused or cached from."""
        linked: set[int] = set()
        row = self.run(flow, run_id)
        if row is not None and row["origin_run_id"] is not None:
            linked.add(int(row["origin_run_id"]))
        for r in self._query("SELECT origin, cached_from FROM tasks WHERE flow = ? AND run_id = ? "
                             "AND (origin IS NOT NULL OR cached_from IS NOT NULL)", (flow, run_id)):
            for path in (r["origin"], r["cached_from"]):
                if path and path.split("/")[0] == flow:
                    linked.add(int(path.split("/")[1]))
        linked.discard(run_id)
        return linked
