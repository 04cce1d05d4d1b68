"""Pathspecs (`Flow/run/step/task/artifact` and its prefixes): parsing and lookup by depth."""

from __future__ import annotations

from typing import Any

from ..exceptions import ArtiflowException

KINDS = ("flow", "run", "step", "task", "artifact")
SHAPE = "Flow/run/step/task/artifact"


class InvalidPathspec(ArtiflowException):
    """A pathspec that does not have the shape its object needs."""

    headline = "Invalid pathspec"


# Metaflow's name for the same error.
MetaflowInvalidPathspec = InvalidPathspec


def split(pathspec: str) -> list[str]:
    """The components of a pathspec (a trailing slash is ignored); errors on empty components."""
    if not isinstance(pathspec, str):
        raise InvalidPathspec(f"A pathspec is a string like {SHAPE}, not {type(pathspec).__name__} {pathspec!r}.")
    parts = pathspec.strip().rstrip("/").split("/")
    if any(not part for part in parts):
        raise InvalidPathspec(f"Pathspec {pathspec!r} has an empty component; it looks like {SHAPE} "
                              f"(or a prefix of it, e.g. HelloFlow/3/start).")
    if len(parts) > len(KINDS):
        raise InvalidPathspec(f"Pathspec {pathspec!r} has {len(parts)} components; at most {len(KINDS)} "
                              f"are possible: {SHAPE}.")
    return parts


def parse(pathspec: str, kind: str) -> list[str]:
    """The components of a pathspec that must address an object of this kind."""
    parts = split(pathspec)
    depth = KINDS.index(kind) + 1
    if len(parts) != depth:
        example = "/".join(SHAPE.split("/")[:depth])
        raise InvalidPathspec(f"Pathspec {pathspec!r} does not name a {kind}: a {kind} pathspec has "
                              f"{depth} component{'s' if depth > 1 else ''}, {example}.")
    return parts


def kind_of(pathspec: str) -> str:
    """What a pathspec addresses: flow, run, step, task or artifact."""
    return KINDS[len(split(pathspec)) - 1]


def from_pathspec(pathspec: str) -> Any:
    """The client object (Flow, Run, Step, Task or DataArtifact) a pathspec addresses."""
    from .flow import Flow, Run
    from .task import DataArtifact, Step, Task

    classes = {"flow": Flow, "run": Run, "step": Step, "task": Task, "artifact": DataArtifact}
    return classes[kind_of(pathspec)](pathspec.strip().rstrip("/"))
