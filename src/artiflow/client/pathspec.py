"""Pathspecs (`Flow/run/step/task/artifact` and its prefixes): parsing and lookup by depth."""

from __future__ import annotations

from typing import Any

from ..exceptions import ArtiflowException, quoted, shown

KINDS = ("flow", "run", "step", "task", "artifact")
SHAPE = "Flow/run/step/task/artifact"
MAX_ID = 2**63 - 1  # the largest run or task id the metadata store can hold


class InvalidPathspec(ArtiflowException):
    """A pathspec that does not have the shape its object needs."""

    headline = "Invalid pathspec"


# Metaflow's name for the same error.
MetaflowInvalidPathspec = InvalidPathspec


def run_number(run_id: object) -> int | None:
    """The run number an id stands for (`3`, `"3"`); None for anything else (`"x"`, `"-1"`, too large)."""
    if isinstance(run_id, str):
        text = run_id.strip()
        run_id = int(text) if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID)) else None
    if isinstance(run_id, bool) or not isinstance(run_id, int):
        return None
    return run_id if 0 <= run_id <= MAX_ID else None


def split(pathspec: str) -> list[str]:
    """The components of a pathspec (a trailing slash is ignored); errors on empty components."""
    if not isinstance(pathspec, str):
        raise InvalidPathspec(f"A pathspec is a string like {SHAPE}, not {type(pathspec).__name__} "
                              f"{quoted(pathspec)}.")
    parts = pathspec.strip().rstrip("/").split("/")
    if any(not part for part in parts):
        raise InvalidPathspec(f"Pathspec {quoted(pathspec)} has an empty component; it looks like {SHAPE} "
                              f"(or a prefix of it, e.g. HelloFlow/3/start).")
    if len(parts) > len(KINDS):
        raise InvalidPathspec(f"Pathspec {quoted(pathspec)} has {len(parts)} components; at most {len(KINDS)} "
                              f"are possible: {SHAPE}.")
    odd = next((part for part in parts if not part.isprintable()), None)
    if odd is not None:
        raise InvalidPathspec(f"Pathspec {quoted(pathspec)} has a control or invisible character in "
                              f"{quoted(odd)}; names and ids in a pathspec are plain text, like {SHAPE}.")
    return parts


def parse(pathspec: str, kind: str) -> list[str]:
    """The components of a pathspec that must address an object of this kind."""
    parts = split(pathspec)
    depth = KINDS.index(kind) + 1
    if len(parts) != depth:
        example = "/".join(SHAPE.split("/")[:depth])
        raise InvalidPathspec(f"Pathspec {quoted(pathspec)} does not name a {kind}: a {kind} pathspec has "
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
