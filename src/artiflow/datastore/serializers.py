"""The serializer registry: how an artifact value becomes bytes and back.

A serializer is chosen per value (the first registered one that accepts it, by priority); its name
is recorded with the artifact so the value is always read back by the serializer that wrote it.
"""

from __future__ import annotations

import pickle
from typing import Any, Iterable, Protocol


class Serializer(Protocol):
    """What a serializer plugin provides: `name`, `can_serialize`, `dumps`, `loads`."""

    name: str

    def can_serialize(self, value: Any) -> bool: ...

    def dumps(self, value: Any) -> Iterable[bytes | memoryview]: ...

    def loads(self, data: memoryview) -> Any: ...


class PickleSerializer:
    """The default: any picklable value, pickle protocol 5."""

    name = "pickle"

    def can_serialize(self, value: Any) -> bool:
        return True

    def dumps(self, value: Any) -> list[bytes]:
        return [pickle.dumps(value, protocol=5)]

    def loads(self, data: memoryview) -> Any:
        return pickle.loads(data)


_registry: list[tuple[int, Serializer]] = []


def register_serializer(serializer: Serializer, priority: int = 100) -> None:
    """Add a serializer; lower priority values are tried first, pickle (1000) comes last."""
    unregister_serializer(serializer.name)
    _registry.append((priority, serializer))
    _registry.sort(key=lambda item: item[0])


def unregister_serializer(name: str) -> None:
    _registry[:] = [item for item in _registry if item[1].name != name]


def serializer_for(value: Any) -> Serializer:
    for _, serializer in _registry:
        if serializer.can_serialize(value):
            return serializer
    raise LookupError("no serializer accepts this value")  # unreachable while pickle is registered


def serializer_named(name: str) -> Serializer:
    for _, serializer in _registry:
        if serializer.name == name:
            return serializer
    raise KeyError(
        f"No serializer named {name!r} is registered in this process; the artifact was written by a "
        f"plugin that must be imported (and registered) before it can be read."
    )


register_serializer(PickleSerializer(), priority=1000)
