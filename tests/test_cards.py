"""Cards: @card end to end through the real CLI, read back with get_cards and `card list|get|view`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from conftest import REPO, ok, run_flow


def task_of(flow: str, step: str):
    from artiflow import Flow

    return Flow(flow).latest_run[step].task


@pytest.fixture
def card_run(af_home):
    """One run of card_flow.py (cards of every kind), shared by the tests that only read it."""
    started = time.time()
    result = ok(run_flow("card_flow.py", "run"))
    result.seconds = time.time() - started
    return result


# -- rendering and reading back ---------------------------------------------------------------------
def test_default_card_shows_task_parameters_artifacts_and_components(card_run):
    from artiflow.cards import get_cards

    task = task_of("CardFlow", "start")
    cards = get_cards(task)
    assert len(cards) == 1
    c = cards[0]
    assert (c.type, c.id) == ("default", None) and re.fullmatch(r"[0-9a-f]{32}", c.hash)
    assert c.path == f"{task.pathspec}/cards/default-{c.hash}.html"
    html = c.get()
    assert html.startswith("<!DOCTYPE html>") and task.pathspec in html
    assert "<code>alpha</code>" in html and "0.5" in html            # the parameter
    assert "<code>items</code>" in html and "[1, 2, 3]" in html       # an artifact
    assert "(2000000 bytes)" in html                                  # a large one, cut
    assert "<h1>Report &lt;b&gt;bold?&lt;/b&gt;</h1>" in html         # markdown, raw HTML escaped
    assert "<em>text</em>" in html and "<code>code</code>" in html
    assert "<th>n</th>" in html and "{&#x27;k&#x27;: [1, 2]}" in html  # table with a nested component
    assert 'src="data:image/png;base64,' in html and "a pixel" in html
    assert '<progress max="10" value="4">' in html and "4 / 10 ep" in html
    assert "<svg" in html and "<polyline" in html                     # the Vega-Lite chart, drawn inline
    assert "A handled error" in html and "ValueError: shown, not raised" in html
    assert "not a component" not in html
    assert "not a card component, so it was not added" in card_run.stderr


def test_cards_are_self_contained(card_run):
    from artiflow.cards import get_cards

    for step in ("start", "middle", "end"):
        for c in get_cards(task_of("CardFlow", step)):
            html = c.get()
            assert not re.search(r"https?://|<link|<script[^>]*\ssrc=|src=\"//", html), (step, c.type)


def test_several_cards_per_step_with_ids_and_types(card_run):
    from artiflow.cards import get_cards

    task = task_of("CardFlow", "middle")
    cards = get_cards(task)
    assert [(c.type, c.id) for c in cards] == [("blank", "notes"), ("artifact_card", "value"),
                                               ("test_pathspec_card", None)]
    notes = get_cards(task, id="notes")[0].get()
    assert "<title>Notes</title>" in notes and "notes for <strong>middle</strong>" in notes
    assert "the only editable card is" in notes          # current.card.append went to the one editable card
    assert get_cards(task, id="value")[0].get() == "<p>items=[1, 2, 3] in=True</p>"
    assert get_cards(task.pathspec, type="test_pathspec_card")[0].get().startswith(task.pathspec + " ")
    assert "current.card['missing'] in step 'middle': no @card has id='missing' (card ids here: notes, value)" \
        in card_run.stderr


def test_failing_unknown_and_timed_out_cards_never_fail_the_task(card_run):
    from artiflow.cards import get_cards

    task = task_of("CardFlow", "end")
    assert task.successful and task.data.done is True
    assert card_run.seconds < 20                             # the 30 s card was abandoned after 1 s
    cards = {(c.type, c.id): c for c in get_cards(task)}
    # save_errors=False: no card at all; the bad id is dropped with a warning
    assert set(cards) == {("default", "summary"), ("test_error_card", None), ("no_such_type", None),
                          ("slow_card", "slow"), ("blank", None)}
    assert "2.0 MB, not loaded" in cards[("default", "summary")].get()   # stored by start: not loaded to preview
    error = cards[("test_error_card", None)].get()
    assert "This card could not be rendered" in error and "Unknown Things Happened" in error
    assert "did not finish within its timeout of 1 s" in cards[("slow_card", "slow")].get()
    unknown = cards[("no_such_type", None)].get()
    assert "no card type is named &#x27;no_such_type&#x27;" in unknown and "register_card" in unknown
    assert ("@card(id='bad-id') on step 'end': an id may only have letters, digits and _, so this card has no "
            "id") in card_run.stderr
    assert "Known types: artifact_card, blank, default, slow_card, taskspec_card." in card_run.stderr


def test_get_cards_errors_say_what_exists(card_run):
    from artiflow.cards import CardNotPresentException, get_cards

    task = task_of("CardFlow", "middle")
    with pytest.raises(CardNotPresentException, match=r"No card with type 'nope' for task CardFlow/1/middle/2\. "
                                                      r"Its cards: blank \(id notes\), artifact_card \(id value\)"):
        get_cards(task, type="nope")
    with pytest.raises(Exception, match="get_cards takes a Task or a task pathspec"):
        get_cards(42)
    with pytest.raises(Exception, match="does not name a task"):
        get_cards("CardFlow/1/middle")


def test_card_data_update(card_run):
    from artiflow.cards import get_cards

    data = get_cards(task_of("CardFlow", "start"))[0].get_data()
    assert data["reload_token"] == "final" and set(data["data"]) == {"components", "user"}
    assert get_cards(task_of("CardFlow", "middle"), id="value")[0].get_data() is None  # that type makes none


# -- the command line --------------------------------------------------------------------------------
def test_card_list_get_view(card_run, af_home):
    listing = ok(run_flow("card_flow.py", "card", "list", "1")).stdout.splitlines()
    assert listing[0].split() == ["TASK", "TYPE", "ID", "HASH"]
    assert [line.split()[:3] for line in listing[1:4]] == [
        ["CardFlow/1/start/1", "default", "-"], ["CardFlow/1/middle/2", "blank", "notes"],
        ["CardFlow/1/middle/2", "artifact_card", "value"]]
    assert ok(run_flow("card_flow.py", "card", "list")).stdout.splitlines() == listing   # the latest run
    as_json = json.loads(ok(run_flow("card_flow.py", "card", "list", "1/middle/2", "--as-json")).stdout)
    assert as_json[0]["pathspec"] == "CardFlow/1/middle/2"
    assert [c["type"] for c in as_json[0]["cards"]] == ["blank", "artifact_card", "test_pathspec_card"]
    assert as_json[0]["cards"][0]["filename"] == f"blank-notes-{as_json[0]['cards'][0]['hash']}.html"

    html = ok(run_flow("card_flow.py", "card", "get", "1/start")).stdout   # one task, one card: no filter needed
    assert html.startswith("<!DOCTYPE html>") and "CardFlow/1/start/1" in html
    got = ok(run_flow("card_flow.py", "card", "get", "CardFlow/1/middle/2", "out.html", "--id", "value"))
    assert "Wrote the artifact_card card of CardFlow/1/middle/2 to" in got.stdout
    assert (af_home / "out.html").read_text() == "<p>items=[1, 2, 3] in=True</p>"
    short = as_json[0]["cards"][2]["hash"][:6]
    viewed = ok(run_flow("card_flow.py", "card", "view", "1/middle/2", "--hash", short, "--file", "v.html"))
    assert viewed.stdout.strip() == str(af_home / "v.html")
    assert (af_home / "v.html").read_text().startswith("CardFlow/1/middle/2 ")


def test_card_cli_mistakes(card_run):
    several = run_flow("card_flow.py", "card", "get", "1/middle/2")
    assert several.returncode == 1
    assert "Task CardFlow/1/middle/2 has 3 cards that match" in several.stderr
    assert "Choose one with --type, --id or --hash" in several.stderr
    none = run_flow("card_flow.py", "card", "get", "1/middle/2", "--type", "default")
    assert none.returncode == 1 and "No card with type 'default' for task CardFlow/1/middle/2. Its cards:" in none.stderr
    bad = run_flow("card_flow.py", "card", "get", "1")
    assert bad.returncode == 1 and "give RUN/STEP/TASK" in bad.stderr
    several_in_run = run_flow("card_flow.py", "card", "view", "1", "--no-open")   # the newest task has five
    assert several_in_run.returncode == 1 and "Task CardFlow/1/end/3 has 5 cards that match" in several_in_run.stderr


# -- mistakes a user can make --------------------------------------------------------------------------
def test_current_card_in_a_step_without_card_fails_with_advice(af_home):
    result = run_flow("card_misuse_flow.py", "run")
    assert result.returncode == 1
    assert "current.card is used in step 'end', which has no @card decorator. Add @card" in result.stderr
    from artiflow.cards import get_cards

    assert len(get_cards(task_of("CardMisuseFlow", "start"))) == 1


def test_current_card_outside_a_task():
    from artiflow import current
    from artiflow.cards.collector import CardUsageError

    with pytest.raises(CardUsageError, match=r"current.card is only available while a step runs"):
        current.card.append(None)


def test_bad_decorator_arguments_are_reported_before_running(af_home):
    result = run_flow("card_bad_decorator_flow.py", "run")
    assert result.returncode == 1
    assert re.search(r"Step 'start' at .*card_bad_decorator_flow.py:\d+: @card\(timeout=\.\.\.\) is the most "
                     r"seconds rendering may take: a number above 0, not 'soon'\.", result.stderr)
    from artiflow.cards.decorator import CardDecorator
    from artiflow.decorators import DecoratorError

    with pytest.raises(DecoratorError, match=r"@card\(options=\.\.\.\) must be a dict"):
        CardDecorator(options=[1])
    with pytest.raises(DecoratorError, match=r"@card does not take colour"):
        CardDecorator(colour="red")


def test_with_card_adds_a_default_card_to_every_step(af_home):
    ok(run_flow("hello_flow.py", "run", "--with", "card:timeout=30"))
    from artiflow import Flow
    from artiflow.cards import get_cards

    run = Flow("HelloFlow").latest_run
    for step in run:
        for task in step:
            assert [c.type for c in get_cards(task)] == ["default"]


def test_resume_carries_the_cards_of_reused_tasks(af_home):
    assert run_flow("card_resume_flow.py", "run", env={"CARD_FAIL": "1"}).returncode == 1
    from artiflow.cards import CardNotPresentException, get_cards

    with pytest.raises(CardNotPresentException, match="only when the task succeeds"):
        get_cards(task_of("CardResumeFlow", "end"))                  # a failed task has no card
    ok(run_flow("card_resume_flow.py", "resume"))
    start = task_of("CardResumeFlow", "start")
    assert start.origin_pathspec == "CardResumeFlow/1/start/1"
    assert "made by CardResumeFlow/1/start/1" in get_cards(start)[0].get()
    assert get_cards(task_of("CardResumeFlow", "end"))[0].get() == "CardResumeFlow/2/end/2"


# -- components on their own ----------------------------------------------------------------------------
def test_images_from_figures_and_pil_like_objects_without_importing_them():
    code = """
