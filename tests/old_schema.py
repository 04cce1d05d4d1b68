"""Build a metadata database as an older artiflow left it, to test the migrations that bring it up to date."""

from __future__ import annotations

from typing import Any, Iterable

OLD_RUN = ['INSERT INTO runs (flow, run_id, "user", status, created_at, params) '
           "VALUES ('OldFlow', 1, 'tester', 'succeeded', 1.0, '{}')",
           "INSERT INTO run_tags (flow, run_id, tag, system) VALUES ('OldFlow', 1, 'user:tester', 1)"]


def database_at(meta: Any, version: int, rows: Iterable[str] = (), check: Any = None) -> None:
    """Make `meta`'s empty database as schema `version` left it, holding the run OldFlow/1 and `rows` (SQL
    statements); `check(migrator)` is called before the connection closes. The store is closed after."""
    from artiflow.client.context import clear_cache
    from artiflow.metadata import schema

    conn = meta._connect()  # the backend's own connection: the store itself would migrate it to the latest
    try:
        migrator = schema.Migrator(conn, meta.dialect)
        conn.execute(meta.dialect.ddl(schema.VERSION_TABLE))
        for migration in (m for m in schema.MIGRATIONS if m.version <= version):
            migration.apply(migrator)
            migrator.execute("INSERT INTO schema_version (version, what, applied_at) VALUES (?, ?, 0)",
                             (migration.version, migration.what))
        for statement in (*OLD_RUN, *rows):
            migrator.execute(statement)
        if check is not None:
            check(migrator)
    finally:
        conn.close()
    meta.close()
    clear_cache()
