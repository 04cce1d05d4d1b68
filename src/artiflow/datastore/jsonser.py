"""The JSON serializer: small JSON-native values stored as plain JSON so any tool can read the blob."""

from __future__ import annotations

import json
import math
from typing import Any

# Beyond these, JSON costs more than pickle by more than a save's fixed cost (~90 us), so pickle wins:
# JSON is 2-3x slower than pickle for ints/strs and ~25x for floats (repr and parsing of floats).
MAX_NODES = 1_000
MAX_FLOATS = 100
MAX_CHARS = 1_000_000  # total characters of strings and keys
MAX_INT_BITS = 2048  # ~617 digits: under the smallest limit sys.set_int_max_str_digits allows (640)
_SCALARS = (type(None), bool)


class JsonSerializer:
    """Strict JSON (RFC 8259, ASCII) for str/int/float/bool/None and lists/dicts of them.

    Exact round trips only: types are matched exactly (no subclasses, tuples, non-str keys), floats
    must be finite (NaN and infinities are not JSON), and a list or dict that appears twice (shared
    or cyclic) goes to pickle, which keeps the sharing. Lone surrogates survive as \\u escapes.
    """

    name = "json"

    def can_serialize(self, value: Any) -> bool:
        """Whether `value` is JSON-native and small, checked in one bounded pass."""
        return is_json_native(value)

    def dumps(self, value: Any) -> list[bytes]:
        """Compact ASCII JSON."""
        text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        return [text.encode("ascii")]

    def loads(self, data: memoryview) -> Any:
        """Parse the JSON blob."""
        return json.loads(bytes(data))


def is_json_native(value: Any) -> bool:
    """True if the value is a small tree of exact JSON types that round-trips through JSON exactly."""
    stack, seen = [value], set()
    nodes = chars = floats = 0
    while stack:
        item = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return False
        kind = type(item)
        if kind is str:
            chars += len(item)
        elif kind is float:
            floats += 1
            if floats > MAX_FLOATS or not math.isfinite(item):
                return False
        elif kind is int:
            if item.bit_length() > MAX_INT_BITS:
                return False
        elif kind is list or kind is dict:
            if id(item) in seen or nodes + len(stack) + len(item) > MAX_NODES:
                return False
            seen.add(id(item))
            if kind is list:
                stack.extend(item)
            else:
                for key in item:
                    if type(key) is not str:
                        return False
                    chars += len(key)
                stack.extend(item.values())
        elif kind not in _SCALARS:
            return False
        if chars > MAX_CHARS:
            return False
    return True
