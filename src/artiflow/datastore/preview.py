"""Artifact previews: a small JSON description of a value, made when a task saves it, kept with its metadata.

The web UI shows artifacts from their previews and never unpickles a stored value. A preview is made from
the value the task holds (no read), keyed by the blob's content key, and bounded: at most MAX_BYTES of
JSON, about TIME_LIMIT seconds to make. Builtin values (and containers of them) are described here, at
a bounded cost by construction (a few microseconds for a small one); anything that may run other code (a
custom __repr__, a DataFrame's cells, an image's resizing) runs under preview_guard's time limit. Making
a preview never raises: a failure is a preview of kind "unavailable" saying why.
Every string in a preview is plain text (escaping is the reader's job). Kinds: docs/concepts.md.
pandas, numpy, PIL and pyarrow are never imported here: a value can only be theirs when they are loaded.
"""

from __future__ import annotations

import collections
import json
import time
from itertools import islice
from typing import Any, Callable

from . import preview_image, preview_libs
from .preview_base import (ANY_ITEM, HEAD_BYTES, ITEMS, MAX_BYTES, PLAIN_ITEM, SUMMARY_CHARS, TEXT_CHARS, TIME_LIMIT,
                           BoundedRepr, NeedsGuard, cut, int_text, item_text, plural, preview_of, qualified_name,
                           unavailable)
from .preview_guard import HelpersBusy, PreviewTimeout, run_limited

TASK_BUDGET = 1.0  # seconds one task spends on previews at most (then: "unavailable")


# -- the kinds of builtin values ----------------------------------------------------------------------
def _none(value: None, _: BoundedRepr) -> dict[str, Any]:
    return preview_of("none", "None")


def _bool(value: Any, _: BoundedRepr) -> dict[str, Any]:
    return preview_of("bool", str(bool(value)), text=repr(value))


def _number(value: Any, _: BoundedRepr) -> dict[str, Any]:
    text = int_text(value) if isinstance(value, int) else cut(repr(value), TEXT_CHARS)
    return preview_of("number", f"{qualified_name(type(value))}: {text}", text=text)


def _text(value: str, _: BoundedRepr) -> dict[str, Any]:
    head = str.__getitem__(value, slice(0, TEXT_CHARS))
    return preview_of("text", f"str, {len(value):,} chars: {head[:SUMMARY_CHARS * 2]}", text=head, length=len(value))


def _bytes(value: Any, shortener: BoundedRepr) -> dict[str, Any]:
    data = bytes(value[:HEAD_BYTES]) if len(value) > HEAD_BYTES else bytes(value)
    mime = preview_image.image_mime(data)
    if mime is not None:
        if shortener.plain_only and preview_image.pillow_loaded():
            raise NeedsGuard  # Pillow makes the thumbnail: under the time limit
        return preview_image.bytes_preview(bytes(value), mime)
    text = dump(data)
    name = qualified_name(type(value))
    return preview_of("text", f"{name}, {len(value):,} bytes: {text[:SUMMARY_CHARS * 2]}", text=text,
                      length=len(value))


