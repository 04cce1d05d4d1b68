"""`python flow.py card list|get|view PATHSPEC`: find the cards of a run, step or task and show them."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import click

from ..cli.errors import friendly_errors
from ..exceptions import CommandError

PATHSPEC_HELP = "RUN/STEP/TASK (the flow name may lead; RUN/STEP is enough for a step with one task)"


def _filters() -> list[Any]:
    return [click.option("--type", "card_type", default=None, help="Only cards of this type."),
            click.option("--id", "card_id", default=None, help="Only the card with this id."),
            click.option("--hash", "card_hash", default=None, help="Only the card whose hash starts with this.")]


def _with_filters(func: Any) -> Any:
    for option in reversed(_filters()):
        func = option(func)
    return func


def _cards_of(task: Any, card_type: str | None, card_id: str | None, card_hash: str | None) -> list[Any]:
    from .client import get_cards
    from .exceptions import CardNotPresentException

    try:
        cards = list(get_cards(task, id=card_id, type=card_type))
    except CardNotPresentException:
        cards = []
    return [c for c in cards if card_hash is None or c.hash.startswith(card_hash)]


def _one_task(flow_name: str, pathspec: str) -> Any:
    from ..cli.inspect import flow_object, tasks_of

    tasks = tasks_of(flow_object(flow_name, pathspec, ("step", "task"), PATHSPEC_HELP, "12/start/1"))
    if len(tasks) != 1:
        ids = ", ".join(t.id for t in tasks[:10])
        raise CommandError(f"{pathspec} has {len(tasks)} tasks ({ids}); name one: {pathspec}/TASK, "
                           f"e.g. {pathspec}/{tasks[0].id}.")
    return tasks[0]


def _one_card(flow_name: str, pathspec: str, card_type: str | None, card_id: str | None,
              card_hash: str | None) -> Any:
    from .client import card_records

    task = _one_task(flow_name, pathspec)
    cards = _cards_of(task, card_type, card_id, card_hash)
    if not cards:
        from .client import Card
        from .exceptions import CardNotPresentException

        known = ", ".join(Card(task, r).filename for r in card_records(task))
        raise CardNotPresentException(task.pathspec, card_type, card_hash, card_id, known)
    if len(cards) > 1:
        listing = "\n".join(f"  {c.type:<20} id={c.id or '-':<12} hash={c.hash}" for c in cards)
        raise CommandError(f"Task {task.pathspec} has {len(cards)} cards that match:\n{listing}\nChoose one with "
                           "--type, --id or --hash (the first characters of the hash are enough).")
    return cards[0]


@click.group(name="card", help="See the cards of a run, step or task (made by @card).")
def card_group() -> None:
    """The `card` command group."""


@card_group.command(name="list", help=f"List the cards of a run, step or task: [{PATHSPEC_HELP}]; "
                                      "without one, the latest run.")
@click.argument("pathspec", required=False)
@click.option("--as-json", "as_json", is_flag=True, help="Print as JSON.")
@_with_filters
@click.pass_context
@friendly_errors
def list_cards(ctx: click.Context, pathspec: str | None, as_json: bool, card_type: str | None,
               card_id: str | None, card_hash: str | None) -> None:
    from ..cli.inspect import flow_object, tasks_of
    from ..client import Flow
    from ..client.context import using_namespace

    flow_name = ctx.obj["flow_cls"].__name__
    with using_namespace(None):
        if pathspec is None:
            run = Flow(flow_name).latest_run
            if run is None:
                raise CommandError(f"{flow_name} has no runs yet: run the flow first.")
            pathspec = run.id
        tasks = tasks_of(flow_object(flow_name, pathspec, ("run", "step", "task"), PATHSPEC_HELP, "12/start/1"))
        found = [(task, _cards_of(task, card_type, card_id, card_hash)) for task in tasks]
    found = [(task, cards) for task, cards in found if cards]
    if as_json:
        doc = [{"pathspec": task.pathspec, "cards": [{"hash": c.hash, "id": c.id, "type": c.type,
                                                      "filename": c.filename} for c in cards]}
               for task, cards in found]
        click.echo(json.dumps(doc, indent=2))
        return
    if not found:
        click.echo(f"No cards under {flow_name}/{pathspec}. Cards are made for steps with @card (or runs with "
                   "--with card) when their tasks succeed.")
        return
    click.echo(f"{'TASK':<40} {'TYPE':<22} {'ID':<14} HASH")
    for task, cards in found:
        for c in cards:
            click.echo(f"{task.pathspec:<40} {c.type:<22} {c.id or '-':<14} {c.hash}")


@card_group.command(name="get", help=f"Print a card's HTML, or write it to FILE: {PATHSPEC_HELP}.")
@click.argument("pathspec")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@_with_filters
@click.pass_context
@friendly_errors
def get_card(ctx: click.Context, pathspec: str, file: str | None, card_type: str | None, card_id: str | None,
             card_hash: str | None) -> None:
    from ..client.context import using_namespace

    with using_namespace(None):
        found = _one_card(ctx.obj["flow_cls"].__name__, pathspec, card_type, card_id, card_hash)
        if file is None:
            click.echo(found.get(), nl=False)
            return
        click.echo(f"Wrote the {found.type} card of {found.pathspec} to {found.save(file)}")


@card_group.command(name="view", help=f"Write a card to an HTML file and print its path: {PATHSPEC_HELP}.")
@click.argument("pathspec")
@click.option("--file", "file", default=None, type=click.Path(dir_okay=False),
              help="Where to write it (default: a new file in the temp folder).")
@click.option("--open", "open_it", is_flag=True, help="Also open it in the web browser.")
@_with_filters
@click.pass_context
@friendly_errors
def view_card(ctx: click.Context, pathspec: str, file: str | None, open_it: bool, card_type: str | None,
              card_id: str | None, card_hash: str | None) -> None:
    from ..client.context import using_namespace

    with using_namespace(None):
        found = _one_card(ctx.obj["flow_cls"].__name__, pathspec, card_type, card_id, card_hash)
        if file is None:
            folder = os.path.join(tempfile.gettempdir(), "artiflow-cards")
            os.makedirs(folder, exist_ok=True)
            file = os.path.join(folder, f"{found.pathspec.replace('/', '-')}-{found.filename}")
        path = found.save(file)
    click.echo(path)
    if open_it:
        import webbrowser

        webbrowser.open("file://" + path)
