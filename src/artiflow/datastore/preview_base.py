"""What every preview maker shares: the preview's envelope, its bounds, and bounded reprs.

See datastore/preview.py for what a preview is and how one is made.
"""

from __future__ import annotations

import collections
import reprlib
import sys
from itertools import islice
from typing import Any

from .preview_guard import PreviewTimeout

VERSION = 1
TIME_LIMIT = 0.05        # seconds a preview that may run other code gets
MAX_BYTES = 96 * 1024    # a preview's JSON, UTF-8
SUMMARY_CHARS = 120      # the one-line summary
TEXT_CHARS = 2000        # a text's head, an object's repr
ITEMS = 20               # items of a sequence or mapping shown
ITEM_CHARS = 200         # the repr of one item
HEAD_BYTES = 384         # bytes shown of a binary value (as a hex/ascii dump)
MAX_INT_BITS = 14_000    # past this an int's digits are not written out (~4,200 digits; Python's own limit is 4,300)


def library_type(value: Any, module: str, *names: str) -> str | None:
    """Which of `module`'s classes `names` the value is an instance of (None if its library is not loaded)."""
    lib = sys.modules.get(module)
    if lib is None:
        return None
    return next((name for name in names if isinstance(value, getattr(lib, name, ()))), None)


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def one_line(text: str, limit: int = SUMMARY_CHARS) -> str:
    """`text` on one line (runs of whitespace made one space), cut to `limit`."""
    return cut(" ".join(text[: limit * 4].split()), limit)


def qualified_name(cls: type) -> str:
    """A type as users write it: `int`, `collections.OrderedDict`, `mymodule.Model`."""
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def unavailable(reason: str) -> dict[str, Any]:
    """The preview of a value that could not be described, saying why."""
    reason = one_line(reason, 300)
    return {"v": VERSION, "kind": "unavailable", "summary": cut(f"no preview: {reason}", SUMMARY_CHARS),
            "reason": reason}


def preview_of(kind: str, summary: str, **fields: Any) -> dict[str, Any]:
    """A preview of `kind` with its one-line summary and its kind's fields."""
    return {"v": VERSION, "kind": kind, "summary": one_line(summary), **fields}


# -- bounded reprs ------------------------------------------------------------------------------------
class NeedsGuard(Exception):
    """The inline pass met a value whose repr may run other code: start again under the time limit."""


PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict,
                   collections.deque})


class BoundedRepr(reprlib.Repr):
    """reprlib with bounded work whatever the value: sets and dicts are not sorted, huge ints not written out.

    `plain_only`: meeting anything but a builtin scalar or container raises NeedsGuard (the inline pass).
    """

    def __init__(self, limit: int, plain_only: bool) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, limit, limit, limit
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdeque = 8
        self.maxdict, self.maxarray = 6, 8
        self.plain_only = plain_only

    def repr1(self, x: Any, level: int) -> str:
        if self.plain_only and type(x) not in PLAIN:
            raise NeedsGuard
        return super().repr1(x, level)

    def repr_int(self, x: int, level: int) -> str:
        return int_text(x, self.maxlong)

    def repr_set(self, x: Any, level: int) -> str:
        return self._repr_iterable(x, level, "{", "}", self.maxset) if x else f"{type(x).__name__}()"

    def repr_frozenset(self, x: Any, level: int) -> str:
        return self._repr_iterable(x, level, "frozenset({", "})", self.maxfrozenset) if x else "frozenset()"

    def repr_dict(self, x: Any, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}" for k, v in islice(x.items(), self.maxdict)]
        return "{" + ", ".join(pieces + (["..."] if len(x) > self.maxdict else [])) + "}"

    def repr_instance(self, x: Any, level: int) -> str:
        return cut(repr(x), self.maxother)


PLAIN_ITEM = BoundedRepr(ITEM_CHARS, plain_only=True)
ANY_ITEM = BoundedRepr(ITEM_CHARS, plain_only=False)
ANY_TEXT = BoundedRepr(TEXT_CHARS, plain_only=False)


def int_text(value: int, limit: int = TEXT_CHARS) -> str:
    """An int's digits (cut to `limit`), or its size in bits when it is too long to write out."""
    if value.bit_length() > MAX_INT_BITS:
        return f"<an int of {value.bit_length():,} bits>"
    return cut(int.__repr__(value), limit)


def item_text(value: Any, shortener: BoundedRepr) -> str:
    """The bounded repr of one item; a repr that raises is named, not raised (but NeedsGuard is)."""
    try:
        return shortener.repr(value)
    except (NeedsGuard, PreviewTimeout):
        raise
    except Exception as exc:  # noqa: BLE001 - an item's broken __repr__ must not lose the whole preview
        return f"<{qualified_name(type(value))}: repr raised {type(exc).__name__}>"
