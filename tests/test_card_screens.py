"""A rendered card as a person sees it: headless Chromium takes a screenshot of a real card, Pillow reads it.

tests/services/ensure_chromium.sh (run by `make test`) installs Debian's chromium; without it this test
skips saying what to install (fails under `make test`, which sets ARTIFLOW_TEST_REQUIRE_CHROMIUM=1):
see tests/ui_browser.py's chromium().
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import numpy

from conftest import ok, run_flow
from ui_browser import chromium

LINE = (0x4C, 0x78, 0xA8)            # the first colour of the palette: a chart's first line
WIDTH, HEIGHT = 1000, 1500
PLOT_LEFT = 24 + 64                  # the page's padding, then the plot's left margin
PLOT_WIDTH = 560 - 64 - 16


def headless(browser: str, profile: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run headless Chromium (its own process group, no network, a throwaway profile), killed if it hangs."""
    cmd = [browser, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
           "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1", "--mute-audio",
           "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",   # nothing can be fetched
           f"--user-data-dir={profile}", *args]
    if os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")      # Chromium's sandbox refuses to run as root
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = "", f"chromium did not finish within {timeout} s"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # its helper processes too
        except ProcessLookupError:
            pass
        proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def line_mask(image) -> numpy.ndarray:
    """True where a pixel has the chart line's colour (within the blur of anti-aliasing)."""
    rgb = numpy.asarray(image.convert("RGB")).astype(int)
    return (abs(rgb - numpy.array(LINE)) <= 24).all(axis=2)


def test_screenshot_of_a_default_card_shows_its_metric_charts(af_home):
    from PIL import Image

    browser = chromium()
    ok(run_flow("card_metrics_flow.py", "run"))
    got = ok(run_flow("card_metrics_flow.py", "card", "get", "1/start/1", "card.html"))
    assert "Wrote the default card of CardMetricsFlow/1/start/1" in got.stdout
    card = af_home / "card.html"
    viewed = ok(run_flow("card_metrics_flow.py", "card", "view", "start", "--no-open", "--file", "viewed.html"))
    assert Path(viewed.stdout.strip()).read_text() == card.read_text()

    shot = af_home / "card.png"
    result = headless(browser, af_home / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
                      card.as_uri())
    assert shot.is_file(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    image = Image.open(shot)
    assert image.size == (WIDTH, HEIGHT)
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 50           # not a blank page

    mask = line_mask(image)
    rows, cols = mask.nonzero()
    assert len(cols) > 1000, f"only {len(cols)} line-coloured pixels"
    assert abs(cols.min() - PLOT_LEFT) <= 4 and abs(cols.max() - (PLOT_LEFT + PLOT_WIDTH)) <= 4   # lines span the plots
    loss_chart = mask[rows.min():rows.min() + 260]        # the first chart (loss), from its topmost line pixel

    def height_at(x: int) -> int:
        ys = loss_chart[:, x].nonzero()[0]
        return int(ys.max() - ys.min()) if len(ys) else 0

    # the loss spike at step 150 of 300 (the middle of the x axis) is a tall thin run of line pixels
    middle = PLOT_LEFT + PLOT_WIDTH // 2
    spike = max(height_at(x) for x in range(middle - 3, middle + 4))
    beside = max(height_at(x) for x in (middle - 40, middle + 40))
    assert spike > 120 and spike > 5 * beside, (spike, beside)

    dom = headless(browser, af_home / "profile2", "--dump-dom", card.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('<svg class="af-lineplot"') == 3 and "<polyline" in dom.stdout
