"""The metadata store: the index of everything a run did (SQLite by default)."""

from __future__ import annotations

from .._lazy import lazy_exports
from ..exceptions import ConfigError

# typing.TYPE_CHECKING without importing typing: `import artiflow` imports this package.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .sqlite import SQLiteMetadata


def open_metadata(url: str) -> SQLiteMetadata:
    """The metadata store for a URL: `sqlite:///path` (PostgreSQL comes in a later release)."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteMetadata

        return SQLiteMetadata(url[len("sqlite:///"):])
    raise ConfigError(
        f"The metadata URL {url!r} is not supported by this version of artiflow; use sqlite:///PATH "
        f"(the default, under ARTIFLOW_ROOT)."
    )


__all__ = ["SQLiteMetadata", "open_metadata"]

# SQLiteMetadata (with sqlite3, and the datastore it refers to) is imported on first use.
__getattr__, __dir__ = lazy_exports(__name__, {".sqlite": ("SQLiteMetadata",)})
del lazy_exports
