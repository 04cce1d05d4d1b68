"""What lineage records: the artifacts a task read, and which tasks first produced each value.

A producer is a task pathspec (`Flow/run/step/task`). A value passed along unchanged keeps its
producers; a value a join merged from several branches has all of theirs. Parameters, constants,
configs and included files have no producer: they are the roots of every lineage graph.
"""

from __future__ import annotations

from dataclasses import dataclass

Producers = tuple[str, ...]

ARTIFACT = "artifact"    # read through self (or a join input) from a parent task
PARAMETER = "parameter"  # a parameter, constant, config or included file: a root
CLIENT = "client"        # read through the client (Flow(...)['...'].data.x) inside a step
FOREACH = "foreach"      # this branch's own element of a foreach's list (self.input): `key` is the list's


@dataclass(frozen=True)
class Read:
    """One artifact a task read: its name, content key, who first produced the value, and how it was read.

    `source` is the artifact's own pathspec when it was read through the client (another run's, say).
    """

    name: str
    key: str
    producers: Producers = ()
    kind: str = ARTIFACT
    source: str | None = None

    def to_json(self) -> list:
        return [self.name, self.key, list(self.producers), self.kind, self.source]

    @classmethod
    def from_json(cls, item: list) -> Read:
        name, key, producers, kind, source = item
        return cls(name, key, tuple(producers), kind, source)
