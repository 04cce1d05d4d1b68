"""Read runs back: Flow, Run, Step, Task, DataArtifact, and the namespace they are seen through.

Objects are snapshots: a Run reads its row and task list once; create a new object to see progress.
"""

from .context import default_metadata, default_namespace, get_metadata, get_namespace, metadata, namespace
from .data import ArtifactNotFound, DataArtifact, TaskData
from .flow import Flow, Metaflow, Run
from .pathspec import InvalidPathspec, from_pathspec
from .task import Attempt, Step, Task, TaskException

__all__ = [
    "ArtifactNotFound", "Attempt", "DataArtifact", "Flow", "InvalidPathspec", "Metaflow", "Run", "Step", "Task",
    "TaskData", "TaskException", "default_metadata", "default_namespace", "from_pathspec", "get_metadata",
    "get_namespace", "metadata", "namespace",
]
