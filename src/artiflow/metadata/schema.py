"""The metadata store's tables, and the ordered migrations that bring any earlier database up to them.

A database records the migrations applied to it in `schema_version`. Opening a store checks the
version (one query); when migrations are pending, one process at a time applies them, inside one
write transaction, re-reading the version once it holds the lock, so processes opening an old
database together each find it either untouched or fully migrated. A database made before schema
versions (with or without the columns added since, see ADDED_COLUMNS) starts at version 0.
Migrations only add (tables, columns, indexes): an older artiflow still reads a newer database.

DDL is written with SQLite's types (TEXT, INTEGER, REAL); a Dialect maps them (BIGINT, DOUBLE PRECISION).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .dialect import Dialect

# the tables as artiflow made them before schema versions (every column up to then)
BASE_TABLES = (
    """CREATE TABLE IF NOT EXISTS runs (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, "user" TEXT, status TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, heartbeat_at REAL, params TEXT, origin_run_id INTEGER,
    param_refs TEXT, code_key TEXT, environment_key TEXT, PRIMARY KEY (flow, run_id))""",
    """CREATE TABLE IF NOT EXISTS run_tags (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, tag TEXT NOT NULL, system INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, run_id, tag))""",
    """CREATE TABLE IF NOT EXISTS tasks (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, finished_at REAL,
    foreach_stack TEXT, parents TEXT, origin TEXT, transition TEXT, cache_key TEXT, cached_from TEXT,
    PRIMARY KEY (flow, run_id, step, task_id))""",
    """CREATE TABLE IF NOT EXISTS attempts (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,
    stdout_key TEXT, stderr_key TEXT, exception TEXT,
    PRIMARY KEY (flow, run_id, step, task_id, attempt))""",
    """CREATE TABLE IF NOT EXISTS artifacts (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    name TEXT NOT NULL, key TEXT NOT NULL, serializer TEXT NOT NULL, type TEXT, size INTEGER, producers TEXT,
    PRIMARY KEY (flow, run_id, step, task_id, name))""",
    """CREATE TABLE IF NOT EXISTS task_metadata ({order_column}
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, field TEXT NOT NULL, value TEXT, type TEXT, tags TEXT, ts REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS task_metadata_by_task ON task_metadata (flow, run_id, step, task_id)",
    """CREATE TABLE IF NOT EXISTS task_reads ({order_column}
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL, producers TEXT, kind TEXT NOT NULL,
    source TEXT)""",
    "CREATE INDEX IF NOT EXISTS task_reads_by_task ON task_reads (flow, run_id, step, task_id)",
)
# columns added after the first release (before schema versions): a database may lack any of them
ADDED_COLUMNS = {"runs": ["param_refs", "code_key", "environment_key"], "tasks": ["transition", "cache_key", "cached_from"],
                 "artifacts": ["producers"]}
# made once the columns they index exist
BASE_INDEXES = ("CREATE INDEX IF NOT EXISTS tasks_by_cache_key ON tasks (flow, step, cache_key)",)
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, what TEXT, applied_at REAL)"
# every table that holds rows of a run (gc deletes a run from each)
RUN_TABLES = ("runs", "run_tags", "tasks", "attempts", "artifacts", "task_metadata", "task_reads", "metrics")


