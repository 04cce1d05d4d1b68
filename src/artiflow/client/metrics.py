"""MetricSet: the metric points of a task, a step or a run, as a read-only list of MetricRecords.

`task.metrics`, `step.metrics()`, `run.metrics(name=None)` and `attempt.metrics` return one. Each
record has name, value, step (the metric's own step, or None), timestamp (epoch seconds), pathspec
(the task) and attempt. Points are ordered by task, then as they were logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Sequence, overload

from ..exceptions import ArtiflowException
from ..metadata.records import MetricRecord

if TYPE_CHECKING:
    import pandas

__all__ = ["MetricRecord", "MetricSet"]

COLUMNS = ("pathspec", "step_name", "task_id", "attempt", "name", "step", "value", "timestamp")


class MetricSet(Sequence[MetricRecord]):
    """Metric points, in order: index, slice, iterate; `.names`, `.latest(name)`, `.values(name)`, `.to_pandas()`.

    `where` names what the points belong to (a task, step or run pathspec), for messages and repr.
    """

    __slots__ = ("_records", "where")

    def __init__(self, records: list[MetricRecord], where: str = "") -> None:
        self._records = records
        self.where = where

    # -- a sequence --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> MetricRecord: ...

    @overload
    def __getitem__(self, index: slice) -> MetricSet: ...

    def __getitem__(self, index: int | slice) -> MetricRecord | MetricSet:
        if isinstance(index, slice):
            return MetricSet(self._records[index], self.where)
        return self._records[index]

    def __iter__(self) -> Iterator[MetricRecord]:
        return iter(self._records)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MetricSet):
            return self._records == other._records
        return isinstance(other, list) and self._records == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names = self.names
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        where = f" of {self.where}" if self.where else ""
        return f"<MetricSet{where}: {len(self)} points" + (f" of {shown}>" if names else ">")

    def _repr_html_(self) -> str:
        """How a notebook shows the points: a row per metric (points, last, min, max, a sparkline)."""
        from .display import metrics_html

        return metrics_html(self)

    # -- by name -----------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """The metric names, in the order they first appear."""
        return list(dict.fromkeys(r.name for r in self._records))

    def named(self, name: str) -> MetricSet:
        """The points of one metric (an empty set if there are none)."""
        return MetricSet([r for r in self._records if r.name == name], self.where)

    def values(self, name: str) -> list[float]:
        """The values of one metric, in order."""
        return [r.value for r in self._records if r.name == name]

    def latest(self, name: str) -> MetricRecord:
        """The last point logged of a metric (across tasks: the one with the latest timestamp)."""
        found = self.named(name)._records
        if not found:
            raise ArtiflowException(f"No metric named {name!r} in {self.where or 'these points'}; metrics: "
                                    f"{', '.join(self.names) or '(none)'}.")
        return max(found, key=lambda r: r.timestamp)

    # -- other forms -------------------------------------------------------------------------------
    def to_dicts(self) -> list[dict[str, Any]]:
        """The points as plain dicts (pathspec, attempt, name, step, value, timestamp)."""
        return [r.to_dict() for r in self._records]

    def to_pandas(self) -> pandas.DataFrame:
        """A DataFrame, a row per point: pathspec, step_name, task_id, attempt, name, step, value, timestamp (UTC)."""
        try:
            import pandas as pd
        except ImportError:
            raise ArtiflowException("MetricSet.to_pandas() needs pandas, which is not installed here: "
                                    "pip install pandas (or pip install 'artiflow[data]').") from None
        records = self._records
        frame = pd.DataFrame({
            "pathspec": [r.pathspec for r in records],
            "step_name": [r.step_name for r in records],
            "task_id": pd.array([r.task_id for r in records], dtype="int64"),
            "attempt": pd.array([r.attempt for r in records], dtype="int64"),
            "name": [r.name for r in records],
            "step": pd.array([r.step for r in records], dtype="Int64"),  # None stays missing
            "value": pd.array([r.value for r in records], dtype="float64"),
            "timestamp": pd.to_datetime([r.timestamp for r in records], unit="s", utc=True),
        }, columns=list(COLUMNS))
        return frame
