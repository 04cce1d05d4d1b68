"""Line plots as inline SVG, drawn in Python so a card opens offline: nice axis ticks, several series,
gaps where a value is NaN, and min/max-per-pixel downsampling so 100,000 points stay a small card.

A series is a list of (x, y) points in x order; y may be NaN (a gap in the line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from .page import esc

WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T, PAD_R = 560, 260, 64, 40, 16, 16
PALETTE = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6"]
GAP = None  # marks a break in a downsampled series (a NaN was logged there)


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """About `count` round tick values (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi]; whole numbers
    only when `integer` (an axis of steps: no tick at 2.5)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    if integer:
        steps = [step for step in (m * max(power, 1) for m in (1, 2, 5, 10)) if step == int(step)]
        options = [ticks_between(lo, hi, step) for step in steps]
        return min(options, key=lambda ticks: abs(len(ticks) - count))

    options = [ticks_between(lo, hi, m * power) for m in (1, 2, 2.5, 5, 10)]
    return min(options, key=lambda ticks: abs(len(ticks) - count))   # the first (finest) of equally good ones


def ticks_between(lo: float, hi: float, step: float) -> list[float]:
    """The multiples of `step` within [lo, hi]."""
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def fmt(v: float) -> str:
    """A tick or value label: short, and exact for small integers."""
    if v == 0:
        return "0"
    if v == int(v) and abs(v) < 1e7:
        return f"{int(v):,}"
    if abs(v) >= 1e7 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


def _flush(out: list, chunk: list[tuple[float, float]]) -> None:
    """Keep a bucket's first, lowest, highest and last points, in x order (the line looks the same)."""
    if len(chunk) <= 4:
        out.extend(chunk)
        return
    low = min(range(len(chunk)), key=lambda i: chunk[i][1])
    high = max(range(len(chunk)), key=lambda i: chunk[i][1])
    out.extend(chunk[i] for i in sorted({0, low, high, len(chunk) - 1}))


def downsample(points: Sequence[tuple[float, float]], buckets: int) -> list:
    """At most about 4 points per x bucket (one bucket per pixel), spikes kept; NaN values become GAP marks."""
    if len(points) <= 4 * buckets:
        return [GAP if math.isnan(y) else (x, y) for x, y in points]
    xlo, xhi = points[0][0], points[-1][0]
    scale = buckets / (xhi - xlo) if xhi > xlo else 0.0
    out: list = []
    chunk: list[tuple[float, float]] = []
    bucket = None
    for x, y in points:
        b = min(int((x - xlo) * scale), buckets - 1)
        if b != bucket:
            _flush(out, chunk)
            chunk, bucket = [], b
        if math.isnan(y):
            _flush(out, chunk)
            chunk = []
            if out and out[-1] is not GAP:
                out.append(GAP)
            continue
        chunk.append((x, y))
    _flush(out, chunk)
    return out


@dataclass
class Series:
    """One line: a name for the legend and its points (already downsampled: (x, y) tuples and GAP marks)."""

    name: str
    points: list
    color: str = ""


@dataclass
class LinePlot:
    """A line plot of one or more series with labelled axes; `svg()` draws it."""

    series: list[Series]
    x_label: str = "x"
    y_label: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    title: str = ""
    _box: tuple = field(default=(0.0, 1.0, 0.0, 1.0), repr=False)

    def _extent(self) -> tuple[float, float, float, float]:
        xs = [p[0] for s in self.series for p in s.points if p is not GAP]
        ys = [p[1] for s in self.series for p in s.points if p is not GAP]
        if not xs:
            return 0.0, 1.0, 0.0, 1.0
        xlo, xhi, ylo, yhi = min(xs), max(xs), min(ys), max(ys)
        if xhi <= xlo:
            xlo, xhi = xlo - 0.5, xhi + 0.5
        pad = (yhi - ylo) * 0.04 if yhi > ylo else abs(ylo) * 0.1 or 1.0
        return xlo, xhi, ylo - pad, yhi + pad

    def _sx(self, x: float) -> float:
        xlo, xhi, _, _ = self._box
        return PAD_L + (x - xlo) / (xhi - xlo) * (self.width - PAD_L - PAD_R)

    def _sy(self, y: float) -> float:
        _, _, ylo, yhi = self._box
        plot_h = self.height - PAD_T - PAD_B
        return PAD_T + plot_h - (y - ylo) / (yhi - ylo) * plot_h

    def _axes(self) -> list[str]:
        xlo, xhi, ylo, yhi = self._box
        bottom, right = self.height - PAD_B, self.width - PAD_R
        parts = [f'<rect x="{PAD_L}" y="{PAD_T}" width="{right - PAD_L}" height="{bottom - PAD_T}" '
                 'fill="none" stroke="#d1d9e0"/>']
        for v in nice_ticks(ylo, yhi):
            py = self._sy(v)
            parts.append(f'<line x1="{PAD_L}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" stroke="#eef1f4"/>'
                         f'<text x="{PAD_L - 6}" y="{py + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
        for v in nice_ticks(xlo, xhi, 6, integer=True):  # steps, or the order logged: whole numbers
            px = self._sx(v)
            parts.append(f'<line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 4}" stroke="#888"/>'
                         f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle">{fmt(v)}</text>')
        parts.append(f'<text x="{(PAD_L + right) / 2:.0f}" y="{self.height - 6}" text-anchor="middle" '
                     f'class="af-axis-label">{esc(self.x_label)}</text>')
        if self.y_label:
            mid = (PAD_T + bottom) / 2
            parts.append(f'<text x="14" y="{mid:.0f}" text-anchor="middle" transform="rotate(-90 14 {mid:.0f})" '
                         f'class="af-axis-label">{esc(self.y_label)}</text>')
        return parts

    def _lines(self, series: Series, color: str) -> list[str]:
        parts, run = [], []
        for point in [*series.points, GAP]:
            if point is not GAP:
                run.append(f"{self._sx(point[0]):.1f},{self._sy(point[1]):.1f}")
                continue
            if len(run) == 1:   # a value alone between gaps: a dot, or it would not show
                x, y = run[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{color}"/>')
            elif run:
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" '
                             'stroke-width="2" stroke-linejoin="round"/>')
            run = []
        return parts

    def _legend(self) -> list[str]:
        if len(self.series) < 2:
            return []
        parts = []
        for idx, s in enumerate(self.series):
            y = PAD_T + 6 + idx * 14
            parts.append(f'<rect x="{self.width - PAD_R - 120}" y="{y}" width="10" height="10" fill="{s.color}"/>'
                         f'<text x="{self.width - PAD_R - 106}" y="{y + 9}">{esc(s.name[:18])}</text>')
        return parts

    def svg(self) -> str:
        """The plot as an <svg> element."""
        self._box = self._extent()
        for idx, s in enumerate(self.series):
            s.color = s.color or PALETTE[idx % len(PALETTE)]
        parts = self._axes()
        for s in self.series:
            parts += self._lines(s, s.color)
        parts += self._legend()
        label = esc(self.title or ", ".join(s.name for s in self.series))
        return (f'<svg class="af-lineplot" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}" role="img" aria-label="{label}">{"".join(parts)}</svg>')
