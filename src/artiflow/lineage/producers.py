"""Which tasks first produced each artifact a task ends with (computed by the scheduler, from keys only)."""

from __future__ import annotations

from typing import Iterable, Mapping

from ..datastore import ArtifactRef
from .records import Producers


def output_producers(task: str, artifacts: Mapping[str, ArtifactRef], params: Mapping[str, ArtifactRef],
                     inputs: Iterable[tuple[Mapping[str, ArtifactRef], Mapping[str, Producers]]]) -> dict[str, Producers]:
    """Per artifact of `task`: the producers of the same value in its inputs, or the task itself.

    A value that came in unchanged (the same content key under the same name) keeps the producers it
    had; several inputs with that value (a merge in a join) give all of theirs, in input order. A
    parameter (or constant, config) has none: it is a root. Anything else was produced by `task`.
    """
    inputs = list(inputs)
    found: dict[str, Producers] = {}
    for name, ref in artifacts.items():
        param = params.get(name)
        if param is not None and param.key == ref.key:
            found[name] = ()
            continue
        merged: list[str] = []
        for refs, producers in inputs:
            came = refs.get(name)
            if came is not None and came.key == ref.key:
                merged.extend(p for p in producers.get(name, ()) if p not in merged)
        found[name] = tuple(merged) or (task,)
    return found
