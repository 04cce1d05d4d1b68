"""Make `import metaflow` resolve to artiflow, for running flows written for Metaflow unchanged."""

from __future__ import annotations

import sys
import types


def install_metaflow_alias() -> None:
    """Register `metaflow` and the submodules flows import as aliases of artiflow's modules."""
    import artiflow
    from artiflow import client, exceptions, parameters
    from artiflow.current import Current, current

    current_mod = types.ModuleType("metaflow.metaflow_current")
    current_mod.current = current  # type: ignore[attr-defined]
    current_mod.Current = Current  # type: ignore[attr-defined]
    aliases = {
        "metaflow": artiflow,
        "metaflow.exception": exceptions,
        "metaflow.metaflow_current": current_mod,
        "metaflow.client": client,
        "metaflow.parameters": parameters,
    }
    sys.modules.update(aliases)
