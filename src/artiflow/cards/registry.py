"""Card types by name: the built-in ones, the suite's test types, your own, and extension packages.

Register a type of your own with `register_card(MyCard)` (or `@register_card` on the class) in the
flow file or a module it imports. Card packages installed as `metaflow_extensions.<org>.plugins.cards.<pkg>`
(a `CARDS = [...]` list) are found too; one that fails to import is skipped, as in Metaflow.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from typing import Any

from .base import MetaflowCard

TYPE_PATTERN = re.compile(r"^[a-zA-Z0-9_]+$")

_registered: dict[str, type[MetaflowCard]] = {}
_cache: dict[str, type[MetaflowCard]] | None = None
_skipped: list[str] = []


def register_card(cls: type[MetaflowCard]) -> type[MetaflowCard]:
    """Make a card type usable as `@card(type=cls.type)`; returns the class (usable as a decorator)."""
    global _cache
    if not (isinstance(cls, type) and issubclass(cls, MetaflowCard)):
        raise TypeError(f"register_card takes a subclass of MetaflowCard, not {cls!r}.")
    if not isinstance(cls.type, str) or not TYPE_PATTERN.match(cls.type):
        raise ValueError(f"Card class {cls.__name__} needs a `type` of letters, digits and _ (got {cls.type!r}).")
    _registered[cls.type] = cls
    _cache = None
    return cls


def _namespace_children(paths: list[str]) -> list[str]:
    """Names of the sub-folders of a (namespace) package that can be imported: namespace ones too."""
    names: dict[str, None] = {}
    for folder in paths:
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.isidentifier() and os.path.isdir(os.path.join(folder, entry)):
                names.setdefault(entry, None)
    return list(names)


def _card_modules(cards_pkg: Any) -> list[Any]:
    """The modules of one `plugins.cards` package that may hold a CARDS list."""
    if getattr(cards_pkg, "__file__", None):  # a regular package: its __init__ lists the cards
        return [cards_pkg]
    names = [m.name for m in pkgutil.iter_modules(cards_pkg.__path__, cards_pkg.__name__ + ".")
             if m.ispkg or m.name.rsplit(".", 1)[-1].startswith("mfextinit_")]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except Exception as exc:  # a broken card package must not break the others
            _skipped.append(f"{name} ({type(exc).__name__}: {exc})")
    return modules


def _extension_cards() -> list[type[MetaflowCard]]:
    """Card classes from `metaflow_extensions.<org>.plugins.cards` packages, if any are installed."""
    try:
        import metaflow_extensions  # type: ignore[import-not-found]
    except Exception:
        return []
    found: list[type[MetaflowCard]] = []
    for org in _namespace_children(list(getattr(metaflow_extensions, "__path__", []))):
        try:
            cards_pkg = importlib.import_module(f"metaflow_extensions.{org}.plugins.cards")
        except Exception:
            continue
        for module in _card_modules(cards_pkg):
            cards = getattr(module, "CARDS", None)
            if isinstance(cards, list):
                found += [c for c in cards if isinstance(c, type) and issubclass(c, MetaflowCard)
                          and isinstance(getattr(c, "type", None), str)]
    return found


def card_types() -> dict[str, type[MetaflowCard]]:
    """Every known card type by name (built once per process; a later register_card is included)."""
    global _cache
    if _cache is None:
        from .builtin import BUILTIN_CARDS
        from .testing import TEST_CARDS

        table: dict[str, type[MetaflowCard]] = {}
        for cls in [*BUILTIN_CARDS, *TEST_CARDS, *_extension_cards()]:
            table.setdefault(cls.type, cls)  # type: ignore[arg-type]
        table.update(_registered)
        _cache = table
    return _cache


def get_card_class(card_type: str) -> type[MetaflowCard] | None:
    """The class of a card type, or None when no such type is known."""
    return card_types().get(card_type)


def unknown_type_message(card_type: Any, step: str) -> str:
    """What to tell a user whose @card names a type that does not exist."""
    known = ", ".join(sorted(t for t in card_types() if not t.startswith("test_") and t != "error"))
    hint = f" Card packages that failed to import: {'; '.join(_skipped)}." if _skipped else ""
    return (f"@card(type={card_type!r}) on step '{step}': no card type is named {card_type!r}. Known types: "
            f"{known}. A type of your own must be registered with artiflow.cards.register_card(MyCard) in the "
            f"flow file or a module it imports.{hint}")
