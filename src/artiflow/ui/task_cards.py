"""A task's cards: listed on the task page, each served by `/card/...` into a sandboxed iframe.

A card is HTML a task wrote (with its own inline scripts and styles): it is never put in a UI page.
The page embeds it with `<iframe sandbox="allow-scripts">` (no allow-same-origin: the card runs in an
opaque origin, so it cannot read the UI or call its API), and the card's own answer carries a
`Content-Security-Policy: sandbox allow-scripts` header, so a card opened directly is sandboxed too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from ..cards.client import Card, card_records
from ..exceptions import NotFound
from .app import reader
from .task_lookup import find_task

if TYPE_CHECKING:
    from .task_lookup import FoundTask

# what a card may do in its frame: run its own inline code and styles; fetch nothing, reach nothing
CARD_POLICY = ("sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
               "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; frame-ancestors 'self'")


def client_task(found: FoundTask) -> Any:
    """The client's Task for a found task (no queries: it is built from the records in hand)."""
    from ..client.task import Task

    return Task(found.pathspec, _ctx=found.ctx, _run_row=found.run, _row=found.task, _namespace_check=False)


def task_cards(found: FoundTask) -> list[Card]:
    """The task's cards in the order its decorators are written (its latest attempt that made any)."""
    task = client_task(found)
    return [Card(task, record) for record in card_records(task)]


def card_rows(found: FoundTask) -> list[dict[str, Any]]:
    """What the task page lists of each card: index, type, id, whether it is an error card, and its URL."""
    flow, run_id, step, task_id = found.key
    return [{"index": index, "type": card.type, "id": card.id, "error": card.is_error,
             "url": f"/card/{flow}/{run_id}/{step}/{task_id}/{index}"}
            for index, card in enumerate(task_cards(found))]


def card_page(request: Request) -> HTMLResponse:
    """One card's HTML, under a sandboxing policy of its own."""
    params = request.path_params
    with reader(request)() as ctx:
        found = find_task(ctx, params["flow"], params["run_id"], params["step"], params["task_id"])
        cards = task_cards(found)
        text = params["index"]
        if not (text.isascii() and text.isdigit()) or int(text) >= len(cards):
            have = f"its cards are numbered 0 to {len(cards) - 1}" if cards else "it has no cards"
            raise NotFound(f"Card {text} of task {found.pathspec} does not exist; {have}.")
        html = cards[int(text)].get()
    return HTMLResponse(html, headers={"content-security-policy": CARD_POLICY})


def routes() -> list[Route]:
    return [Route("/card/{flow}/{run_id}/{step}/{task_id}/{index}", card_page)]
