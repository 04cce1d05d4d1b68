"""The metadata store on SQLite (the default: `$ARTIFLOW_ROOT/metadata.db`): its dialect and connection.

The SQL is the core's (metadata.sql). Here: one file in WAL mode with FULL sync (a task recorded as
finished stays so after a power loss), a busy timeout for writers sharing the file, `BEGIN IMMEDIATE`
write transactions (they also keep two processes from migrating at once), and SQLite's errors as
messages a person can act on.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..exceptions import MetadataError
from .dialect import Dialect
from .sql import HEARTBEAT_SECONDS, SQLMetadata, heartbeat_timeout

SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    begin_write="BEGIN IMMEDIATE",  # takes the write lock now: no deadlock between two readers turned writers
    order_column="rowid",
    # without statistics SQLite would walk the flow's whole primary key instead of the cache-key index
    cache_index_hint=" INDEXED BY tasks_by_cache_key",
    greatest="MAX",
)
MIN_VERSION = (3, 35, 0)  # upserts with RETURNING


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


def explain(exc: BaseException, path: Path) -> MetadataError:
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


def check_sqlite_version() -> None:
    """Refuse an SQLite library too old for the core's SQL, saying which one is there."""
    if sqlite3.sqlite_version_info < MIN_VERSION:
        raise MetadataError(f"This Python's SQLite library is version {sqlite3.sqlite_version}; artiflow's metadata "
                            f"store needs {'.'.join(map(str, MIN_VERSION))} or newer. Use a Python built with a newer "
                            f"SQLite (python.org and conda builds are), or set ARTIFLOW_METADATA_URL to a PostgreSQL "
                            f"database.")


class SQLiteMetadata(SQLMetadata):
    """Metadata in one SQLite file; many runs and readers may share it."""

    dialect = SQLITE
    _errors = (sqlite3.Error,)

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        check_sqlite_version()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=busy_timeout(), isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: each commit fsyncs the WAL, so a task recorded as finished stays so after a power loss
            # (NORMAL may roll back the last commits). The runner batches commits: ~0.4 per task, ~0.5 ms each.
            conn.execute("PRAGMA synchronous=FULL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _explain(self, exc: BaseException) -> MetadataError:
        return explain(exc, self.path)

    def describe(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()


__all__ = ["HEARTBEAT_SECONDS", "SQLITE", "SQLiteMetadata", "busy_timeout", "explain", "heartbeat_timeout"]
