"""Make `import metaflow` (and the `metaflow.*` modules flows import) resolve to artiflow.

The launcher (`artiflow flow.py ...`, `python -m artiflow flow.py ...`) installs the alias, so flows
written for Metaflow run unchanged. Each Metaflow module path maps to the artiflow module that
provides its names; a path is imported only when a flow imports it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# Metaflow module path -> the artiflow module that stands for it. Packages of Metaflow whose
# submodules flows import by name (metaflow.plugins.*) are listed one by one.
MODULES = {
    "metaflow": "artiflow",
    "metaflow.exception": "artiflow.exceptions",
    "metaflow.metaflow_current": "artiflow.current",
    "metaflow.client": "artiflow.client",
    "metaflow.client.core": "artiflow.client",
    "metaflow.parameters": "artiflow.parameters",
    "metaflow.user_configs": "artiflow.plugins",  # an empty package in Metaflow: any package stands for it
    "metaflow.user_configs.config_parameters": "artiflow.configs",
    "metaflow.flowspec": "artiflow.flowspec",
    "metaflow.decorators": "artiflow.decorators",
    "metaflow.runner": "artiflow.runner",
    "metaflow.runner.metaflow_runner": "artiflow.runner.core",
    "metaflow.runner.nbrun": "artiflow.runner.nbrun",
    "metaflow.plugins": "artiflow.plugins",
    "metaflow.plugins.timeout_decorator": "artiflow.plugins",
    "metaflow.plugins.catch_decorator": "artiflow.plugins",
    "metaflow.plugins.retry_decorator": "artiflow.plugins",
    "metaflow.plugins.environment_decorator": "artiflow.plugins",
    "metaflow.plugins.parallel_decorator": "artiflow.plugins",
    "metaflow.plugins.test_unbounded_foreach_decorator": "artiflow.plugins",
    "metaflow.cards": "artiflow.cards",
    "metaflow.plugins.cards": "artiflow.cards",
    "metaflow.plugins.cards.card_client": "artiflow.cards.client",
    "metaflow.plugins.cards.exception": "artiflow.cards.exceptions",
    "metaflow.plugins.cards.card_modules": "artiflow.cards",
    "metaflow.plugins.cards.card_modules.card": "artiflow.cards.base",
    "metaflow.plugins.cards.card_modules.components": "artiflow.cards.components",
    "metaflow.plugins.cards.card_modules.basic": "artiflow.cards.builtin",
    "metaflow.plugins.cards.card_modules.test_cards": "artiflow.cards.testing",
}


class _AliasLoader(importlib.abc.Loader):
    """Loads a `metaflow.*` name by importing the artiflow module behind it and registering it."""

    def __init__(self, module) -> None:  # noqa: ANN001 - any module
        self.module = module
        self.own_spec = module.__spec__

    def create_module(self, spec):  # noqa: ANN001 - importlib's signature
        return self.module

    def exec_module(self, module) -> None:  # noqa: ANN001 - already executed by its own import
        module.__spec__ = self.own_spec  # importlib set the alias's spec on it: give it back its own


class _MetaflowFinder(importlib.abc.MetaPathFinder):
    """Finds `metaflow` and the listed `metaflow.*` modules in artiflow (only while installed)."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib's signature
        target_name = MODULES.get(fullname)
        if target_name is None:
            return None
        module = importlib.import_module(target_name)
        is_package = hasattr(module, "__path__")
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module), is_package=is_package)


_FINDER = _MetaflowFinder()


def install_metaflow_alias() -> None:
    """Let `import metaflow` and `import metaflow.<listed module>` resolve to artiflow's modules."""
    import artiflow

    sys.modules.setdefault("metaflow", artiflow)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
