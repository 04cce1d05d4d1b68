"""Read cards back: `get_cards(task_or_pathspec, id=None, type=None)` and the Card objects it returns."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Iterator

from .exceptions import CardNotPresentException, IncorrectArgumentException, IncorrectPathspecException

METADATA_FIELD = "card"


class Card:
    """One stored card: `.id`, `.type`, `.hash`, `.path`; `.get()` is its HTML, `.get_data()` its data update."""

    def __init__(self, task: Any, record: dict[str, Any]) -> None:
        self._task, self._record = task, record
        self.hash: str = record["hash"]
        self.type: str = record["type"]
        self.created_at: float | None = record.get("created_at")
        self.is_error: bool = bool(record.get("error"))
        self.origin_pathspec: str | None = getattr(task, "origin_pathspec", None)
        self.from_resumed = self.origin_pathspec is not None
        self._html: str | None = None
        self._temp_file: Any = None

    @property
    def id(self) -> str | None:
        """The id given with @card(id=...), or None."""
        return self._record.get("id")

    @property
    def filename(self) -> str:
        """`type-hash.html`, or `type-id-hash.html` for a card with an id."""
        middle = f"-{self.id}" if self.id else ""
        return f"{self.type}{middle}-{self.hash}.html"

    @property
    def path(self) -> str:
        """Where the card is, as a path under its task: `Flow/run/step/task/cards/<filename>`."""
        return f"{self._task.pathspec}/cards/{self.filename}"

    @property
    def pathspec(self) -> str:
        """The task the card belongs to."""
        return self._task.pathspec

    def get(self) -> str:
        """The card's HTML (read once, then kept)."""
        if self._html is None:
            self._html = bytes(self._task._ctx.store.get_bytes(self._record["key"])).decode("utf-8")
        return self._html

    def get_data(self) -> dict | None:
        """The card's data update (`{"reload_token", "data", "created_on"}`), or None when the type makes none."""
        key = self._record.get("data_key")
        if not key:
            return None
        return json.loads(bytes(self._task._ctx.store.get_bytes(key)).decode("utf-8"))

    def save(self, path: str | None = None) -> str:
        """Write the HTML to a file (default: a new file in the temp folder) and return its path."""
        if path is None:
            fd, path = tempfile.mkstemp(prefix=f"{self.type}-", suffix=".html")
            os.close(fd)
        with open(path, "w", encoding="utf-8") as out:
            out.write(self.get())
        return os.path.abspath(path)

    def view(self) -> str:
        """Open the card in a web browser (from a temp file); returns the file's path."""
        import webbrowser

        path = self.save()
        webbrowser.open("file://" + path)
        return path

    def _repr_html_(self) -> str:
        return self.get()

    def __str__(self) -> str:
        return f"<Card at '{self.path}'>"

    __repr__ = __str__


class CardContainer:
    """The cards of a task, in the order their decorators are written: index, iterate, len()."""

    def __init__(self, cards: list[Card], pathspec: str, origin_pathspec: str | None = None) -> None:
        self._cards = cards
        self.pathspec = pathspec
        self.origin_pathspec = origin_pathspec
        self.from_resumed = origin_pathspec is not None

    def __len__(self) -> int:
        return len(self._cards)

    def __iter__(self) -> Iterator[Card]:
        return iter(self._cards)

    def __getitem__(self, index: int) -> Card:
        return self._cards[index]

    def _repr_html_(self) -> str:
        return "\n".join(f"<div class='embed'>{card.get()}</div>" for card in self._cards)

    def __repr__(self) -> str:
        return f"<CardContainer {self.pathspec}: {len(self)} card(s)>"


def _task_of(task_or_pathspec: Any) -> Any:
    """A client Task from a Task or a `Flow/run/step/task` pathspec (seen whatever the namespace)."""
    if isinstance(task_or_pathspec, str):
        from ..client.context import using_namespace
        from ..client.pathspec import InvalidPathspec
        from ..client.task import Task

        try:
            with using_namespace(None):
                return Task(task_or_pathspec)
        except InvalidPathspec as exc:
            raise IncorrectPathspecException(f"get_cards needs a task pathspec, Flow/run/step/task: {exc.message}") \
                from None
    if hasattr(task_or_pathspec, "_ctx") and hasattr(task_or_pathspec, "step_name"):
        return task_or_pathspec
    raise IncorrectArgumentException(f"get_cards takes a Task or a task pathspec (Flow/run/step/task), not "
                                     f"{type(task_or_pathspec).__name__} {task_or_pathspec!r}.")


def card_records(task: Any) -> list[dict[str, Any]]:
    """The card records of a task, in order, from its metadata (the latest attempt that has any)."""
    rows = task._ctx.meta.task_metadata(task.flow_name, task.run_id, task.step_name, int(task.id))
    rows = [r for r in rows if r.field == METADATA_FIELD]
    if not rows:
        return []
    latest = max(r.attempt for r in rows)
    records = []
    for row in rows:
        if row.attempt != latest:
            continue
        try:
            records.append(json.loads(row.value or ""))
        except ValueError:
            continue
    return records


def get_cards(task: Any, id: str | None = None, type: str | None = None, follow_resumed: bool = True) -> CardContainer:
    """The cards of a task, optionally only those with this id and/or type; CardNotPresentException if none."""
    client_task = _task_of(task)
    everything = [Card(client_task, record) for record in card_records(client_task)]
    cards = [c for c in everything if (id is None or c.id == id) and (type is None or c.type == type)]
    if not cards:
        known = ", ".join(f"{c.type}" + (f" (id {c.id})" if c.id else "") for c in everything)
        raise CardNotPresentException(client_task.pathspec, card_type=type, card_id=id, known=known)
    return CardContainer(cards, client_task.pathspec, getattr(client_task, "origin_pathspec", None))
