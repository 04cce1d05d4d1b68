"""What differs between the SQL engines the metadata store runs on, as one small value per engine.

The core (metadata.sql) writes its statements once, with `?` placeholders and a few `{tokens}`, and
its DDL with SQLite's type names; a Dialect turns both into its engine's SQL. Upserts and
insert-or-ignore are not here: `INSERT ... ON CONFLICT (...) DO UPDATE/NOTHING` and `RETURNING` are
the same on SQLite (3.35+) and PostgreSQL (9.5+), so the core writes them once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    """One engine's SQL: placeholders, how a write transaction begins, DDL types and a few clauses.

    `order_column` gives the rows of task_metadata and task_reads in insertion order (SQLite's
    `rowid`; elsewhere a column declared by `order_column_ddl`). `cache_index_hint` follows
    `FROM tasks` in the step-cache lookup. `lock_row` follows a SELECT whose row must stay locked
    until commit. `schema_lock` is run first in the transaction that migrates the schema, when
    beginning a write transaction does not already keep other processes out. `uncompressed` stores a
    BLOB column as is, where the engine would compress large values (packed floats do not compress).
    `lock_table` keeps other transactions from writing a table until this one ends (SQLite's write
    transactions already exclude every other writer).
    """

    name: str
    placeholder: str = "?"
    begin_write: str = "BEGIN"
    types: tuple[tuple[str, str], ...] = ()
    order_column: str = "rowid"
    order_column_ddl: str = ""
    cache_index_hint: str = ""
    greatest: str = "GREATEST"
    lock_row: str = ""
    schema_lock: str | None = None
    uncompressed: str | None = None  # keeps {table}.{column} (a BLOB) out of the engine's compression
    lock_table: str | None = None  # keeps writers out of {table} until commit, where a write transaction does not

    def tokens(self) -> dict[str, str]:
        """The `{token}` values the core's statements name."""
        return {"{order}": self.order_column, "{cache_index_hint}": self.cache_index_hint,
                "{greatest}": self.greatest, "{lock_row}": self.lock_row}

    def sql(self, text: str) -> str:
        """A core statement in this engine's SQL: its tokens filled in, `?` turned into the placeholder."""
        for token, value in self.tokens().items():
            text = text.replace(token, value)
        if self.placeholder != "?":
            text = text.replace("%", "%%").replace("?", self.placeholder)
        return text

    def ddl(self, text: str) -> str:
        """A core CREATE statement with this engine's column types (and its insertion-order column)."""
        for core, own in self.types:
            text = re.sub(rf"\b{core}\b", own, text)
        return self.sql(text.replace("{order_column}", self.order_column_ddl))
