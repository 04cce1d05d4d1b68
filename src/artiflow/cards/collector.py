"""`current.card`: the cards of the running task and the components the step adds to them.

`current.card.append(c)` adds to the step's *default editable* card, chosen as Metaflow does: the
only editable card; else the only editable card without an id; a card with `customize=True` wins.
`current.card["id"]` is the card with that id (editable or not). A call that cannot be resolved
prints a warning and changes nothing: a card mistake never fails the step.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterator

from ..exceptions import ArtiflowException
from .base import MetaflowCardComponent, new_component_id


class CardUsageError(ArtiflowException):
    """`current.card` was used where there is no card."""

    headline = "Invalid use of current.card"


def warn(message: str) -> None:
    """A card warning, on the task's stderr."""
    sys.stderr.write(f"[@card WARNING] {message}\n")
    sys.stderr.flush()


class CardComponents:
    """The components of one card, in order; what `current.card["id"]` returns."""

    def __init__(self, card_type: str, card_id: str | None) -> None:
        self.card_type, self.card_id = card_type, card_id
        self._components: dict[str, Any] = {}
        self.user_data: Any = None

    def append(self, component: Any, id: str | None = None) -> None:
        """Add a component (a MetaflowCardComponent) to this card."""
        if not isinstance(component, MetaflowCardComponent):
            warn(f"{component!r} ({type(component).__name__}) is not a card component, so it was not added to the "
                 f"{self.card_type} card. Wrap it, e.g. Markdown(str(x)) or Artifact(x) from artiflow.cards.")
            return
        key = id if id is not None else (component.component_id or new_component_id(component))
        component.component_id = key
        self._components[key] = component

    def extend(self, components: list) -> None:
        """Add several components."""
        for component in components:
            self.append(component)

    def clear(self) -> None:
        """Remove every component."""
        self._components.clear()

    def refresh(self, data: Any = None, force: bool = False) -> None:
        """Keep `data` for the card's data update (realtime updates are not shown while a task runs)."""
        self.user_data = data

    @property
    def components(self) -> dict[str, Any]:
        """The components by id."""
        return self._components

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._components.values()))

    def __len__(self) -> int:
        return len(self._components)

    def __repr__(self) -> str:
        return f"<components of the {self.card_type} card: {', '.join(self._components) or 'none'}>"


class CardEntry:
    """One @card of the task: its decorator attributes, its class (None if unknown) and its components."""

    def __init__(self, key: int, attributes: dict, card_id: str | None, cls: Any) -> None:
        self.key, self.attributes, self.card_id, self.cls = key, attributes, card_id, cls
        self.components = CardComponents(attributes["type"], card_id)

    @property
    def editable(self) -> bool:
        return bool(self.cls is not None and self.cls.ALLOW_USER_COMPONENTS)

    @property
    def customize(self) -> bool:
        return str(self.attributes.get("customize")) == "True"


