"""The metadata store: the index of everything a run did (SQLite by default)."""

from __future__ import annotations

from ..exceptions import ConfigError
from .sqlite import SQLiteMetadata


def open_metadata(url: str) -> SQLiteMetadata:
    """The metadata store for a URL: `sqlite:///path` (PostgreSQL comes in a later release)."""
    if url.startswith("sqlite:///"):
        return SQLiteMetadata(url[len("sqlite:///"):])
    raise ConfigError(
        f"The metadata URL {url!r} is not supported by this version of artiflow; use sqlite:///PATH "
        f"(the default, under ARTIFLOW_ROOT)."
    )


__all__ = ["SQLiteMetadata", "open_metadata"]
