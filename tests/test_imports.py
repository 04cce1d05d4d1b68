"""`import artiflow` stays cheap: public names are imported on first use, and still resolve as before."""

import subprocess
import sys


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code`."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_artiflow_loads_no_client_runtime_or_datastore():
    loaded = loaded_after("import artiflow")
    assert not {m for m in loaded if m.startswith(("artiflow.client", "artiflow.datastore", "artiflow.runtime"))}
    assert not loaded & {"artiflow.flowspec", "sqlite3", "dataclasses", "tempfile", "pickle", "json", "typing"}


def test_a_flow_imports_no_client_and_a_client_read_no_flowspec():
    flow = loaded_after("from artiflow import FlowSpec, step")
    assert not {m for m in flow if m.startswith("artiflow.client")} and "sqlite3" not in flow
    client = loaded_after("from artiflow import Flow")
    assert not client & {"artiflow.flowspec", "artiflow.decorators", "artiflow.graph", "click"}


def test_public_names_resolve_whatever_was_imported_first():
    code = """
import artiflow.metadata, artiflow.runtime.task   # the subpackage and module named like public names
import artiflow
from artiflow.client.context import metadata
from artiflow.current import Current
assert artiflow.metadata is metadata and isinstance(artiflow.current, Current)
for name in artiflow.__all__:
    assert getattr(artiflow, name) is not None and name in dir(artiflow), name
assert artiflow.client.Flow is artiflow.Flow and artiflow.datastore.register_serializer is artiflow.register_serializer
"""
    loaded_after(code)
