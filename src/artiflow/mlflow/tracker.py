"""The few MLflow calls a mirror makes, over an MlflowClient: experiment, run, batched logging, final status.

Every batch respects MLflow's log_batch limits (1,000 metrics, 100 params and tags per call).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Iterator, Mapping, Sequence, TypeVar

from .mapping import MAX_METRICS_PER_CALL, MAX_PARAMS_TAGS_PER_CALL, MirroredRun, chunks, param_values, run_tags

MetricRow = tuple  # (key, value, timestamp in ms, step)
T = TypeVar("T")
U = TypeVar("U")


class ExperimentDeleted(Exception):
    """The experiment exists in MLflow but is deleted: MLflow will not log into it."""


class Tracker:
    """One MLflow tracking server (or store) as a mirror uses it."""

    def __init__(self, client: Any, tracking_uri: str) -> None:
        self.client = client
        self.tracking_uri = tracking_uri

    def experiment_id(self, name: str) -> str:
        """The id of the experiment of this name, made when missing."""
        found = self.client.get_experiment_by_name(name)
        if found is None:
            return self.client.create_experiment(name)
        if found.lifecycle_stage == "deleted":
            raise ExperimentDeleted(f"the MLflow experiment {name!r} is deleted: restore it (`mlflow experiments "
                                    f"restore --experiment-id {found.experiment_id}`) or choose another name")
        return found.experiment_id

    def find_run(self, experiment_id: str, pathspec: str) -> str | None:
        """The id of the (not deleted) MLflow run mirroring this artiflow run, if there is one."""
        runs = self.client.search_runs([experiment_id], filter_string=f"tags.`artiflow.pathspec` = '{pathspec}'",
                                       max_results=1)
        return runs[0].info.run_id if runs else None

    def create_run(self, experiment_id: str, run: MirroredRun, how: str) -> str:
        """A new MLflow run for the artiflow run, with its tags and params; returns its id."""
        start = int(run.started_at * 1000) if run.started_at is not None else None
        made = self.client.create_run(experiment_id, start_time=start, tags=run_tags(run, how), run_name=run.pathspec)
        self.log(made.info.run_id, params=param_values(run))  # the tags came with it: export finds it by them
        return made.info.run_id

    def log(self, run_id: str, metrics: Sequence[MetricRow] = (), params: Mapping[str, str] | None = None,
            tags: Mapping[str, str] | None = None) -> None:
        """Log metrics, params and tags in as few log_batch calls as MLflow's limits allow."""
        from mlflow.entities import Metric, Param, RunTag

        for part in chunks(list((params or {}).items()), MAX_PARAMS_TAGS_PER_CALL):
            self.client.log_batch(run_id, params=[Param(k, v) for k, v in part])
        for tag_part, metric_part in batches(list((tags or {}).items()), list(metrics)):
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tag_part],
                                  metrics=[Metric(key, value, when, step) for key, value, when, step in metric_part])

    def finish(self, run_id: str, status: str, end_ms: int | None) -> None:
        self.client.set_terminated(run_id, status=status, end_time=end_ms)

    def missing(self, run_id: str, rows: Iterable[MetricRow]) -> list[MetricRow]:
        """The rows MLflow does not have yet for this run (so that exporting again adds nothing twice)."""
        rows = list(rows)
        known: dict[str, set[tuple]] = {}
        for key in dict.fromkeys(row[0] for row in rows):
            known[key] = {_identity(m.value, m.timestamp, m.step) for m in self.client.get_metric_history(run_id, key)}
        return [row for row in rows if _identity(row[1], row[2], row[3]) not in known[row[0]]]

    def run_url(self, experiment_id: str, run_id: str) -> str:
        """Where a person sees the run: the UI's page for a server, else the store's URI and the run id."""
        if self.tracking_uri.startswith(("http://", "https://")):
            return f"{self.tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
        return f"{self.tracking_uri} (run {run_id})"


def batches(tags: Sequence[T], metrics: Sequence[U]) -> Iterator[tuple[Sequence[T], Sequence[U]]]:
    """(tags, metrics) of each log_batch call: at most 100 tags, and 1,000 entities in all, per call."""
    tag_parts = list(chunks(tags, MAX_PARAMS_TAGS_PER_CALL))
    start = 0
    for number in itertools.count():
        tag_part = tag_parts[number] if number < len(tag_parts) else ()
        room = MAX_METRICS_PER_CALL - len(tag_part)
        metric_part = metrics[start:start + room]
        if not tag_part and not metric_part:
            return
        yield tag_part, metric_part
        start += room


def _identity(value: float, timestamp: int, step: int) -> tuple:
    return ("nan" if math.isnan(value) else float(value), int(timestamp), int(step))
