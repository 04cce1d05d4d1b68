"""What every client object shares: the stores of this process, the namespace, small helpers."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..config import Config, load_config
from ..exceptions import ConfigError
from ..datastore import ContentStore, open_store
from ..metadata import open_metadata

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from ..metadata.records import RunRecord

_UNSET = object()
_namespace: Any = _UNSET
_contexts: dict[tuple, Context] = {}
_run_stores: dict[tuple, ContentStore] = {}  # (pid, root) -> the store of runs recorded on another datastore


class Context:
    """The configuration, metadata store and content store one client object reads from.

    A run's objects read through `for_run(run)`: the content store of the datastore root recorded with the
    run (opened when first used, with this reader's settings: S3 endpoint, credentials), or this one.
    """

    def __init__(self, config: Config, meta: MetadataStore, store: ContentStore | None = None,
                 store_root: str | None = None, base: Context | None = None) -> None:
        self.config = config
        self.meta = meta
        self._store = store
        self._store_root = store_root  # the root to open `store` from, when it was not given
        self._base = base  # a run's context: the reader's own one, which it was made from
        self._of_root: dict[str | None, Context] = {}  # the reader's: the context of each recorded root seen

    @property
    def store(self) -> ContentStore:
        """The content store blobs are read from."""
        if self._store is None:
            self._store = _store_of(self._store_root or self.config.datastore_root, self.config)
        return self._store

    def for_run(self, run: RunRecord) -> Context:
        """The context a run's artifacts, logs and cards are read through: on the datastore root recorded with the
        run, if it has one this machine can reach; else the reader's own (a run recorded before roots were)."""
        from ..datastore.roots import readable_root, recorded_root

        base = self._base or self
        found = base._of_root.get(run.datastore_root)
        if found is None:
            root = readable_root(run.datastore_root)
            same = root is None or root == recorded_root(base.config.datastore_root)
            found = base._of_root[run.datastore_root] = base if same else Context(base.config, base.meta,
                                                                                  store_root=root, base=base)
        return found

    def has_metadata(self) -> bool:
        """False when the metadata store holds nothing yet (e.g. the local file was never made: nothing ran here)."""
        return self.meta.exists()

    def where(self) -> str:
        """Where the metadata lives, for error messages."""
        return self.meta.describe()


def get_context() -> Context:
    """The stores for the current configuration, opened once per process and configuration."""
    config = load_config()
    cache_key = (os.getpid(), config.datastore_root, config.metadata_url)
    context = _contexts.get(cache_key)
    if context is None:
        context = Context(config, open_metadata(config.metadata_url), open_store(config.datastore_root, config))
        _contexts[cache_key] = context
    return context


def _store_of(root: str, config: Config) -> ContentStore:
    """The content store of a run's recorded root, opened once per process and root."""
    key = (os.getpid(), root)
    store = _run_stores.get(key)
    if store is None:
        store = _run_stores[key] = open_store(root, config)
    return store


def clear_cache() -> None:
    """Forget the opened stores (tests, or after the configuration changed)."""
    for context in _contexts.values():
        context.meta.close()
    _contexts.clear()
    _run_stores.clear()


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


def is_visible(run_row: RunRecord, ns: str | None) -> bool:
    """Whether a run is in namespace `ns`: one of its tags or system tags, or `ns` is None."""
    return ns is None or ns in run_row.tags or ns in run_row.system_tags


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
    """Where the client reads metadata from, as Metaflow prints it: `local@<path>` (a server's URL: no password)."""
    url = load_config().metadata_url
    if url.startswith("sqlite:///"):
        return f"local@{url[len('sqlite:///'):]}"
    from ..metadata.postgres import redact

    return redact(url)


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
