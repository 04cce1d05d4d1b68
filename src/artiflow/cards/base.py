"""The two base classes of the card system: a card type (`MetaflowCard`) and a component.

A card type turns a finished task into one HTML page; a component is one piece of a page that
`current.card.append(...)` adds. Both keep Metaflow's names so that existing card modules work.
"""

from __future__ import annotations

import uuid
from typing import Any


class MetaflowCard:
    """A card type: subclass it, set `type`, implement `render(task) -> str` (an HTML page).

    `options` come from `@card(options=...)`; `components` are the rendered components that
    `current.card` collected for this card (HTML fragments or dicts); `graph` describes the flow's
    steps. Set `ALLOW_USER_COMPONENTS = True` to make the type editable with `current.card.append`.
    """

    type: str | None = None
    ALLOW_USER_COMPONENTS = False
    RUNTIME_UPDATABLE = False
    RELOAD_POLICY_NEVER = "never"
    RELOAD_POLICY_ALWAYS = "always"
    RELOAD_POLICY_ONCHANGE = "onchange"
    RELOAD_POLICY = RELOAD_POLICY_NEVER
    RELOAD_POLICY_TOKEN = "[METAFLOW_RELOAD_TOKEN]"
    scope = "task"
    runtime_data: Any = None

    def __init__(self, options: dict | None = None, components: list | None = None, graph: Any = None,
                 flow: Any = None, **kwargs: Any) -> None:
        self.options = dict(options or {})
        self.components = list(components or [])
        self.graph = graph

    def render(self, task: Any) -> str:
        """The card's HTML for a finished task (override this)."""
        raise NotImplementedError(f"card type {self.type!r} does not implement render(task)")

    def render_runtime(self, task: Any, data: dict) -> str:
        """The card's HTML while the task runs (realtime cards only)."""
        raise NotImplementedError()

    def refresh(self, task: Any, data: dict) -> Any:
        """The card's data update (JSON-able), stored with the card and returned by `Card.get_data()`."""
        raise NotImplementedError()

    def reload_content_token(self, task: Any, data: dict) -> str:
        """A token that changes when a viewer should reload the card."""
        return "content-token"


class MetaflowCardComponent:
    """One piece of a card: `render()` returns an HTML fragment (a str) or a JSON-able dict."""

    REALTIME_UPDATABLE = False
    _component_id: str | None = None

    @property
    def component_id(self) -> str | None:
        """The id of the component inside its card (set by `append(component, id=...)` or generated)."""
        return self._component_id

    @component_id.setter
    def component_id(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"A component id is a string, not {type(value).__name__} {value!r}.")
        self._component_id = value

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Change the component's content (components that support it override this)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be updated")

    def render(self) -> str | dict:
        """The component as an HTML fragment (override this)."""
        raise NotImplementedError()


def new_component_id(component: Any) -> str:
    """A short unique id for a component, from its class name."""
    return f"{type(component).__name__.lower()}_{uuid.uuid4().hex[:6]}"
