"""`python flow.py card list|get|view PATHSPEC` (and `artiflow card ... FLOW/PATHSPEC`): find the cards of a
run, step or task and show them."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import click

from ..cli.errors import friendly_errors
from ..exceptions import CommandError

PATHSPEC_HELP = ("RUN/STEP/TASK (the flow name may lead, and must with `artiflow card`; RUN/STEP is enough for a "
                 "step with one task)")


def _where(ctx: click.Context, pathspec: str | None) -> tuple[str, str | None, list[str] | None]:
    """(flow name, the rest of the pathspec, the flow's step names if known) for either command group.

    Under `python flow.py card` the flow is the file's; under `artiflow card` it is the pathspec's first part.
    """
    flow_cls = (ctx.obj or {}).get("flow_cls")
    if flow_cls is not None:
        return flow_cls.__name__, pathspec, _step_names(flow_cls)
    if not pathspec:
        raise CommandError("Name the flow: artiflow card list|get|view FLOW[/RUN[/STEP[/TASK]]], e.g. "
                           "artiflow card view TrainFlow/12/start.")
    from ..client.pathspec import split

    flow_name, *rest = split(pathspec)
    return flow_name, "/".join(rest) or None, None


def _filters() -> list[Any]:
    return [click.option("--type", "card_type", default=None, help="Only cards of this type."),
            click.option("--id", "card_id", default=None, help="Only the card with this id."),
            click.option("--hash", "card_hash", default=None, help="Only the card whose hash starts with this.")]


def _with_filters(func: Any) -> Any:
    for option in reversed(_filters()):
        func = option(func)
    return func


def _cards_of(task: Any, card_type: str | None, card_id: str | None, card_hash: str | None) -> list[Any]:
    from .pick import CardFilter

    return CardFilter(card_type, card_id, card_hash).cards_of(task)


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
    from .pick import CardFilter, newest_card

    return newest_card(_one_task(flow_name, pathspec), CardFilter(card_type, card_id, card_hash))


def _step_names(flow_cls: type) -> list[str]:
    from ..graph.flowgraph import FlowGraph

    return [node.name for node in FlowGraph.from_flow(flow_cls)]


def _view_file(found: Any, file: str | None) -> str:
    """Write the card to `file` (default: a file named after it in the temp folder) and return the path."""
    if file is None:
        folder = os.path.join(tempfile.gettempdir(), "artiflow-cards")
        os.makedirs(folder, exist_ok=True)
        file = os.path.join(folder, f"{found.pathspec.replace('/', '-')}-{found.filename}")
    return found.save(file)


def _open_in_browser(path: str) -> None:
    """Open a file in the user's web browser; say so when there is none (e.g. on a server)."""
    import webbrowser
    from pathlib import Path

    try:
        opened = webbrowser.open(Path(path).as_uri())
    except webbrowser.Error:
        opened = False
    if not opened:
        click.echo("No web browser could be started here; open the file above yourself "
                   "(or copy it to a machine with one).", err=True)


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

    flow_name, pathspec, _ = _where(ctx, pathspec)
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

    flow_name, rest, _ = _where(ctx, pathspec)
    if rest is None:
        raise CommandError(f"'{pathspec}' names a flow; give {PATHSPEC_HELP}, e.g. {flow_name}/12/start/1.")
    with using_namespace(None):
        found = _one_card(flow_name, rest, card_type, card_id, card_hash)
        if file is None:
            click.echo(found.get(), nl=False)
            return
        click.echo(f"Wrote the {found.type} card of {found.pathspec} to {found.save(file)}")


VIEW_HELP = ("Open the newest card of a step in the web browser (written to an HTML file whose path is printed). "
             "PATHSPEC: STEP (in the newest run that has it), RUN (its newest card), RUN/STEP or RUN/STEP/TASK; "
             "the flow name may lead (with `artiflow card`, it must: FLOW, FLOW/STEP, FLOW/RUN/STEP...); "
             "none: the newest card of the latest run.")


@card_group.command(name="view", help=VIEW_HELP)
@click.argument("pathspec", required=False)
@click.option("--file", "file", default=None, type=click.Path(dir_okay=False),
              help="Where to write it (default: a file in the temp folder, artiflow-cards/).")
@click.option("--open/--no-open", "open_it", default=True, show_default=True,
              help="Open it in the web browser, or only write the file and print its path.")
@_with_filters
@click.pass_context
@friendly_errors
def view_card(ctx: click.Context, pathspec: str | None, file: str | None, open_it: bool, card_type: str | None,
              card_id: str | None, card_hash: str | None) -> None:
    from ..client.context import using_namespace
    from .pick import CardFilter, newest_card, target_of

    flow_name, rest, step_names = _where(ctx, pathspec)
    with using_namespace(None):
        target = target_of(flow_name, step_names, rest)
        found = newest_card(target, CardFilter(card_type, card_id, card_hash))
        path = _view_file(found, file)
    click.echo(path)
    if open_it:
        _open_in_browser(path)


def register(group: click.Group) -> None:
    """Add `card` to the `artiflow` command group (pathspecs there start with the flow name)."""
    group.add_command(card_group)
