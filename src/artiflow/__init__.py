"""artiflow: data and ML pipelines with Metaflow's API, fast local runs and content-addressed artifacts."""

from ._lazy import lazy_exports
from .current import current
from .exceptions import (
    ArtiflowException,
    MetaflowException,
    MetaflowNamespaceMismatch,
    MetaflowNotFound,
    MissingInMergeArtifactsException,
    UnhandledInMergeArtifactsException,
)

# `artiflow.metadata` names both a subpackage and Metaflow's metadata() function, and must mean the
# function. Python binds a subpackage on its parent when it first imports it, so import it now (it is
# light) and drop that binding: later imports leave the name alone, and it resolves lazily below.
from . import metadata
del metadata

__version__ = "0.1.0"

__all__ = [
    "ArtiflowException", "DataArtifact", "Flow", "FlowSpec", "IncludeFile", "JSONType", "Metaflow",
    "MetaflowException", "MetaflowNamespaceMismatch", "MetaflowNotFound", "MissingInMergeArtifactsException",
    "Parameter", "Run", "Step", "Task", "UnhandledInMergeArtifactsException", "current", "default_namespace",
    "catch", "default_metadata", "environment", "get_metadata", "get_namespace", "metadata", "merge_artifacts", "namespace", "register_serializer", "resources",
    "project", "retry", "schedule", "step", "timeout", "trigger", "trigger_on_finish",
]

# The other public names are imported on first use (see _lazy), as are the submodules that
# `import artiflow` used to import as a side effect.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".client": (
            "DataArtifact", "Flow", "Metaflow", "Run", "Step", "Task", "default_metadata", "default_namespace",
            "get_metadata", "get_namespace", "metadata", "namespace",
        ),
        ".datastore": ("register_serializer",),
        ".decorators": ("catch", "environment", "resources", "retry", "timeout"),
        ".flow_decorators": ("project", "schedule", "trigger", "trigger_on_finish"),
        ".flowspec": ("FlowSpec", "step"),
        ".merge": ("merge_artifacts",),
        ".parameters": ("IncludeFile", "JSONType", "Parameter"),
    },
    submodules=("client", "config", "datastore", "decorators", "flow_decorators", "flowspec", "merge", "parameters"),
)
del lazy_exports