import sys
from artiflow.cards import Image, get_cards
PNG = b"\\x89PNG\\r\\n\\x1a\\n" + b"0" * 8
class Figure:
    def savefig(self, buf, format, **kw):
        assert format == "png"; buf.write(PNG)
class PilImage:
    def save(self, buf, format):
        buf.write(PNG)
PilImage.__module__ = "PIL.Image"
assert 'src="data:image/png;base64,' in Image.from_matplotlib(Figure(), label="fig").render()
assert 'src="data:image/png;base64,' in Image.from_pil_image(PilImage()).render()
assert "Image needs bytes, a PIL image or a matplotlib figure, not int" in Image(3).render()
assert "not a PNG, JPEG" in Image(b"plain text").render()
assert not {m for m in sys.modules if m.split(".")[0] in ("PIL", "matplotlib")}
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO / "src")})


def test_markdown_and_vega_fallbacks():
    from artiflow.cards import Markdown, Table, VegaChart

    html = Markdown("## T\n\n1. a\n2. [link](javascript:alert(1))\n\n```py\n<x>\n```\n> quoted").render()
    assert "<h2>T</h2>" in html and "<ol>" in html and 'href="#"' in html
    assert "<pre><code class=\"language-py\">&lt;x&gt;</code></pre>" in html and "<blockquote>" in html
    chart = VegaChart({"mark": "geoshape", "data": {"url": "x.json"}}).render()
    assert "cannot be drawn offline" in chart and "geoshape" in chart
    import pandas as pd

    table = Table.from_dataframe(pd.DataFrame({"a": [1, 2], "b": ["x", "<y>"]})).render()
    assert "<th>a</th><th>b</th>" in table and "&lt;y&gt;" in table


def test_metaflow_names_resolve():
    code = """
from artiflow.compat import install_metaflow_alias
install_metaflow_alias()
from metaflow import card
from metaflow.cards import get_cards, Markdown, MetaflowCard
from metaflow.plugins.cards.card_client import Card
from metaflow.plugins.cards.card_modules.test_cards import TestStringComponent, TestEditableCard
from metaflow.plugins.cards.exception import CardNotPresentException
import artiflow.cards, artiflow.cards.client
assert get_cards is artiflow.cards.get_cards and Card is artiflow.cards.client.Card
assert CardNotPresentException is artiflow.cards.CardNotPresentException
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO / "src")})


def test_using_card_loads_only_the_decorator():
    code = """
import sys
from artiflow import card
loaded = {m for m in sys.modules if m.startswith("artiflow.cards.")}
assert loaded == {"artiflow.cards.decorator"}, loaded
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO / "src")})
