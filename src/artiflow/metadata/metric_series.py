"""How metric points are kept in the metrics table: one row per (task attempt, metric name, part), arrays packed.

A task that logs 100,000 points writes a row per metric name (a part holds up to PART_POINTS points)
instead of 100,000 rows: recording it costs milliseconds on SQLite and PostgreSQL alike, and reading it
back is one small query. Each row holds four little-endian arrays of the same length: positions (the
index of each point in its attempt's log, to merge the names back in logged order), steps (int64,
NO_STEP for none), values (float64: NaN and infinities kept exactly) and timestamps (float64 epoch s).
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass
from typing import Iterator, Sequence

from .records import MetricRecord

PART_POINTS = 100_000        # points per row at most
NO_STEP = -(2 ** 63)         # a point logged without a step (log_metric refuses this step value)
SERIES_COLUMNS = "name, part, points, positions, steps, metric_values, stamps"
SWAP = sys.byteorder != "little"


def _packed(kind: str, items: Sequence) -> bytes:
    data = array(kind, items)
    if SWAP:
        data.byteswap()
    return data.tobytes()


def _unpacked(kind: str, blob: bytes) -> array:
    data = array(kind)
    data.frombytes(blob)
    if SWAP:
        data.byteswap()
    return data


def _take(items: Sequence, chosen: Sequence[int]) -> Sequence:
    """items[i] for i in chosen (a slice when chosen is a range)."""
    return items[chosen.start:chosen.stop] if isinstance(chosen, range) else [items[i] for i in chosen]


def columns(points: Sequence[tuple]) -> tuple[Sequence, Sequence, Sequence, Sequence]:
    """(names, values, steps, timestamps) of points: MetricPoints' own lists, or a sequence of 4-tuples transposed."""
    if hasattr(points, "stamps"):
        return points.names, points.values, points.steps, points.stamps  # type: ignore[attr-defined]
    return tuple(zip(*points))  # type: ignore[return-value]


def pack(points: Sequence[tuple]) -> list[tuple]:
    """Rows (SERIES_COLUMNS order) of an attempt's points: (name, value, step, timestamp) each, in logged order."""
    names, values, steps, stamps = columns(points)
    steps = [NO_STEP if s is None else s for s in steps]
    if len(set(names)) == 1:
        groups = {names[0]: range(len(names))}
    else:
        groups = {}
        for at, name in enumerate(names):
            groups.setdefault(name, []).append(at)
    rows = []
    for name, where in groups.items():
        for part, start in enumerate(range(0, len(where), PART_POINTS)):
            chosen = where[start:start + PART_POINTS]
            rows.append((name, part, len(chosen), _packed("q", chosen), _packed("q", _take(steps, chosen)),
                         _packed("d", _take(values, chosen)), _packed("d", _take(stamps, chosen))))
    return rows


def unpack(pathspec: str, attempt: int, rows: Sequence[tuple]) -> list[MetricRecord]:
    """The MetricRecords of one attempt's rows (SERIES_COLUMNS order), in the order they were logged."""
    if len(rows) == 1:
        return list(_records(pathspec, attempt, rows[0]))
    keyed: list[tuple[int, MetricRecord]] = []
    for row in rows:
        keyed.extend(zip(_unpacked("q", row[3]), _records(pathspec, attempt, row)))
    keyed.sort(key=lambda pair: pair[0])
    return [record for _, record in keyed]


def _records(pathspec: str, attempt: int, row: tuple) -> Iterator[MetricRecord]:
    name, _part, _count, _positions, steps, values, stamps = row
    for step, value, stamp in zip(_unpacked("q", steps), _unpacked("d", values), _unpacked("d", stamps)):
        yield MetricRecord(name, value, None if step == NO_STEP else step, stamp, pathspec, attempt)


@dataclass(frozen=True)
class MetricSeries:
    """One metric of one task attempt as columns, in logged order: `steps` (NO_STEP for none) and `values`."""

    attempt: int
    name: str
    steps: array
    values: array


def series_of(attempt: int, name: str, rows: Sequence[tuple]) -> MetricSeries:
    """The series of one (attempt, name) from its rows (SERIES_COLUMNS order) in part order: no record per point."""
    steps, values = array("q"), array("d")
    for row in rows:
        steps.extend(_unpacked("q", row[4]))
        values.extend(_unpacked("d", row[5]))
    return MetricSeries(attempt, name, steps, values)
