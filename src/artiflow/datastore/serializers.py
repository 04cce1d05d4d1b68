"""The serializer registry: how an artifact value becomes bytes and back.

A serializer is chosen per value (the first registered one that accepts it, by priority); its name
is recorded with the artifact so the value is always read back by the serializer that wrote it.
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol

from .arrowser import ArrowSerializer
from .jsonser import JsonSerializer
from .pickling import PickleSerializer


class Serializer(Protocol):
    """What a serializer plugin provides: `name`, `can_serialize`, `dumps`, `loads` (see docs/serializers.md)."""

    name: str  # recorded with each artifact; never rename a serializer whose blobs must stay readable

    def can_serialize(self, value: Any) -> bool:
        """Whether this serializer takes the value; cheap, called for every artifact saved."""
        ...

    def dumps(self, value: Any) -> Iterable[bytes | memoryview]:
        """The blob as chunks, written in order; views of the value's own memory avoid copies."""
        ...

    def loads(self, data: memoryview) -> Any:
        """The value back from the blob's bytes (writable, possibly a private memory map: slice, don't copy)."""
        ...


_registry: list[tuple[int, Serializer]] = []


def register_serializer(serializer: Serializer, priority: int = 100) -> None:
    """Add a serializer; lower priority values are tried first, pickle (1000) comes last."""
    unregister_serializer(serializer.name)
    _registry.append((priority, serializer))
    _registry.sort(key=lambda item: item[0])


def unregister_serializer(name: str) -> None:
    """Remove the serializer with this name (its blobs become unreadable until it is registered again)."""
    _registry[:] = [item for item in _registry if item[1].name != name]


def serializer_for(value: Any) -> Serializer:
    """The first serializer, by priority, that accepts the value."""
    for _, serializer in _registry:
        if serializer.can_serialize(value):
            return serializer
    raise LookupError("no serializer accepts this value")  # unreachable while pickle is registered


def serializer_named(name: str) -> Serializer:
    """The serializer recorded in an artifact's ref, to read it back."""
    for _, serializer in _registry:
        if serializer.name == name:
            return serializer
    raise KeyError(
        f"No serializer named {name!r} is registered in this process; the artifact was written by a "
        f"plugin that must be imported (and registered) before it can be read."
    )


register_serializer(ArrowSerializer("arrow", "Table"), priority=200)
register_serializer(ArrowSerializer("arrow_batch", "RecordBatch"), priority=200)
register_serializer(JsonSerializer(), priority=500)
register_serializer(PickleSerializer(), priority=1000)
