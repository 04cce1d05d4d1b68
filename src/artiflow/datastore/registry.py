"""The public plug-in point for storage backends: a URL scheme names the `Storage` factory of a datastore root.

A backend registers itself in-process (`register_storage`) or, from its own package, through an entry point
in the `artiflow.storage` group (name: the scheme; value: `module:factory`). Entry points are only read
when a root with a scheme no one registered is opened, so local runs never pay for the lookup.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from ..exceptions import ConfigError

if TYPE_CHECKING:
    from ..config import Config
    from .storage import Storage

ENTRY_POINT_GROUP = "artiflow.storage"
StorageFactory = Callable[[str, "Config"], "Storage"]
# what every backend must have; the gc methods are optional (see gc.require_gc_support)
REQUIRED_METHODS = ("exists", "put", "get", "quarantine", "quarantined_copies", "batch", "describe")
SCHEME_PATTERN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")  # as storage.URL_SCHEME, with the scheme as a group
REGISTER_HINT = (f"A package adds a scheme with an entry point in the '{ENTRY_POINT_GROUP}' group (name: the scheme, "
                 f"value: 'module:factory', where factory(root, config) returns a Storage), or in-process with "
                 f"artiflow.datastore.registry.register_storage(scheme, factory); see docs/storage.md.")

_factories: dict[str, StorageFactory] = {}


def register_storage(scheme: str, factory: StorageFactory) -> None:
    """Make roots `<scheme>://...` open with `factory(root, config)`; a later registration replaces an earlier one."""
    if not SCHEME_PATTERN.fullmatch(f"{scheme}://"):
        raise ValueError(f"{scheme!r} is not a URL scheme (letters, digits, '+', '-', '.'; a letter first)")
    if not callable(factory):
        raise TypeError(f"the storage factory for {scheme}:// must be callable, not {type(factory).__name__}")
    _factories[scheme.lower()] = factory


def unregister_storage(scheme: str) -> None:
    """Forget the factory registered in this process for `scheme` (an entry point would be found again)."""
    _factories.pop(scheme.lower(), None)


def scheme_of(root: str) -> str | None:
    """The URL scheme of a datastore root, lower-cased (`s3`), or None for a plain path."""
    match = SCHEME_PATTERN.match(root)
    return match.group(1).lower() if match else None


def open_registered(root: str, config: Config | None = None) -> Storage:
    """The backend for a root with a scheme: registered, else found by entry point; checked to be a Storage."""
    scheme = scheme_of(root)
    if scheme is None:
        raise ValueError(f"{root!r} has no URL scheme")
    factory = _factories.get(scheme) or _entry_point_factory(scheme, root)
    if config is None:
        from ..config import load_config

        config = load_config(root)
    storage = factory(root, config)
    _check_storage(storage, scheme)
    return storage


def known_schemes() -> list[str]:
    """Every scheme a root may use here: the built-in ones, those registered, those of installed entry points."""
    return sorted({"file", *_factories, *(ep.name.lower() for ep in _entry_points())})


def _entry_point_factory(scheme: str, root: str) -> StorageFactory:
    """Load the factory an installed package declares for `scheme`; a ConfigError naming the choices if none does."""
    found = [ep for ep in _entry_points() if ep.name.lower() == scheme]
    if not found:
        raise ConfigError(
            f"The datastore root {root} uses the scheme '{scheme}://', which no installed storage backend "
            f"provides. Known schemes: {', '.join(s + '://' for s in known_schemes())} (or a plain folder path). "
            f"Check ARTIFLOW_DATASTORE_ROOT (or METAFLOW_DATATOOLS_S3ROOT), or install the package that provides "
            f"'{scheme}://'. {REGISTER_HINT}")
    entry = found[0]
    try:
        factory = entry.load()
    except Exception as exc:
        raise ConfigError(f"The storage backend for '{scheme}://' (entry point {entry.name} = {entry.value} in "
                          f"group '{ENTRY_POINT_GROUP}') could not be loaded: {type(exc).__name__}: {exc}. "
                          f"Reinstall or fix the package that declares it.") from exc
    register_storage(scheme, factory)
    return factory


def _entry_points() -> list[Any]:
    """The installed `artiflow.storage` entry points (importlib.metadata is imported only now: it is slow)."""
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _check_storage(storage: Any, scheme: str) -> None:
    """Refuse a factory result that lacks Storage methods, naming them (a plug-in author's mistake)."""
    missing = [name for name in REQUIRED_METHODS if not callable(getattr(storage, name, None))]
    if missing:
        raise ConfigError(f"The storage backend for '{scheme}://' returned a {type(storage).__name__}, which lacks "
                          f"the Storage method(s) {', '.join(missing)}. Every backend needs "
                          f"{', '.join(REQUIRED_METHODS)}; see docs/storage.md.")


def _open_s3(root: str, config: Config) -> Storage:
    """The built-in S3 backend, registered like any other (its module, and boto3, load on first use)."""
    from .s3 import S3Storage

    return S3Storage.from_root(root, config)


register_storage("s3", _open_s3)
