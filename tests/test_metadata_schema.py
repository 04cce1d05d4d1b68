"""The metadata store opens a database made by an earlier artiflow: new columns added, by one process or many."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from conftest import REPO, ok, run_flow

# the schema as artiflow stored it before step caching and lineage (copied from that release)
SCHEMA_BEFORE_LINEAGE = """
CREATE TABLE IF NOT EXISTS runs (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, user TEXT, status TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, heartbeat_at REAL, params TEXT, origin_run_id INTEGER,
    param_refs TEXT, PRIMARY KEY (flow, run_id));
CREATE TABLE IF NOT EXISTS run_tags (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, tag TEXT NOT NULL, system INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, run_id, tag));
CREATE TABLE IF NOT EXISTS tasks (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, finished_at REAL,
    foreach_stack TEXT, parents TEXT, origin TEXT, transition TEXT,
    PRIMARY KEY (flow, run_id, step, task_id));
CREATE TABLE IF NOT EXISTS attempts (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,
    stdout_key TEXT, stderr_key TEXT, exception TEXT,
    PRIMARY KEY (flow, run_id, step, task_id, attempt));
CREATE TABLE IF NOT EXISTS artifacts (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    name TEXT NOT NULL, key TEXT NOT NULL, serializer TEXT NOT NULL, type TEXT, size INTEGER,
    PRIMARY KEY (flow, run_id, step, task_id, name));
CREATE TABLE IF NOT EXISTS task_metadata (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, field TEXT NOT NULL, value TEXT, type TEXT, tags TEXT, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS task_metadata_by_task ON task_metadata (flow, run_id, step, task_id);
"""


def old_database(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_BEFORE_LINEAGE)
    conn.close()


def columns(path, table: str) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()


def test_an_earlier_database_gets_the_new_columns_and_runs_use_them(af_home):
    db = af_home / ".artiflow" / "metadata.db"
    old_database(db)
    ok(run_flow("hello_flow.py", "run", "--cache"))
    ok(run_flow("hello_flow.py", "run", "--cache"))
    assert {"cache_key", "cached_from"} <= columns(db, "tasks") and "producers" in columns(db, "artifacts")
    assert {"code_key", "environment_key"} <= columns(db, "runs")
    from artiflow import Flow

    run = Flow("HelloFlow").latest_run
    assert run["start"].task.cached_from == "HelloFlow/1/start/1" and run.code is not None


def test_many_processes_upgrading_one_database_at_once_all_succeed(af_home):
    db = af_home / ".artiflow" / "metadata.db"
    old_database(db)
    code = f"import sys; sys.path.insert(0, {str(REPO / 'src')!r}); from artiflow.metadata import SQLiteMetadata; " \
           f"SQLiteMetadata({str(db)!r}).conn; print('ok')"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert "producers" in columns(db, "artifacts")
