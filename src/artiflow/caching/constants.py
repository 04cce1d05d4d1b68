"""Deterministic byte encodings of the values a step's code reads (module-level constants and the like).

Plain data, numpy arrays and scalars, enums, namedtuples, dataclasses, partials, paths, typing
constructs, compiled regexes and loggers encode by content, the same in every process (sets do not
depend on the hash seed). Code inside a value is named by the fingerprint walk, which also follows it.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import sys
import types
from dataclasses import fields, is_dataclass
from pathlib import PurePath
from typing import Any, Callable

import xxhash

SCALARS = (type(None), bool, int, float, complex, str, bytes)


class Unhashable(Exception):
    """A value without a deterministic encoding: `obj` is the culprit (maybe nested in the value), `what` says it."""

    def __init__(self, obj: Any, what: str | None = None) -> None:
        self.obj, self.what = obj, what or a_type(obj)
        super().__init__(self.what)


def type_name(kind: type) -> str:
    """`int` for a builtin type, else `module.QualName`."""
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def a_type(obj: Any) -> str:
    """The type of `obj` with its article, for messages: "a sqlite3.Connection", "an int"."""
    name = type_name(type(obj))
    return f"{'an' if name[:1].lower() in 'aeio' else 'a'} {name}"


class ValueEncoder:
    """Encodes values canonically; code in them (functions, classes, modules) is named by the given callbacks."""

    def __init__(self, code_identity: Callable[[Any], str | None], module_identity: Callable[[types.ModuleType], str],
                 root: str | None) -> None:
        self.code_identity = code_identity        # a stable name for a value that is code, else None
        self.module_identity = module_identity    # a stable name for a module
        self.root = root                          # the flow's folder: paths under it encode as relative

    def encode(self, value: Any) -> bytes:
        """The canonical bytes of `value`; raises Unhashable when it (or something in it) has none."""
        return self._encode(value, ())

    def _encode(self, value: Any, stack: tuple[int, ...]) -> bytes:
        """Plain data, order-stable: sets sorted by their elements' encodings; dicts in insertion order."""
        kind = type(value)
        if kind in SCALARS:
            return _encode_scalar(value)
        if id(value) in stack:
            raise Unhashable(value, f"{a_type(value)} that contains itself")
        stack = (*stack, id(value))
        if kind in (list, tuple, set, frozenset):
            parts = [self._encode(v, stack) for v in value]
            tag = {list: b"l", tuple: b"t", set: b"S", frozenset: b"Z"}[kind]
            return tag + b"%d;" % len(parts) + b"".join(sorted(parts) if kind in (set, frozenset) else parts)
        if kind is dict:  # insertion order is kept: iterating a dict shows it
            return b"d%d;" % len(value) + b"".join(self._encode(k, stack) + self._encode(v, stack)
                                                   for k, v in value.items())
        return self._encode_object(value, stack)

    def _encode_object(self, value: Any, stack: tuple[int, ...]) -> bytes:
        """Values with a deterministic content beyond plain data; anything else is unhashable."""
        if isinstance(value, types.ModuleType):
            return b"M" + self._encode(self.module_identity(value), stack)
        identity = self.code_identity(value)
        if identity is not None:
            return b"C" + self._encode(identity, stack)
        if isinstance(value, enum.Enum):
            return b"E" + self._encode((type(value), value.name), stack)
        if type(value).__module__ == "numpy":
            return _encode_numpy(value)
        if isinstance(value, tuple) and hasattr(type(value), "_fields"):  # a namedtuple
            return b"U" + self._encode((type(value), tuple(value)), stack)
        if is_dataclass(value):
            return b"D" + self._encode((type(value), [(f.name, getattr(value, f.name)) for f in fields(value)]), stack)
        if isinstance(value, functools.partial):
            return b"Q" + self._encode((value.func, value.args, value.keywords), stack)
        if isinstance(value, PurePath):
            return b"P" + self._encode(self._path_text(value), stack)
        if type(value).__module__ == "typing":  # Optional[int], NewType(...): their repr is their definition
            return b"Y" + self._encode(repr(value), stack)
        if isinstance(value, re.Pattern):
            return b"R" + self._encode((value.pattern, value.flags), stack)
        logging = sys.modules.get("logging")
        if logging is not None and isinstance(value, logging.Logger):
            return b"L" + self._encode(value.name, stack)  # logging does not change results
        raise Unhashable(value)

    def _path_text(self, path: PurePath) -> str:
        """A path under the flow's folder as relative (moving the folder keeps the fingerprint), else as written."""
        rel = os.path.relpath(path, self.root) if self.root and path.is_absolute() else os.pardir
        return str(path) if rel.startswith(os.pardir) else "<flow folder>/" + rel.replace(os.sep, "/")


def _encode_scalar(value: Any) -> bytes:
    """None, bool, int, float, complex, str, bytes: tagged, unambiguous bytes."""
    if value is None or isinstance(value, bool):
        return {None: b"N", True: b"T", False: b"F"}[value]
    if isinstance(value, int):
        return b"i%d;" % value
    if isinstance(value, float):
        return b"f" + value.hex().encode() + b";"
    if isinstance(value, complex):
        return b"c" + value.real.hex().encode() + b"," + value.imag.hex().encode() + b";"
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return (b"s" if isinstance(value, str) else b"b") + b"%d;" % len(data) + data


def _encode_numpy(value: Any) -> bytes:
    """A numpy array or scalar: its type, dtype, shape and the digest of its bytes."""
    import numpy

    if not isinstance(value, (numpy.ndarray, numpy.generic)):
        raise Unhashable(value)
    array = numpy.ascontiguousarray(value)
    if array.dtype.hasobject:
        raise Unhashable(value, f"{a_type(value)} of Python objects")
    header = f"{type(value).__name__}|{array.dtype.str}|{array.dtype}|{array.shape};".encode()
    return b"A" + header + xxhash.xxh3_128(memoryview(array).cast("B") if array.size else b"").digest()