def dump(data: bytes) -> str:
    """Bytes as text: decoded when they are printable UTF-8, else a hex and ASCII dump of 16 bytes a line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and (text.isprintable() or all(c.isprintable() or c in "\n\r\t" for c in text)):
        return text
    lines = []
    for at in range(0, len(data), 16):
        row = data[at:at + 16]
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{at:06x}  {row.hex(' '):<47}  {ascii_}")
    return "\n".join(lines)


SEQUENCE_TYPES = ((list, "list"), (tuple, "tuple"), (set, "set"), (frozenset, "frozenset"),
                  (collections.deque, "deque"))


def _sequence(value: Any, shortener: BoundedRepr) -> dict[str, Any]:
    name = next(label for cls, label in SEQUENCE_TYPES if isinstance(value, cls))
    items = [item_text(item, shortener) for item in islice(value, ITEMS)]
    more = ", …" if len(value) > ITEMS else ""
    return preview_of("sequence", f"{name} of {plural(len(value), 'item')}: {', '.join(items[:10])}{more}",
                      type=name, length=len(value), items=items)


def _mapping(value: Any, shortener: BoundedRepr) -> dict[str, Any]:
    items = [[item_text(k, shortener), item_text(v, shortener)] for k, v in islice(dict.items(value), ITEMS)]
    shown = ", ".join(f"{k}: {v}" for k, v in items[:10]) + (", …" if len(value) > ITEMS else "")
    name = qualified_name(type(value))
    return preview_of("mapping", f"{name} of {plural(len(value), 'key')}: {shown}", type=name, length=len(value), items=items)


def _object(value: Any, _: BoundedRepr) -> dict[str, Any]:
    name = qualified_name(type(value))
    try:
        text = cut(repr(value), TEXT_CHARS)
    except PreviewTimeout:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's __repr__ is broken: say so
        return unavailable(f"repr raised {type(exc).__name__}: {exc}")
    return preview_of("object", f"{name}: {text[:SUMMARY_CHARS * 2]}", type=name, text=text)


INLINE: dict[type, Callable[[Any, BoundedRepr], dict[str, Any]]] = {
    type(None): _none, bool: _bool, int: _number, float: _number, complex: _number, str: _text, bytes: _bytes,
    bytearray: _bytes, list: _sequence, tuple: _sequence, set: _sequence, frozenset: _sequence,
    collections.deque: _sequence, dict: _mapping,
}


def _any(value: Any) -> dict[str, Any]:
    """The preview of any value (run under the time limit): library kinds, builtin subclasses, objects."""
    made = preview_libs.library_preview(value)
    if made is not None:
        return made
    if isinstance(value, bool):
        return _bool(value, ANY_ITEM)
    for cls, maker in ((int, _number), (float, _number), (complex, _number), (str, _text), (bytes, _bytes),
                       (bytearray, _bytes), (dict, _mapping), (list, _sequence), (set, _sequence),
                       (frozenset, _sequence), (collections.deque, _sequence)):
        if isinstance(value, cls):
            return maker(value, ANY_ITEM)
    return _object(value, ANY_ITEM)  # a tuple subclass (a namedtuple) too: its own repr says more


# -- making one, and its JSON -------------------------------------------------------------------------
def make_preview(value: Any, limit: float = TIME_LIMIT) -> dict[str, Any]:
    """The preview of a value; never raises (a failure is a preview of kind "unavailable")."""
    try:
        maker = INLINE.get(type(value))
        if maker is not None:
            try:
                return maker(value, PLAIN_ITEM)
            except NeedsGuard:
                pass  # an item is not plain: its repr may run other code
        else:
            inline = preview_libs.bounded_library_preview(value)
            if inline is not None:
                return inline
        if preview_image.pillow_loaded():
            preview_image.prepare_pillow()
        return run_limited(_any, value, limit)
    except PreviewTimeout as exc:
        return unavailable(f"making it {exc} (a slow __repr__?)")
    except HelpersBusy as exc:
        return unavailable(f"{exc}; this one was not tried")
    except Exception as exc:  # noqa: BLE001 - a preview that fails never fails the task
        return unavailable(f"making it raised {type(exc).__name__}: {exc}")


ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode(preview: dict[str, Any]) -> str:
    """A preview as stored: JSON text of at most MAX_BYTES, valid UTF-8 (lone surrogates replaced)."""
    try:
        text = ENCODER.encode(preview)
    except (TypeError, ValueError) as exc:  # not JSON (a bug in a kind): say so rather than store it
        return ENCODER.encode(unavailable(f"its preview is not JSON ({exc})"))
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
        size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        return ENCODER.encode(unavailable(f"its preview would be {size:,} bytes, over the {MAX_BYTES:,} allowed"))
    return text


class PreviewCollector:
    """The previews of the values a task saves, by content key (each made once), within the task's time budget."""

    def __init__(self, budget: float = TASK_BUDGET) -> None:
        self.previews: dict[str, str] = {}
        self.budget = budget
        self.spent = 0.0

    def add(self, key: str, value: Any) -> None:
        """Make and keep the preview of `value`, stored under `key`, unless it has one already."""
        if key in self.previews:
            return
        if self.spent >= self.budget:
            preview = unavailable(f"the task spent its {self.budget:g} s for previews on earlier artifacts")
        else:
            start = time.perf_counter()
            preview = make_preview(value, min(TIME_LIMIT, self.budget - self.spent))
            self.spent += time.perf_counter() - start
        self.previews[key] = encode(preview)

    def take(self) -> dict[str, str]:
        """The previews made so far (key -> JSON text); the collector starts empty again."""
        taken, self.previews = self.previews, {}
        return taken