class CardCollector:
    """`current.card` inside a task whose step has @card."""

    def __init__(self, step: str) -> None:
        self._step = step
        self._entries: list[CardEntry] = []
        self._default: CardEntry | None | bool = False   # False: not resolved yet
        self._by_id: dict[str, CardEntry] = {}
        self._warned: set[str] = set()
        self._quiet = os.environ.get("METAFLOW_CARD_NO_WARNING", os.environ.get("ARTIFLOW_CARD_NO_WARNING", "")) \
            .lower() in ("1", "true", "yes")
        self.created_at = time.time()

    # -- set up by the decorators ---------------------------------------------------------------------
    def _add(self, key: int, attributes: dict, card_id: str | None, cls: Any) -> CardEntry:
        entry = CardEntry(key, attributes, card_id, cls)
        self._entries.append(entry)
        self._default = False
        return entry

    def _entry(self, key: int) -> CardEntry | None:
        return next((e for e in self._entries if e.key == key), None)

    def _warn_once(self, topic: str, message: str) -> None:
        if topic not in self._warned and not self._quiet:
            self._warned.add(topic)
            warn(message)

    def _resolve(self) -> CardEntry | None:
        if self._default is not False:
            return self._default  # type: ignore[return-value]
        ids: dict[str, list[CardEntry]] = {}
        for entry in self._entries:
            if entry.card_id is not None:
                ids.setdefault(entry.card_id, []).append(entry)
        self._by_id = {cid: found[0] for cid, found in ids.items() if len(found) == 1}
        duplicates = sorted(cid for cid, found in ids.items() if len(found) > 1)
        if duplicates:
            self._warn_once("dup", f"Step '{self._step}' has several @card with id {', '.join(duplicates)}: "
                                   f"current.card[id] cannot tell them apart. Give each card its own id.")
        editable = [e for e in self._entries if e.editable]
        chosen: CardEntry | None = None
        if len(editable) == 1:
            chosen = editable[0]
        elif editable:
            without_id = [e for e in editable if e.card_id is None]
            chosen = without_id[0] if len(without_id) == 1 else None
            customized = [e for e in editable if e.customize]
            if len(customized) == 1:
                chosen = customized[0]
            elif len(customized) > 1:
                self._warn_once("customize", f"Step '{self._step}' has several @card(customize=True); only one "
                                             "may have it, so current.card.append ignores them all.")
        self._default = chosen
        return chosen

    def _why_no_default(self) -> str:
        if len(self._entries) == 1:
            entry = self._entries[0]
            if entry.cls is None:
                return f"its only card has type {entry.attributes['type']!r}, which does not exist"
            return (f"its only card, of type {entry.attributes['type']!r}, is not editable; use an editable type "
                    "(default, blank) or give the card an id and use current.card[id]")
        return ("it has several editable cards and current.card cannot choose one; give the cards ids and use "
                "current.card[id].append(...), or mark one with @card(customize=True)")

    # -- the user's API -------------------------------------------------------------------------------
    def append(self, component: Any, id: str | None = None) -> None:
        """Add a component to the step's default editable card."""
        target = self._resolve()
        if target is None:
            self._warn_once("append", f"current.card.append in step '{self._step}' added nothing: "
                                      f"{self._why_no_default()}.")
            return
        target.components.append(component, id=id)

    def extend(self, components: list) -> None:
        """Add several components to the default editable card."""
        for component in components:
            self.append(component)

    def clear(self) -> None:
        """Remove the components of the default editable card."""
        target = self._resolve()
        if target is not None:
            target.components.clear()

    def refresh(self, data: Any = None, force: bool = False) -> None:
        """Record data for the default editable card's data update (no live view while the task runs)."""
        target = self._resolve()
        if target is not None:
            target.components.refresh(data, force)

    @property
    def components(self) -> dict[str, Any]:
        """The components of the default editable card, by id (empty if there is none)."""
        target = self._resolve()
        return target.components.components if target is not None else {}

    def get(self, type: str | None = None) -> list[CardComponents]:
        """The component lists of every card of this type (one per @card of that type)."""
        return [e.components for e in self._entries if e.attributes["type"] == type]

    def __getitem__(self, card_id: str) -> CardComponents | list:
        """The card with this id; for an unknown id a warning, and a list that goes nowhere."""
        self._resolve()
        entry = self._by_id.get(card_id)
        if entry is not None:
            return entry.components
        known = ", ".join(sorted(self._by_id)) or "none"
        self._warn_once(f"id:{card_id}", f"current.card[{card_id!r}] in step '{self._step}': no @card has "
                                         f"id={card_id!r} (card ids here: {known}). What is appended to it is "
                                         f"dropped; add @card(id={card_id!r}) to the step.")
        return []

    def __setitem__(self, card_id: str, components: list) -> None:
        """Replace the components of the card with this id."""
        self._resolve()
        entry = self._by_id.get(card_id)
        if entry is None or not isinstance(components, list):
            self._warn_once(f"set:{card_id}", f"current.card[{card_id!r}] = ... in step '{self._step}' did nothing: "
                                              "it needs an existing card id and a list of components.")
            return
        entry.components.clear()
        entry.components.extend(components)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{e.attributes['type']}" + (f"[{e.card_id}]" if e.card_id else "") for e in self._entries)
        return f"<current.card of step '{self._step}': {kinds}>"


class NoCards:
    """`current.card` where there is no card: every use says why and what to do."""

    def __init__(self, step: str | None) -> None:
        self._step = step

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        if self._step is None:
            raise CardUsageError("current.card is only available while a step runs (inside a task of a flow run), "
                                 "and only in steps that have @card. Use it in a @card step's body.")
        raise CardUsageError(f"current.card is used in step '{self._step}', which has no @card decorator. Add "
                             f"@card (e.g. @card(type='blank')) above @step for '{self._step}', or run with "
                             "--with card.")

    append = extend = clear = refresh = get = __getitem__ = __setitem__ = _fail

    @property
    def components(self) -> Any:
        return self._fail()

    def __repr__(self) -> str:
        return "<current.card (no @card here)>"
