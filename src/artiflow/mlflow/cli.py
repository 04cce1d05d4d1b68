"""`artiflow mlflow export PATHSPEC`: mirror a past run to MLflow."""

from __future__ import annotations

from typing import Any

import click

from ..cli.errors import friendly_errors
from ..client.pathspec import InvalidPathspec, quoted, split


@click.group("mlflow", help="Mirror artiflow runs to MLflow (needs artiflow[mlflow]).")
def mlflow_group() -> None:
    """The `artiflow mlflow` commands."""


@mlflow_group.command("export", help="Mirror a finished run to MLflow: an MLflow run with its parameters, tags, "
                                     "metrics and status. PATHSPEC is Flow/run, or Flow for its latest run. "
                                     "Exporting again updates the same MLflow run (found by its artiflow.pathspec "
                                     "tag) and adds only what it lacks.")
@click.argument("pathspec")
@click.option("--tracking-uri", default=None, metavar="URI",
              help="The MLflow tracking server, e.g. http://127.0.0.1:5000 (default: ARTIFLOW_MLFLOW_TRACKING_URI, "
                   "else MLFLOW_TRACKING_URI).")
@click.option("--experiment", default=None, metavar="NAME",
              help="The MLflow experiment (default: ARTIFLOW_MLFLOW_EXPERIMENT, else the flow's name).")
@friendly_errors
def export_command(pathspec: str, tracking_uri: str | None, experiment: str | None) -> None:
    from ..client.context import using_namespace
    from .export import export_run
    from .settings import import_client, resolve

    settings = resolve(tracking_uri, experiment, ("--tracking-uri", "--experiment"), "artiflow mlflow export")
    import_client()  # MLflow installed, or say how to install it before anything else
    with using_namespace(None):
        done = export_run(run_for(pathspec), settings)
    click.echo(done.summary())


def run_for(pathspec: str) -> Any:
    """The client Run that PATHSPEC (Flow/run, or Flow for its latest run) names."""
    from ..client import Flow, Run
    from ..exceptions import NotFound

    parts = split(pathspec)
    if len(parts) == 1:
        latest = Flow(parts[0]).latest_run
        if latest is None:
            raise NotFound(f"Flow {parts[0]} has no run to export yet.")
        return latest
    if len(parts) != 2:
        raise InvalidPathspec(f"{quoted(pathspec)} is not a run: give Flow/run (e.g. TrainFlow/3) or Flow for its "
                              f"latest run; a run is exported whole, with every task's metrics.")
    return Run(pathspec)


def register(group: click.Group) -> None:
    """Add `mlflow` to the `artiflow` command group."""
    group.add_command(mlflow_group)
