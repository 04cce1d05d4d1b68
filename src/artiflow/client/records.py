"""What a task recorded besides artifacts: its attempts, the exception of an attempt, metadata entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple

from ..exceptions import ExceptionText
from .context import Context, to_datetime

if TYPE_CHECKING:
    from ..metadata.records import AttemptRecord


@dataclass(frozen=True)
class TaskException(ExceptionText):
    """The exception a task attempt raised: its type name, message and formatted traceback."""

    type: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


def exception_of(record: dict[str, Any] | None) -> TaskException | None:
    """The TaskException of a recorded exception, or None."""
    if not record:
        return None
    return TaskException(record.get("type", ""), record.get("message", ""), record.get("traceback", ""))


class Metadata(NamedTuple):
    """One metadata entry of a task, with Metaflow's field names (`created_at`: epoch milliseconds)."""

    name: str
    value: str
    created_at: int
    type: str
    task: Any


class Attempt:
    """One attempt of a task (a retry is a new attempt): status, times, logs and exception."""

    def __init__(self, row: AttemptRecord, ctx: Context) -> None:
        self._row = row
        self._ctx = ctx
        self.number: int = row.attempt
        self.status: str = row.status
        self.started_at = to_datetime(row.started_at)
        self.finished_at = to_datetime(row.finished_at)
        self.exception = exception_of(row.exception)

    @property
    def metrics(self) -> Any:
        """The metric points this attempt logged (a MetricSet), in order."""
        from .metrics import MetricSet

        row = self._row
        points = self._ctx.meta.metrics(row.flow, row.run_id, row.step, row.task_id, attempt=row.attempt)
        return MetricSet(points, f"{row.flow}/{row.run_id}/{row.step}/{row.task_id} attempt {row.attempt}")

    def _log_bytes(self, stream: str) -> bytes:
        from ..runtime.output import read_log  # a long log is stored as several blobs

        return read_log(self._ctx.store, self._row.stdout_key if stream == "stdout" else self._row.stderr_key)

    def _log(self, stream: str) -> str:
        return self._log_bytes(stream).decode("utf-8", errors="replace")

    @property
    def stdout(self) -> str:
        """What this attempt printed to stdout."""
        return self._log("stdout")

    @property
    def stderr(self) -> str:
        """What this attempt printed to stderr."""
        return self._log("stderr")

    def loglines(self, stream: str, as_unicode: bool = True) -> Iterator[tuple[datetime | None, Any]]:
        """(timestamp, line) pairs of one stream; the timestamp is the attempt's end (lines are not timed)."""
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"Unknown log stream {stream!r}: use 'stdout' or 'stderr'.")
        moment = self._row.finished_at or self._row.started_at
        stamp = None if moment is None else datetime.fromtimestamp(moment, timezone.utc).replace(tzinfo=None)
        data = self._log_bytes(stream)
        for line in data.splitlines():
            yield stamp, line.decode("utf-8", errors="replace") if as_unicode else line

    def _key(self) -> tuple:
        row = self._row
        return (row.flow, row.run_id, row.step, row.task_id, row.attempt, row.status, row.started_at,
                row.finished_at, row.stdout_key, row.stderr_key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Attempt) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<Attempt {self.number} {self.status}>"
