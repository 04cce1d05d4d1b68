"""Errors of the card client and CLI (Metaflow's names: `metaflow.plugins.cards.exception`)."""

from __future__ import annotations

from ..exceptions import ArtiflowException

TYPE_CHECK_REGEX = "^[a-zA-Z0-9_]+$"


class CardNotPresentException(ArtiflowException):
    """The task has no card (of the type, id or hash asked for)."""

    headline = "Card not found"

    def __init__(self, pathspec: str, card_type: str | None = None, card_hash: str | None = None,
                 card_id: str | None = None, known: str = "") -> None:
        wanted = [f"{k} {v!r}" for k, v in (("type", card_type), ("id", card_id), ("hash", card_hash)) if v]
        what = f"No card with {' and '.join(wanted)}" if wanted else "No card"
        hint = (f" Its cards: {known}." if known else
                " It has none: cards are made only for steps with @card (or runs with --with card), and only "
                "when the task succeeds.")
        super().__init__(f"{what} for task {pathspec}.{hint}")
        self.pathspec = pathspec


class IncorrectArgumentException(ArtiflowException):
    """get_cards was given something that is not a task."""

    headline = "Invalid argument to get_cards"


class IncorrectPathspecException(IncorrectArgumentException):
    """get_cards was given a pathspec that does not name a task."""
