"""Read runs back: Flow, Run, Step, Task, DataArtifact, and the namespace they are seen through.

Objects are snapshots: a Run reads its row and task list once; create a new object to see progress.
"""

from .._lazy import lazy_exports

__all__ = [
    "ArtifactNotFound", "Attempt", "DataArtifact", "Flow", "InvalidPathspec", "Metadata", "Metaflow", "MetricRecord",
    "MetricSet", "Run", "Step",
    "Task", "TaskData", "TaskException", "default_metadata", "default_namespace", "from_pathspec", "get_metadata",
    "get_namespace", "metadata", "namespace",
]

# Imported on first use, so that `metaflow.client` can be aliased to this package at no cost.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".context": ("default_metadata", "default_namespace", "get_metadata", "get_namespace", "metadata", "namespace"),
        ".data": ("ArtifactNotFound", "DataArtifact", "TaskData"),
        ".flow": ("Flow", "Metaflow", "Run"),
        ".metrics": ("MetricRecord", "MetricSet"),
        ".pathspec": ("InvalidPathspec", "from_pathspec"),
        ".records": ("Attempt", "Metadata", "TaskException"),
        ".task": ("Step", "Task"),
    },
    submodules=("base", "context", "data", "flow", "metrics", "pathspec", "records", "tagging", "task"),
)
del lazy_exports
