"""Card types and a component used by Metaflow's test suite (`metaflow.plugins.cards.card_modules.test_cards`).

Each type does one thing a test checks: renders the pathspec, joins the components it received,
fails, or sleeps past its timeout.
"""

from __future__ import annotations

import random
import string
import time
from typing import Any

from .base import MetaflowCard, MetaflowCardComponent

SEPARATOR = "$&#!!@*"


class TestStringComponent(MetaflowCardComponent):
    """A component that renders as its text."""

    REALTIME_UPDATABLE = True

    def __init__(self, text: Any) -> None:
        self._text = text

    def render(self) -> str:
        return str(self._text)

    def update(self, text: Any) -> None:
        self._text = text


class TestPathSpecCard(MetaflowCard):
    """The task's pathspec and a random suffix (so two such cards differ)."""

    type = "test_pathspec_card"

    def render(self, task: Any) -> str:
        suffix = "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(6))
        return f"{task.pathspec} {suffix}"


class _JoinedComponents(MetaflowCard):
    separator = SEPARATOR

    def __init__(self, components: list | None = None, **kwargs: Any) -> None:
        super().__init__(components=components, **kwargs)

    def render(self, task: Any) -> str:
        return self.separator.join(str(c) for c in self.components)


class TestEditableCard(_JoinedComponents):
    """Editable: the components appended to it, joined."""

    type = "test_editable_card"
    ALLOW_USER_COMPONENTS = True


class TestEditableCard2(_JoinedComponents):
    """A second editable type."""

    type = "test_editable_card_2"
    ALLOW_USER_COMPONENTS = True


class TestNonEditableCard(_JoinedComponents):
    """Not editable by `current.card.append`, but reachable by id."""

    type = "test_non_editable_card"


class TestMockCard(MetaflowCard):
    """The value of the artifact named by `options["key"]`."""

    type = "test_mock_card"

    def __init__(self, options: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = (options or {}).get("key", "dummy_key")

    def render(self, task: Any) -> str:
        return str(task[self._key].data)


class TestErrorCard(MetaflowCard):
    """Always fails to render."""

    type = "test_error_card"

    def render(self, task: Any) -> str:
        raise Exception("Unknown Things Happened")


class TestTimeoutCard(MetaflowCard):
    """Sleeps `options["timeout"]` seconds (default 10) before rendering the pathspec."""

    type = "test_timeout_card"

    def __init__(self, options: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._timeout = (options or {}).get("timeout", 10)

    def render(self, task: Any) -> str:
        time.sleep(self._timeout)
        return str(task.pathspec)


TEST_CARDS = [TestPathSpecCard, TestEditableCard, TestEditableCard2, TestNonEditableCard, TestMockCard,
              TestErrorCard, TestTimeoutCard]
