"""`@card`: after the step ends, render a card (an HTML report of the task) and store it with the task.

    @card                                   # the default card: the task's parameters and artifacts
    @card(type="blank", id="plots")         # several cards per step, told apart by id
    @step
    def train(self):
        current.card["plots"].append(Image.from_matplotlib(fig))

Also `run --with card` (a default card on every step). The decorator works in the task's own process
(its task hooks); rendering is in render.py, `current.card` in collector.py.
"""

from __future__ import annotations

from typing import Any

from ..current import current
from ..decorators import DECORATORS, DecoratorError, StepDecorator, _make


class CardDecorator(StepDecorator):
    """Render a card after the step: @card(type="default", id=None, options={}, timeout=45)."""

    name = "card"
    defaults = {"type": "default", "id": None, "options": {}, "timeout": 45, "save_errors": True,
                "customize": False, "scope": "task", "rank": None, "refresh_interval": 5}
    allow_multiple = True

    def validate(self) -> None:
        a = self.attributes
        if not isinstance(a["type"], str) or not a["type"].strip():
            raise DecoratorError(f"@card(type=...) names a card type as a string (e.g. 'default', 'blank'), "
                                 f"not {a['type']!r}.")
        if a["id"] is not None and not isinstance(a["id"], str):
            raise DecoratorError(f"@card(id=...) must be a string of letters, digits and _, not {a['id']!r}.")
        if not isinstance(a["options"], dict):
            raise DecoratorError(f"@card(options=...) must be a dict of the card type's options, not {a['options']!r}.")
        timeout = a["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise DecoratorError(f"@card(timeout=...) is the most seconds rendering may take: a number above 0, "
                                 f"not {timeout!r}.")

    def task_pre_step(self, hooks: Any) -> None:
        """Register this card on `current.card` (created by the step's first @card)."""
        from .collector import CardCollector, warn
        from .registry import TYPE_PATTERN, get_card_class, unknown_type_message

        step = hooks.spec.step
        collector = current._info.get("card")
        if not isinstance(collector, CardCollector):
            collector = CardCollector(step)
            current._info["card"] = collector
        card_type, card_id = self.attributes["type"], self.attributes["id"]
        if card_id is not None and not TYPE_PATTERN.match(card_id):
            warn(f"@card(id={card_id!r}) on step '{step}': an id may only have letters, digits and _, so this "
                 f"card has no id and current.card[{card_id!r}] will not reach it. Rename it, e.g. "
                 f"{''.join(c if c.isalnum() else '_' for c in card_id)!r}.")
            card_id = None
        cls = get_card_class(card_type)
        if cls is None:
            warn(unknown_type_message(card_type, step))
        collector._add(id(self), self.attributes, card_id, cls)

    def task_post_step(self, hooks: Any, ok: bool) -> None:
        """Render and store the card when the step succeeded (a failed step gets no card)."""
        from .collector import CardCollector
        from .render import create_card
        from .task_view import TaskView

        collector = current._info.get("card")
        if not ok or not isinstance(collector, CardCollector):
            return
        entry = collector._entry(id(self))
        if entry is None:
            return
        view = getattr(collector, "_task_view", None)
        if view is None:
            view = collector._task_view = TaskView(hooks.flow, hooks.spec, hooks.store)  # type: ignore[attr-defined]
        try:
            create_card(entry, hooks, view)
        except Exception as exc:  # noqa: BLE001 - storing a card must never fail the task
            from .collector import warn

            warn(f"the {entry.attributes['type']} card of {hooks.spec.pathspec} could not be stored: "
                 f"{type(exc).__name__}: {exc}")


card = _make(CardDecorator)
DECORATORS[CardDecorator.name] = CardDecorator  # so that `run --with card` finds it
