"""A task's metrics in a card: one line chart per metric name with its latest, lowest and highest values.

The x axis is the metric's step when every point of it has one, else the order the points were logged.
Long series are downsampled for drawing (min/max per pixel column, so spikes stay) and the chart says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from . import svgplot
from .base import MetaflowCardComponent
from .page import esc, table_html

MAX_METRICS = 50          # charts in one card; the others are listed by name
DEFAULT_BUCKETS = svgplot.WIDTH - svgplot.PAD_L - svgplot.PAD_R   # one per pixel column of the plot


@dataclass(frozen=True)
class Point:
    """One logged value: name, value (NaN allowed), step (or None) and when it was logged."""

    name: str
    value: float
    step: int | None
    timestamp: float


def as_points(records: Iterable[Any]) -> list[Point]:
    """Points from metric records (objects with name/value/step/timestamp) or (name, value, step, time) tuples."""
    points = []
    for rec in records:
        if isinstance(rec, tuple):
            name, value, step, stamp = rec[:4]
        else:
            name, value, step = rec.name, rec.value, rec.step
            stamp = getattr(rec, "timestamp", None)
            stamp = stamp.timestamp() if hasattr(stamp, "timestamp") else stamp
        points.append(Point(str(name), float(value), step, float(stamp or 0.0)))
    return points


def by_name(points: Iterable[Point]) -> dict[str, list[Point]]:
    """The points of each metric name, in the order they were logged (names in first-logged order)."""
    grouped: dict[str, list[Point]] = {}
    for point in points:
        grouped.setdefault(point.name, []).append(point)
    return grouped


@dataclass
class MetricSummary:
    """What is shown beside a chart."""

    count: int
    nan_count: int
    latest: float
    lowest: float | None
    highest: float | None


def summarize(points: list[Point]) -> MetricSummary:
    """Count, NaN count, the value logged last, and the lowest and highest values that are not NaN."""
    finite = [p.value for p in points if not math.isnan(p.value)]
    return MetricSummary(len(points), len(points) - len(finite), points[-1].value,
                         min(finite) if finite else None, max(finite) if finite else None)


def xy(points: list[Point]) -> tuple[list[tuple[float, float]], str]:
    """(x, y) pairs in x order and the x axis' label: the step when every point has one, else log order."""
    if all(p.step is not None for p in points):
        pairs = sorted(((float(p.step), p.value) for p in points), key=lambda pair: pair[0])
        return pairs, "step"
    return [(float(i), p.value) for i, p in enumerate(points)], "order logged"


def _value(v: float | None) -> str:
    return "-" if v is None else ("NaN" if math.isnan(v) else f"{v:.6g}")


def _summary_table(summary: MetricSummary) -> str:
    rows = [["latest", _value(summary.latest)], ["min", _value(summary.lowest)], ["max", _value(summary.highest)],
            ["points", f"{summary.count:,}"]]
    if summary.nan_count:
        rows.append(["NaN", f"{summary.nan_count:,} (gaps in the line)"])
    return table_html(None, rows)


def chart_html(names: list[str], grouped: dict[str, list[Point]], buckets: int = DEFAULT_BUCKETS,
               title: str | None = None) -> str:
    """One figure: the named metrics as lines of one plot, each metric's summary beside it."""
    series, notes, tables, x_label = [], [], [], None
    for name in names:
        pairs, label = xy(grouped[name])
        x_label = label if x_label in (None, label) else "step, or order logged"
        drawn = svgplot.downsample(pairs, buckets)
        series.append(svgplot.Series(name, drawn))
        if len(drawn) < len(pairs):
            notes.append(f"{esc(name)}: {len(pairs):,} points, {sum(p is not None for p in drawn):,} drawn "
                         "(the lowest and highest of each pixel column, so spikes show)")
        heading = f"<h4>{esc(name)}</h4>" if len(names) > 1 else ""
        tables.append(heading + _summary_table(summarize(grouped[name])))
    heading = title or ", ".join(names)
    plot = svgplot.LinePlot(series, x_label=x_label or "step", y_label=names[0] if len(names) == 1 else "")
    note = "".join(f'<p class="af-muted af-downsampled">{n}</p>' for n in notes)
    return (f'<figure class="af-metric" data-metric="{esc(heading)}"><h3>{esc(heading)}</h3>'
            f'<div class="af-metric-row">{plot.svg()}<div class="af-metric-summary">{"".join(tables)}</div></div>'
            f"{note}</figure>")


def metrics_section(records: Iterable[Any]) -> list[str]:
    """The default card's Metrics section: a chart per metric name; nothing at all when there are none."""
    grouped = by_name(as_points(records))
    if not grouped:
        return []
    names = list(grouped)
    body = ["<h2>Metrics</h2>", '<section class="af-metrics">']
    body += [chart_html([name], grouped) for name in names[:MAX_METRICS]]
    if len(names) > MAX_METRICS:
        rest = ", ".join(f"<code>{esc(n)}</code>" for n in names[MAX_METRICS:])
        body.append(f'<p class="af-muted">{len(names) - MAX_METRICS} more metrics are not drawn: {rest}. '
                    "Read them with task.metrics or `artiflow metrics`.</p>")
    return body + ["</section>"]


class MetricsChart(MetaflowCardComponent):
    """Metrics as a line chart in a card: `MetricsChart(records, names=None, title=None)`.

    `records` are metric records (e.g. `task.metrics` of a task read with the client) or
    (name, value, step, timestamp) tuples; `names` picks the metrics drawn together, in one plot.
    """

    REALTIME_UPDATABLE = True

    def __init__(self, records: Iterable[Any] = (), names: list[str] | None = None, title: str | None = None) -> None:
        self.records, self.names, self.title = list(records), names, title

    def update(self, records: Iterable[Any]) -> None:
        """Replace the records drawn."""
        self.records = list(records)

    def render(self) -> str:
        grouped = by_name(as_points(self.records))
        names = list(self.names) if self.names else list(grouped)
        missing = [n for n in names if n not in grouped]
        if missing or not names:
            known = ", ".join(grouped) or "none"
            what = f"no points for {', '.join(missing)}" if missing else "no metric points were given"
            return (f'<div class="af-error"><h3>MetricsChart</h3><p>{esc(what)} (metrics given: {esc(known)}).'
                    "</p></div>")
        return chart_html(names, grouped, title=self.title)
