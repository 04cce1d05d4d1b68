"""artiflow: data and ML pipelines with Metaflow's API, fast local runs and content-addressed artifacts."""

from .client import (
    DataArtifact,
    Flow,
    Metaflow,
    Run,
    Step,
    Task,
    default_metadata,
    default_namespace,
    get_metadata,
    get_namespace,
    metadata,
    namespace,
)
from .current import current
from .datastore import register_serializer
from .decorators import catch, environment, resources, retry, timeout
from .exceptions import (
    ArtiflowException,
    MetaflowException,
    MetaflowNamespaceMismatch,
    MetaflowNotFound,
    MissingInMergeArtifactsException,
    UnhandledInMergeArtifactsException,
)
from .flow_decorators import project, schedule, trigger, trigger_on_finish
from .flowspec import FlowSpec, step
from .merge import merge_artifacts
from .parameters import IncludeFile, JSONType, Parameter

__version__ = "0.1.0"

__all__ = [
    "ArtiflowException", "DataArtifact", "Flow", "FlowSpec", "IncludeFile", "JSONType", "Metaflow",
    "MetaflowException", "MetaflowNamespaceMismatch", "MetaflowNotFound", "MissingInMergeArtifactsException",
    "Parameter", "Run", "Step", "Task", "UnhandledInMergeArtifactsException", "current", "default_namespace",
    "catch", "default_metadata", "environment", "get_metadata", "get_namespace", "metadata", "merge_artifacts", "namespace", "register_serializer", "resources",
    "project", "retry", "schedule", "step", "timeout", "trigger", "trigger_on_finish",
]
