"""Artifact previews in the metadata store: one row per content key (table artifact_previews), JSON text each.

Part of the SQL core (metadata.sql.SQLMetadata inherits it). Written insert-or-ignore, in the batch that
records the attempt whose artifacts name them (the same content has the same preview, stored once);
read many at a time; deleted by gc's sweep once no artifact and no run parameter names their key.
Statements take a few fixed numbers of rows (a chunk is padded with its last row), so each has one text.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .records import refs_from_json

WRITE_SIZES = (1, 4, 16, 64)        # rows per insert statement (larger sets: several of 64)
READ_SIZES = (1, 16, 256, 4096)     # keys per read or delete (larger sets: several of 4,096)


def _insert(rows: int) -> str:
    values = ", ".join(["(?, ?)"] * rows)
    return f"INSERT INTO artifact_previews (key, preview) VALUES {values} ON CONFLICT (key) DO NOTHING"


def _chunks(items: Sequence[Any], sizes: Sequence[int]) -> Iterator[tuple[int, list[Any]]]:
    """Items in chunks of the given sizes: the largest while there are that many, then the smallest that holds
    the rest, padded with its last item (a repeated key is harmless: ignored on insert, found once on read)."""
    largest = sizes[-1]
    at = 0
    while at < len(items):
        chunk = list(items[at:at + largest])
        at += len(chunk)
        size = next(s for s in sizes if s >= len(chunk))
        yield size, chunk + [chunk[-1]] * (size - len(chunk))


def _in_list(size: int) -> str:
    return ", ".join(["?"] * size)


class PreviewQueries:
    """Writing, reading and sweeping previews (a mixin of the SQL core)."""

    dialect: Any

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        raise NotImplementedError

    def _write(self, statements: Iterable[tuple[str, tuple]]) -> None:
        raise NotImplementedError

    def _transaction(self, conn: Any = None) -> Any:
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        raise NotImplementedError

    def add_previews(self, previews: Mapping[str, str]) -> None:
        """Record previews (content key -> preview JSON text); a key that has one keeps it. In a batch: with it."""
        if not previews:
            return
        rows = list(previews.items())
        self._write([(_insert(size), tuple(value for row in chunk for value in row))
                     for size, chunk in _chunks(rows, WRITE_SIZES)])

    def previews(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The previews of these content keys, decoded; keys without one (or an unreadable one) are absent."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        for size, chunk in _chunks(wanted, READ_SIZES):
            sql = f"SELECT key, preview FROM artifact_previews WHERE key IN ({_in_list(size)})"
            for key, text in self._query(sql, tuple(chunk)):
                decoded = _decode(text)
                if decoded is not None:
                    found[key] = decoded
        return found

    def sweep_previews(self, without: dict[str, Iterable[int]] | None = None, dry_run: bool = False) -> int:
        """Delete the previews of keys no artifact and no run parameter names; how many (would) go.

        A dry run deletes nothing and counts as if the runs `without` names (flow -> run ids) were gone.
        Otherwise one write transaction reads the references and deletes, with writers of previews kept
        out (SQLite: any write transaction; PostgreSQL: a table lock), so a preview recorded with its
        artifacts meanwhile is never taken.
        """
        if dry_run:
            return len(_unreferenced(self._query, without))
        with self._transaction() as conn:
            if self.dialect.lock_table:
                conn.execute(self.dialect.lock_table.format(table="artifact_previews"))

            def query(sql: str, args: tuple = ()) -> list[tuple]:
                return conn.execute(self._sql(sql), args).fetchall()

            doomed = sorted(_unreferenced(query, None))
            for size, chunk in _chunks(doomed, READ_SIZES):
                conn.execute(self._sql(f"DELETE FROM artifact_previews WHERE key IN ({_in_list(size)})"), tuple(chunk))
        return len(doomed)


def _unreferenced(query: Any, without: dict[str, Iterable[int]] | None) -> set[str]:
    """Preview keys that no artifact and no run's parameters name (leaving out the records of `without`'s runs)."""
    dropped = {(flow, int(run_id)) for flow, ids in (without or {}).items() for run_id in ids}
    stored = {key for (key,) in query("SELECT key FROM artifact_previews")}
    if not stored:
        return set()
    for flow, run_id, key in query("SELECT DISTINCT flow, run_id, key FROM artifacts"):
        if (flow, run_id) not in dropped:
            stored.discard(key)
    for flow, run_id, refs in query("SELECT flow, run_id, param_refs FROM runs"):
        if (flow, run_id) not in dropped:
            stored.difference_update(ref.key for ref in refs_from_json(refs).values())
    return stored


def _decode(text: str) -> dict[str, Any] | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
