"""What every client object shares: the stores of this process, the namespace, small helpers."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator

from ..config import Config, load_config
from ..exceptions import ConfigError
from ..datastore import ContentStore, open_store
from ..metadata import open_metadata

_UNSET = object()
_namespace: Any = _UNSET
_contexts: dict[tuple, Context] = {}


@dataclass
class Context:
    """The configuration, metadata store and content store one client object reads from."""

    config: Config
    meta: Any
    store: ContentStore

    def has_metadata(self) -> bool:
        """False when the local metadata file does not exist yet (nothing was ever run here)."""
        path = getattr(self.meta, "path", None)
        return path is None or path.exists()

    def where(self) -> str:
        """Where the metadata lives, for error messages."""
        return str(getattr(self.meta, "path", self.config.metadata_url))


def get_context() -> Context:
    """The stores for the current configuration, opened once per process and configuration."""
    config = load_config()
    cache_key = (os.getpid(), config.datastore_root, config.metadata_url)
    context = _contexts.get(cache_key)
    if context is None:
        context = Context(config, open_metadata(config.metadata_url), open_store(config.datastore_root))
        _contexts[cache_key] = context
    return context


def clear_cache() -> None:
    """Forget the opened stores (tests, or after the configuration changed)."""
    for context in _contexts.values():
        close = getattr(context.meta, "close", None)
        if close is not None:
            close()
    _contexts.clear()


# -- namespaces ---------------------------------------------------------------------------------
def namespace(ns: str | None) -> str | None:
    """Set the namespace the client sees (`None`: every run); returns it."""
    global _namespace
    _namespace = ns
    return ns


def get_namespace() -> str | None:
    """The current namespace: `user:<user>` unless `namespace()` changed it."""
    if _namespace is _UNSET:
        return f"user:{load_config().user}"
    return _namespace


def default_namespace() -> str:
    """Reset the namespace to the current user's (`user:<user>`) and return it."""
    global _namespace
    _namespace = f"user:{load_config().user}"
    return _namespace


@contextlib.contextmanager
def using_namespace(ns: str | None) -> Iterator[None]:
    """Temporarily see another namespace (the CLI sees every run)."""
    global _namespace
    saved = _namespace
    _namespace = ns
    try:
        yield
    finally:
        _namespace = saved


def is_visible(run_row: dict[str, Any], ns: str | None) -> bool:
    """Whether a run is in namespace `ns`: one of its tags or system tags, or `ns` is None."""
    return ns is None or ns in run_row["tags"] or ns in run_row["system_tags"]


# -- helpers --------------------------------------------------------------------------------------
def to_datetime(timestamp: float | None) -> datetime | None:
    """An epoch timestamp as a naive local datetime (as Metaflow's client returns them)."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp)


def listing(items: Iterable[Any], limit: int = 20, tail: bool = False) -> str:
    """`a, b, c`, or `none` when empty; past `limit` items, the first (or with `tail`, last) ones."""
    items = [str(item) for item in items]
    if not items:
        return "none"
    if len(items) <= limit:
        return ", ".join(items)
    more = f"... ({len(items) - limit} more)"
    if tail:
        return ", ".join([more, *items[-limit:]])
    return ", ".join([*items[:limit], more])


# -- the metadata provider (Metaflow's get_metadata / metadata / default_metadata) -------------
def get_metadata() -> str:
    """Where the client reads metadata from, as Metaflow prints it: `local@<path>`."""
    url = load_config().metadata_url
    return f"local@{url[len('sqlite:///'):]}" if url.startswith("sqlite:///") else url


def metadata(ms: str) -> str:
    """Choose the metadata provider: only `local` (or `local@<.artiflow folder>`) exists here."""
    kind, _, where = ms.partition("@")
    if kind != "local":
        raise ConfigError(f"metadata({ms!r}): artiflow reads local metadata only (SQLite); use 'local'.")
    if where:
        os.environ["ARTIFLOW_ROOT"] = where
    return get_metadata()


def default_metadata() -> str:
    """Go back to the configured metadata provider and return it."""
    return get_metadata()
