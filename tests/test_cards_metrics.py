"""Metrics in cards: the default card draws each metric as a line chart; MetricsChart; downsampling."""

from __future__ import annotations

import math
import re
import time
from html import escape

import pytest

from conftest import ok, run_flow


def card_html(step: str, **filters) -> str:
    from artiflow import Flow
    from artiflow.cards import get_cards

    return get_cards(Flow("CardMetricsFlow").latest_run[step].task, **filters)[0].get()


def figure(html: str, name: str) -> str:
    """The <figure> of one metric chart."""
    attr = re.escape(escape(name, quote=True))
    found = re.search(rf'<figure class="af-metric" data-metric="{attr}">(.*?)</figure>', html, re.S)
    assert found, f"no chart for {name}"
    return found.group(1)


def summary(fig: str) -> dict[str, str]:
    return dict(re.findall(r"<tr><td>(\w+)</td><td>([^<]*)</td></tr>", fig))


def drawn_points(fig: str) -> list[tuple[float, float]]:
    coords = " ".join(re.findall(r'<polyline points="([^"]*)"', fig)).split()
    return [tuple(map(float, c.split(","))) for c in coords]


@pytest.fixture
def metrics_run(af_home):
    ok(run_flow("card_metrics_flow.py", "run"))
    return af_home


def test_default_card_draws_each_metric_with_its_latest_min_and_max(metrics_run):
    html = card_html("start")
    assert "<h2>Metrics</h2>" in html
    assert re.findall(r'data-metric="([^"]+)"', html) == ["loss", "val_loss", "accuracy"]
    loss = figure(html, "loss")
    latest = 2.0 * math.exp(-4.0 * 299 / 300) + 0.1
    assert summary(loss) == {"latest": f"{latest:.6g}", "min": f"{latest:.6g}", "max": "5", "points": "300",
                             "NaN": "15 (gaps in the line)"}
    assert loss.count("<polyline") == 2                    # the NaN stretch breaks the line in two
    assert len(drawn_points(loss)) == 300 - 15 and "drawn" not in loss     # few points: all drawn
    assert 'class="af-axis-label">step</text>' in loss
    assert re.search(r'text-anchor="middle">100</text>', loss)              # round x ticks
    accuracy = figure(html, "accuracy")
    assert 'class="af-axis-label">order logged</text>' in accuracy        # logged without a step
    assert summary(accuracy)["latest"] == "0.95" and "NaN" not in summary(accuracy)
    assert not re.search(r"https?://|<script", html)
    assert "<h2>Metrics</h2>" not in card_html("middle")             # no metrics: no section


def test_metrics_chart_component_and_its_mistakes(metrics_run):
    html = card_html("end", id="curves")
    both = figure(html, "start's curves")
    assert both.count('<polyline') == 4                   # loss and val_loss, each broken by its NaN stretch
    assert re.search(r'fill="#4c78a8"/><text[^>]*>loss</text>', both)   # a legend for two series
    assert re.search(r'fill="#f58518"/><text[^>]*>val_loss</text>', both)
    assert "<h4>loss</h4>" in both and "<h4>val_loss</h4>" in both
    assert "no points for lost (metrics given: loss, val_loss, accuracy)" in html

    from artiflow import Flow
    from artiflow.cards import DefaultCard, MetricsChart

    task = Flow("CardMetricsFlow").latest_run["start"].task       # a client Task: its recorded metrics
    assert "data-metric=\"loss\"" in DefaultCard(options={}, components=[], graph={}).render(task)
    assert "<h2>Metrics</h2>" not in DefaultCard(options={"metrics": False}, components=[], graph={}).render(task)
    assert "no metric points were given (metrics given: none)" in MetricsChart([]).render()


def test_a_hundred_thousand_points_make_a_small_card(af_home):
    started = time.time()
    ok(run_flow("card_metrics_flow.py", "run", "--points", "100000"))
    seconds = time.time() - started
    html = card_html("start")
    loss = figure(html, "loss")
    points = drawn_points(loss)
    note = re.search(r"loss: 100,000 points, ([\d,]+) drawn \(the lowest and highest of each pixel column", loss)
    assert note and int(note.group(1).replace(",", "")) == len(points) <= 4 * 480
    assert summary(loss)["max"] == "5" and summary(loss)["points"] == "100,000"
    top = min(y for _, y in points)                      # the one-point spike at step 50,000 is still drawn
    spike = [x for x, y in points if y == top]
    assert len(spike) == 1 and abs(spike[0] - (64 + 480 * 0.5)) < 2
    assert len(html) < 120_000, len(html)
    assert seconds < 20, seconds


# -- the drawing on its own --------------------------------------------------------------------------
def test_downsampling_keeps_spikes_and_gaps():
    from artiflow.cards.svgplot import GAP, downsample

    points = [(float(i), math.sin(i / 100)) for i in range(100_000)]
    points[31_337] = (31_337.0, 40.0)
    points[60_000] = (60_000.0, -40.0)
    for i in range(80_000, 80_500):
        points[i] = (float(i), float("nan"))
    out = downsample(points, 500)
    kept = [p for p in out if p is not GAP]
    assert len(out) <= 4 * 500 + 1 and out.count(GAP) == 1
    assert (31_337.0, 40.0) in kept and (60_000.0, -40.0) in kept
    assert [x for x, _ in kept] == sorted(x for x, _ in kept)
    assert kept[0] == points[0] and kept[-1] == points[-1]
    assert not any(80_000 <= x < 80_500 for x, _ in kept)
    few = downsample([(0.0, 1.0), (1.0, float("nan")), (2.0, 3.0)], 500)
    assert few == [(0.0, 1.0), GAP, (2.0, 3.0)]


def test_nice_ticks_and_nan_in_vega_lines():
    from artiflow.cards import VegaChart
    from artiflow.cards.svgplot import nice_ticks

    assert nice_ticks(0, 99_999, 6) == [0, 20_000, 40_000, 60_000, 80_000]
    assert nice_ticks(0.13, 5.0) == [1, 2, 3, 4, 5]
    assert nice_ticks(-1, 1) == [-1, -0.5, 0, 0.5, 1]
    assert nice_ticks(3, 3) == [3] and nice_ticks(0, float("nan")) == []
    spec = {"mark": "line", "data": {"values": [{"x": i, "y": float("nan") if i == 3 else i} for i in range(7)]},
            "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"}}}
    svg = VegaChart(spec).render()
    assert svg.count("<polyline") == 2 and "nan" not in svg.lower()
