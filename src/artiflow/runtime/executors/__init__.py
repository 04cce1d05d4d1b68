"""Executors: where task attempts run. Local forked processes by default; Dask distributed for a cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...exceptions import ConfigError
from .base import Executor, Finished, OutputCallback, RunInfo

if TYPE_CHECKING:
    from ..work import TaskWork

EXECUTORS = ("local", "dask")


def open_executor(name: str, info: RunInfo, work: TaskWork, on_output: OutputCallback,
                  dask_scheduler: str | None = None) -> Executor:
    """The executor called `name` for this run (a remote one is imported only when asked for)."""
    if name == "local":  # steps marked @batch/@kubernetes still go to the Dask cluster (routing.py)
        from .routing import open_local

        return open_local(work, info, on_output, dask_scheduler)
    if name == "dask":
        from .dask import DaskExecutor

        return DaskExecutor(dask_scheduler, info, on_output)
    raise ConfigError(f"--executor {name}: there is no such executor; use one of: {', '.join(EXECUTORS)}.")


__all__ = ["EXECUTORS", "Executor", "Finished", "OutputCallback", "RunInfo", "open_executor"]