class Migrator:
    """What a migration may do to the database: run DDL in the store's dialect, read and add columns."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    def create(self, ddl: str) -> None:
        """Run a CREATE statement (written with the core's types)."""
        self.conn.execute(self.dialect.ddl(ddl))

    def execute(self, sql: str, args: tuple = ()) -> None:
        """Run a statement of the core (placeholders `?`)."""
        self.conn.execute(self.dialect.sql(sql), args)

    def columns(self, table: str) -> set[str]:
        """The columns the table has now."""
        cursor = self.conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return {column[0] for column in cursor.description}

    def add_columns(self, table: str, columns: list[str], kind: str = "TEXT") -> None:
        """Add the columns the table lacks."""
        have = self.columns(table)
        for column in columns:
            if column not in have:
                self.create(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _base_tables(m: Migrator) -> None:
    for ddl in BASE_TABLES:
        m.create(ddl)
    for table, columns in ADDED_COLUMNS.items():
        m.add_columns(table, columns)
    for ddl in BASE_INDEXES:
        m.create(ddl)


def _run_counters(m: Migrator) -> None:
    m.create("CREATE TABLE IF NOT EXISTS run_counters (flow TEXT NOT NULL PRIMARY KEY, last_run_id INTEGER NOT NULL)")
    m.execute("INSERT INTO run_counters (flow, last_run_id) SELECT flow, MAX(run_id) FROM runs WHERE true GROUP BY flow")


def _datastore_root(m: Migrator) -> None:
    m.add_columns("runs", ["datastore_root"])


def _metrics(m: Migrator) -> None:
    # a row per (attempt, metric name, part of up to 100,000 points): packed arrays, see metadata/metric_series.py
    m.create("""CREATE TABLE IF NOT EXISTS metrics (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, name TEXT NOT NULL, part INTEGER NOT NULL, points INTEGER NOT NULL,
    positions BLOB NOT NULL, steps BLOB NOT NULL, metric_values BLOB NOT NULL, stamps BLOB NOT NULL)""")
    m.create("CREATE INDEX IF NOT EXISTS metrics_by_task ON metrics (flow, run_id, step, task_id)")
    if m.dialect.uncompressed:
        for column in ("positions", "steps", "metric_values", "stamps"):
            m.execute(m.dialect.uncompressed.format(table="metrics", column=column))


def _browsing(m: Migrator) -> None:
    # the UI lists runs newest first, filtered by flow or tag, and draws a run's graph as the run stored it
    m.add_columns("runs", ["graph"])
    m.create("CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at)")
    m.create("CREATE INDEX IF NOT EXISTS runs_by_flow_created ON runs (flow, created_at)")
    m.create("CREATE INDEX IF NOT EXISTS run_tags_by_tag ON run_tags (tag)")


def _previews(m: Migrator) -> None:
    # a preview per content key (datastore/preview.py): what the UI shows of an artifact without reading its blob
    m.create("CREATE TABLE IF NOT EXISTS artifact_previews (key TEXT PRIMARY KEY, preview TEXT NOT NULL)")


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its version (1, 2, ...), what it does, and the function that does it."""

    version: int
    what: str
    apply: Callable[[Migrator], None]


MIGRATIONS = (
    Migration(1, "the tables and columns of artiflow before schema versions", _base_tables),
    Migration(2, "a counter per flow allocates run ids (seeded from the runs recorded)", _run_counters),
    Migration(3, "runs record the datastore root they wrote to", _datastore_root),
    Migration(4, "tasks record the metric points they logged (log_metric)", _metrics),
    Migration(5, "artifacts have previews, made when they are saved (one per content key)", _previews),
    Migration(6, "runs record their graph; indexes for listing runs newest first by flow and tag", _browsing),
)
LATEST = MIGRATIONS[-1].version


def pending(version: int) -> list[Migration]:
    """The migrations a database at `version` still needs, in order."""
    return [m for m in MIGRATIONS if m.version > version]


def read_version(conn: Any, dialect: Dialect, errors: tuple[type[BaseException], ...]) -> int:
    """The database's schema version: 0 when it has none yet (a new database, or one made before versions)."""
    try:
        (version,) = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except errors:
        return 0
    return version or 0


def migrate(conn: Any, dialect: Dialect, now: float) -> list[Migration]:
    """Apply the pending migrations; the caller holds the write transaction (and `dialect.schema_lock`)."""
    conn.execute(dialect.ddl(VERSION_TABLE))
    (version,) = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    todo = pending(version or 0)
    migrator = Migrator(conn, dialect)
    for migration in todo:
        migration.apply(migrator)
        migrator.execute("INSERT INTO schema_version (version, what, applied_at) VALUES (?, ?, ?)",
                         (migration.version, migration.what, now))
    return todo
