"""A task's metric points as chart series: one chart per metric name, one line per attempt that logged it.

Points are read as columns (metadata `task_metric_series`: no object per point) and sent as columns
(`x`, `y`; the page's script pairs them for ECharts), so 100,000 points cost milliseconds, not seconds.
x is the metric's own step when every point of the line has one, else the point's index (`x` is then
null); values that are not finite (NaN, infinities) become gaps (JSON has no NaN) and are counted.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..metadata.metric_series import NO_STEP

if TYPE_CHECKING:
    from ..metadata.metric_series import MetricSeries
    from .task_lookup import FoundTask


def metric_charts(found: FoundTask) -> list[dict[str, Any]]:
    """[{name, series: [{attempt, axis, x, y, nan, inf}]}] by name, each attempt that logged the name a series."""
    charts: dict[str, list[dict[str, Any]]] = {}
    for series in found.ctx.meta.task_metric_series(*found.key):
        charts.setdefault(series.name, []).append(_line(series))
    return [{"name": name, "series": charts[name]} for name in sorted(charts)]


def _line(series: MetricSeries) -> dict[str, Any]:
    """One attempt's line of one metric, as columns."""
    by_step = NO_STEP not in series.steps
    values = series.values
    finite = [value if math.isfinite(value) else None for value in values]
    nan = sum(1 for value in values if value != value)
    bad = finite.count(None)
    return {"attempt": series.attempt, "axis": "step" if by_step else "index",
            "x": series.steps.tolist() if by_step else None, "y": finite, "nan": nan, "inf": bad - nan}
