"""Mirror a past run to MLflow from what artiflow recorded: `artiflow mlflow export Flow/run`.

Exporting is idempotent: the MLflow run is found again by its `artiflow.pathspec` tag and only what it
lacks is added (metric points it does not have, params, tags, the final status), so exporting twice,
or after a live mirror that stopped half-way, leaves one complete MLflow run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..exceptions import CommandError
from .mapping import MirroredRun, metric_rows, mlflow_status, param_values, run_tags, task_tag
from .mirror import run_points
from .settings import MlflowSettings, checked_client, first_line
from .tracker import ExperimentDeleted, Tracker


@dataclass
class Exported:
    """What an export did: the MLflow run (new or found again), and how many points it sent or found there."""

    pathspec: str
    experiment: str
    run_id: str
    url: str
    created: bool
    sent: int
    present: int
    params: int

    def summary(self) -> str:
        what = "into a new MLflow run" if self.created else "into its existing MLflow run"
        already = f", {self.present} already there" if self.present else ""
        return (f"Exported {self.pathspec} {what} {self.run_id} of experiment {self.experiment!r}: "
                f"{self.sent} metric points sent{already}, {self.params} params.\n{self.url}")


def mirrored_run(run: Any) -> MirroredRun:
    """The facts of a client Run the mirror shows in MLflow."""
    return MirroredRun(run.flow_name, int(run.id), run.user, sorted(run.user_tags), dict(run.parameters),
                       run.origin_pathspec, run.created_at.timestamp())


def export_run(run: Any, settings: MlflowSettings) -> Exported:
    """Mirror a finished client Run to MLflow; a CommandError says what went wrong (the server, the experiment)."""
    if run.status == "running":
        raise CommandError(f"Run {run.pathspec} is still running: export it once it has ended, or start runs with "
                           f"--mlflow to mirror them as they run.")
    facts = mirrored_run(run)
    tracker = Tracker(checked_client(settings), settings.tracking_uri)
    experiment = settings.experiment_for(facts.flow)
    try:
        return _export(tracker, run, facts, experiment)
    except ExperimentDeleted as exc:
        raise CommandError(f"Cannot export {facts.pathspec}: {exc} (--experiment).") from None
    except CommandError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow's errors (connection, HTTP, store) become one message
        raise CommandError(f"Cannot export {facts.pathspec} to MLflow at {settings.tracking_uri} (from "
                           f"{settings.source}): {first_line(exc)}. Check that the server runs there (e.g. "
                           f"`mlflow server --host 127.0.0.1 --port 5000`) and that the URI is right.") from None


def _export(tracker: Tracker, run: Any, facts: MirroredRun, experiment: str) -> Exported:
    experiment_id = tracker.experiment_id(experiment)
    run_id = tracker.find_run(experiment_id, facts.pathspec)
    created = run_id is None
    if run_id is None:
        run_id = tracker.create_run(experiment_id, facts, "export")
    else:  # e.g. a live mirror that stopped before its params: MLflow takes a param again with the same value
        tracker.log(run_id, params=param_values(facts), tags=run_tags(facts, "export"))
    tasks = run_points(run)
    rows = [row for task in tasks for row in metric_rows(task.prefix, task.points)]
    missing = rows if created else tracker.missing(run_id, rows)
    tracker.log(run_id, metrics=missing, tags={task_tag(task.prefix): task.pathspec for task in tasks})
    end = run.finished_at.timestamp() if run.finished_at is not None else None
    tracker.finish(run_id, mlflow_status(run.status), int(end * 1000) if end is not None else None)
    return Exported(facts.pathspec, experiment, run_id, tracker.run_url(experiment_id, run_id), created,
                    len(missing), len(rows) - len(missing), len(facts.params))
