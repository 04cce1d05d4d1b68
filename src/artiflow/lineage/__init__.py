"""Lineage: what each task read, who produced each value, lineage graphs, code snapshots and run diffs."""

from .records import Producers, Read

__all__ = ["Producers", "Read"]
