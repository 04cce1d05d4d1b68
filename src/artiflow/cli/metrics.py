"""`artiflow metrics PATHSPEC [--name N] [--format table|csv|json]`: the metric points of a run, step or task.

PATHSPEC is Flow (its latest run), Flow/run, Flow/run/step or Flow/run/step/task. Like the other inspect
commands it sees every namespace. Each task shows its latest attempt that logged points.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime

import click

from ..client import Flow, Run, Step, Task
from ..client.context import listing, using_namespace
from ..client.metrics import MetricSet
from ..client.pathspec import InvalidPathspec, quoted, split
from ..exceptions import NotFound
from .errors import friendly_errors
from .inspect import table

FORMATS = ("table", "csv", "json")
CSV_COLUMNS = ("pathspec", "attempt", "name", "step", "value", "timestamp")


def metric_set(pathspec: str, name: str | None) -> MetricSet:
    """The points PATHSPEC names (one metric if `name`); a clear error when there are none."""
    parts = split(pathspec)
    if len(parts) == 5:
        raise InvalidPathspec(f"{quoted(pathspec)} names an artifact; metrics belong to tasks: give Flow, "
                              f"Flow/run, Flow/run/step or Flow/run/step/task, e.g. {'/'.join(parts[:4])}.")
    owner = _owner("/".join(parts))
    found = owner.metrics if isinstance(owner, Task) else owner.metrics(name)
    if isinstance(owner, Task) and name is not None:
        found = found.named(name)
    if len(found):
        return found
    if name is None:
        raise NotFound(f"{_describe(owner)} has no metrics. A step records some with "
                       f"self.log_metric(name, value, step=None).")
    every = owner.metrics if isinstance(owner, Task) else owner.metrics()
    raise NotFound(f"{_describe(owner)} has no metric named {quoted(name)}; its metrics: {listing(every.names)}.")


def _owner(pathspec: str) -> Run | Step | Task:
    """The run, step or task of a pathspec; a flow's latest run."""
    parts = pathspec.split("/")
    if len(parts) == 1:
        run = Flow(pathspec).latest_run
        if run is None:
            raise NotFound(f"Flow {pathspec} has no runs.")
        return run
    return (Run, Step, Task)[len(parts) - 2](pathspec)


def _describe(owner: Run | Step | Task) -> str:
    return f"{type(owner).__name__} {owner.pathspec}"


def _number(value: float) -> str:
    """A value for people: 6 significant digits (nan, inf as such)."""
    return f"{value:.6g}"


def _moment(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def as_table(points: MetricSet) -> str:
    """Aligned columns: TASK (step/id), ATTEMPT, NAME, STEP, VALUE, TIME (local)."""
    rows = [[f"{p.step_name}/{p.task_id}", p.attempt, p.name, "-" if p.step is None else p.step, _number(p.value),
             _moment(p.timestamp)] for p in points]
    return "\n".join(table(["TASK", "ATTEMPT", "NAME", "STEP", "VALUE", "TIME"], rows))


def as_csv(points: MetricSet) -> str:
    """CSV with a header: pathspec, attempt, name, step (empty for none), value (nan, inf as Python writes them), timestamp."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in points:
        writer.writerow([p.pathspec, p.attempt, p.name, "" if p.step is None else p.step, repr(p.value),
                         repr(p.timestamp)])
    return out.getvalue().rstrip("\n")


def _json_value(value: float) -> float | str:
    """Non-finite values as the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers)."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def as_json(points: MetricSet) -> str:
    """A JSON array, one object per point per line."""
    lines = []
    for point in points.to_dicts():
        point["value"] = _json_value(point["value"])
        lines.append(json.dumps(point, allow_nan=False))
    return "[\n" + ",\n".join(lines) + "\n]" if lines else "[]"


RENDER = {"table": as_table, "csv": as_csv, "json": as_json}


@click.command("metrics", help="Show the metric points (self.log_metric) of a run, step or task: PATHSPEC is "
                               "Flow (its latest run), Flow/run, Flow/run/step or Flow/run/step/task.")
@click.argument("pathspec")
@click.option("--name", "name", default=None, help="Only this metric.")
@click.option("--format", "form", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for reading, csv or json for tools.")
@friendly_errors
def metrics_command(pathspec: str, name: str | None, form: str) -> None:
    with using_namespace(None):
        points = metric_set(pathspec, name)
    click.echo(RENDER[form](points))


def register(group: click.Group) -> None:
    """Add `metrics` to the `artiflow` command group."""
    group.add_command(metrics_command)
