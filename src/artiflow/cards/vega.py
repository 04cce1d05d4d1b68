"""Draw simple Vega-Lite specs as inline SVG, in Python: a card must open with no network access.

Supported: inline `data.values`, marks bar / line / point (circle, square) / area, `x` and `y`
encodings (quantitative, nominal, ordinal, temporal as text), an optional nominal `color` field.
Anything else is shown as its JSON spec with a note, never as a broken chart.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .page import esc
from .svgplot import nice_ticks

WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T, PAD_R = 560, 280, 56, 40, 24, 16
PALETTE = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6"]
MARKS = {"bar", "line", "point", "circle", "square", "area"}


class Unsupported(Exception):
    """The spec uses something this renderer does not draw."""


def _channel(enc: dict, name: str) -> tuple[str, str] | None:
    spec = enc.get(name)
    if spec is None:
        return None
    if not isinstance(spec, dict) or "field" not in spec or "aggregate" in spec or "bin" in spec:
        raise Unsupported(f"encoding '{name}' needs a plain field")
    return str(spec["field"]), str(spec.get("type", "nominal"))


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unsupported(f"non-numeric value {value!r} on a quantitative axis")
    return float(value)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


def _polylines(points: list[tuple[float, float]], sy: Any, stroke: str) -> list[str]:
    """A line through (pixel x, value) points, broken where a value is NaN."""
    runs: list[list[str]] = [[]]
    for px, value in points:
        if math.isfinite(value):
            runs[-1].append(f"{px:.1f},{sy(value):.1f}")
        elif runs[-1]:
            runs.append([])
    return [f'<polyline points="{" ".join(run)}" fill="none" stroke="{stroke}" stroke-width="2"/>'
            for run in runs if run]


def _svg(spec: dict) -> str:
    mark = spec.get("mark")
    mark = mark.get("type") if isinstance(mark, dict) else mark
    if mark not in MARKS:
        raise Unsupported(f"mark {mark!r}")
    values = (spec.get("data") or {}).get("values")
    if not isinstance(values, list) or not values or not all(isinstance(v, dict) for v in values):
        raise Unsupported("data must be inline data.values (a list of records)")
    enc = spec.get("encoding") or {}
    x, y, color = _channel(enc, "x"), _channel(enc, "y"), _channel(enc, "color")
    if x is None or y is None:
        raise Unsupported("both x and y encodings are needed")
    if y[1] != "quantitative":
        raise Unsupported("y must be quantitative")
    x_numeric = x[1] == "quantitative"
    rows = [v for v in values if x[0] in v and y[0] in v and (not x_numeric or math.isfinite(_num(v[x[0]])))]
    if not rows:
        raise Unsupported(f"no record has both {x[0]!r} and {y[0]!r}")
    cats = [] if x_numeric else list(dict.fromkeys(str(r[x[0]]) for r in rows))
    ys = [_num(r[y[0]]) for r in rows]
    finite_ys = [v for v in ys if math.isfinite(v)] or [0.0]
    lo, hi = min(0.0, min(finite_ys)), max(0.0, max(finite_ys))
    hi = hi if hi > lo else lo + 1
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def sy(v: float) -> float:
        return PAD_T + plot_h - (v - lo) / (hi - lo) * plot_h

    if x_numeric:
        xs = [_num(r[x[0]]) for r in rows]
        xlo, xhi = min(xs), max(xs)
        xhi = xhi if xhi > xlo else xlo + 1

        def sx(r: dict) -> float:
            return PAD_L + (_num(r[x[0]]) - xlo) / (xhi - xlo) * plot_w
    else:
        step = plot_w / max(len(cats), 1)

        def sx(r: dict) -> float:
            return PAD_L + (cats.index(str(r[x[0]])) + 0.5) * step

    series: dict[str, list[dict]] = {}
    for r in rows:
        series.setdefault(str(r.get(color[0], "")) if color else "", []).append(r)
    parts = [f'<line x1="{PAD_L}" y1="{sy(lo) if lo < 0 else PAD_T + plot_h}" x2="{WIDTH - PAD_R}" '
             f'y2="{sy(lo) if lo < 0 else PAD_T + plot_h}" stroke="#888"/>',
             f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + plot_h}" stroke="#888"/>']
    for v in nice_ticks(lo, hi):
        parts.append(f'<text x="{PAD_L - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    if x_numeric:
        for v in nice_ticks(xlo, xhi):
            px = PAD_L + (v - xlo) / (xhi - xlo) * plot_w
            parts.append(f'<text x="{px:.1f}" y="{PAD_T + plot_h + 16}" text-anchor="middle">{_fmt(v)}</text>')
    else:
        for idx, cat in enumerate(cats[:40]):
            px = PAD_L + (idx + 0.5) * step
            parts.append(f'<text x="{px:.1f}" y="{PAD_T + plot_h + 16}" text-anchor="middle">{esc(cat[:12])}</text>')
    zero = sy(max(lo, 0.0))
    for s_idx, (name, points) in enumerate(series.items()):
        fill = PALETTE[s_idx % len(PALETTE)]
        title = f"{esc(name)} " if name else ""
        gapped = [r for r in points if math.isfinite(_num(r[y[0]]))]   # NaN values: left out, lines break
        if mark == "bar":
            width = (plot_w / max(len(cats), len(points), 1)) * 0.8 / max(len(series), 1)
            for r in gapped:
                cx = sx(r) - width * len(series) / 2 + width * s_idx
                top, v = sy(_num(r[y[0]])), _num(r[y[0]])
                parts.append(f'<rect x="{cx:.1f}" y="{min(top, zero):.1f}" width="{width:.1f}" '
                             f'height="{abs(zero - top):.1f}" fill="{fill}"><title>{title}{esc(r[x[0]])}: '
                             f'{_fmt(v)}</title></rect>')
        else:
            ordered = sorted(points, key=lambda r: _num(r[x[0]])) if x_numeric else points
            if mark == "line":
                parts += _polylines([(sx(r), _num(r[y[0]])) for r in ordered], sy, fill)
                continue
            pts = [(sx(r), sy(_num(r[y[0]])), r) for r in ordered if math.isfinite(_num(r[y[0]]))]
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in pts)
            if mark == "area" and pts:
                parts.append(f'<polygon points="{pts[0][0]:.1f},{zero:.1f} {path} {pts[-1][0]:.1f},{zero:.1f}" '
                             f'fill="{fill}" fill-opacity="0.5" stroke="{fill}"/>')
            else:
                for px, py, r in pts:
                    parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{fill}"><title>{title}'
                                 f'{esc(r[x[0]])}: {_fmt(_num(r[y[0]]))}</title></circle>')
    parts.append(f'<text x="{PAD_L + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">{esc(x[0])}</text>')
    parts.append(f'<text x="12" y="{PAD_T + plot_h / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {PAD_T + plot_h / 2})">{esc(y[0])}</text>')
    if color:
        for s_idx, name in enumerate(series):
            parts.append(f'<rect x="{WIDTH - PAD_R - 110}" y="{PAD_T + s_idx * 14}" width="10" height="10" '
                         f'fill="{PALETTE[s_idx % len(PALETTE)]}"/><text x="{WIDTH - PAD_R - 96}" '
                         f'y="{PAD_T + 9 + s_idx * 14}">{esc(name[:16])}</text>')
    return (f'<svg width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img">{"".join(parts)}</svg>')


def chart_html(spec: Any) -> str:
    """A Vega-Lite spec (a dict, JSON text, or an object with to_dict(), like an Altair chart) as HTML."""
    if hasattr(spec, "to_dict") and not isinstance(spec, dict):
        spec = spec.to_dict()
    if isinstance(spec, str):
        spec = json.loads(spec)
    title = spec.get("title") if isinstance(spec, dict) else None
    title = title.get("text") if isinstance(title, dict) else title
    head = f"<h3>{esc(title)}</h3>" if title else ""
    try:
        if not isinstance(spec, dict):
            raise Unsupported("the spec is not a JSON object")
        return f'<figure class="af-vega">{head}{_svg(spec)}</figure>'
    except (Unsupported, ValueError, TypeError, KeyError) as exc:
        text = json.dumps(spec, indent=2, default=str)[:20000]
        return (f'<figure class="af-vega">{head}<p class="af-muted">This chart cannot be drawn offline '
                f'({esc(exc)}); its Vega-Lite spec:</p><details><summary>spec</summary>'
                f"<pre>{esc(text)}</pre></details></figure>")
