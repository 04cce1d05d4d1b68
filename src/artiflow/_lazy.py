"""Lazy re-exports for a package's `__init__` (PEP 562): names are imported on first use, not up front.

This keeps `import artiflow` (and so every `python -m artiflow flow.py`) cheap: a flow run does not
load the client, a client read does not load the runtime, and neither loads what it does not use.
"""

import sys


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]], submodules: tuple[str, ...] = ()):
    """The module-level `__getattr__` and `__dir__` for `package`.

    `exports` maps a submodule (relative, like ".client") to the names the package re-exports from it;
    each is imported on first access, then kept in the package's namespace. `submodules` can be
    reached as attributes without being imported first, as when the package imported them eagerly.
    """
    namespace = vars(sys.modules[package])
    origin = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        import importlib

        if name in origin:
            value = getattr(importlib.import_module(origin[name], package), name)
            namespace[name] = value
            return value
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *origin, *submodules})

    return __getattr__, __dir__
