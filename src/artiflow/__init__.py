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
    "NBRunner", "Parameter", "Run", "Runner", "Step", "Task", "UnhandledInMergeArtifactsException", "current", "default_namespace",
    "batch", "cache", "catch", "default_metadata", "environment", "get_metadata", "get_namespace", "kubernetes", "metadata", "merge_artifacts", "namespace", "register_serializer",
    "resources",
    "project", "retry", "schedule", "step", "timeout", "trigger", "trigger_on_finish",
    "Config", "config_expr", "secrets",
]

# The other public names are imported on first use (see _lazy), as are the submodules that
# `import artiflow` used to import as a side effect.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".cards.decorator": ("card",),
        ".configs": ("Config", "config_expr"),
        ".client": (
            "DataArtifact", "Flow", "Metaflow", "Run", "Step", "Task", "default_metadata", "default_namespace",
            "get_metadata", "get_namespace", "metadata", "namespace",
        ),
        ".datastore": ("register_serializer",),
        ".decorators": ("batch", "cache", "catch", "environment", "kubernetes", "parallel", "resources", "retry",
                        "timeout", "unbounded_test_foreach_internal"),
        ".flow_decorators": ("project", "schedule", "trigger", "trigger_on_finish"),
        ".flowspec": ("FlowSpec", "step"),
        ".merge": ("merge_artifacts",),
        ".parameters": ("IncludeFile", "JSONType", "Parameter"),
        ".secrets": ("secrets",),
        ".runner": ("NBRunner", "Runner"),
    },
    submodules=("client", "config", "datastore", "decorators", "flow_decorators", "flowspec", "merge", "parameters"),
)
del lazy_exports
_lazy_getattr = __getattr__


def __getattr__(name: str):  # noqa: F811 - the lazy exports, and a clear message for Metaflow names we lack
    try:
        return _lazy_getattr(name)
    except AttributeError:
        from .unsupported import unsupported

        error = unsupported(name)
        if error is None:
            raise
        raise error from None
