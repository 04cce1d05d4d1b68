"""The metadata store: the index of everything a run did (SQLite by default).

Code outside this package names the `MetadataStore` protocol and the records (metadata.records),
never a backend; `open_metadata(url)` picks the backend.
"""

from __future__ import annotations

from .._lazy import lazy_exports
from ..exceptions import ConfigError

# typing.TYPE_CHECKING without importing typing: `import artiflow` imports this package.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .base import MetadataStore
    from .postgres import PostgresMetadata
    from .sqlite import SQLiteMetadata


def open_metadata(url: str) -> MetadataStore:
    """The metadata store for a URL: `sqlite:///path`, or `postgresql://user:password@host:port/database`."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteMetadata

        return SQLiteMetadata(url[len("sqlite:///"):])
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresMetadata  # psycopg is imported by the store, saying how to install it

        return PostgresMetadata(url)
    raise ConfigError(
        f"The metadata URL {_without_password(url)!r} is not supported by this version of artiflow; use "
        f"sqlite:///PATH (the default, under ARTIFLOW_ROOT) or postgresql://USER:PASSWORD@HOST:PORT/DATABASE."
    )


def _without_password(url: str) -> str:
    """A URL as it may be shown (`scheme://user:***@host/...`)."""
    from .postgres import redact

    return redact(url)


__all__ = ["MetadataStore", "PostgresMetadata", "SQLiteMetadata", "open_metadata"]

# the protocol and the backends (with sqlite3, and the datastore they refer to) are imported on first use
__getattr__, __dir__ = lazy_exports(__name__, {".base": ("MetadataStore",), ".postgres": ("PostgresMetadata",),
                                                ".sqlite": ("SQLiteMetadata",)})
del lazy_exports
