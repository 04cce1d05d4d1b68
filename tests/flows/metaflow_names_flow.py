"""Written for Metaflow: every name it imports must resolve to artiflow under the launcher."""

import metaflow
from metaflow import (DataArtifact, Flow, FlowSpec, IncludeFile, JSONType, Metaflow, Parameter, Run, Step, Task,
                      current, default_namespace, get_namespace, merge_artifacts, namespace, step)
from metaflow.client import Flow as ClientFlow
from metaflow.exception import (MetaflowException, MetaflowNamespaceMismatch, MetaflowNotFound,
                                MissingInMergeArtifactsException, UnhandledInMergeArtifactsException)
from metaflow.metaflow_current import current as current2


class NamesFlow(FlowSpec):
    size = Parameter("size", type=JSONType, default="[1, 2]")

    @step
    def start(self):
        self.module = metaflow.__name__
        self.same_current = current is current2 and ClientFlow is Flow
        self.pathspec = current.pathspec
        try:
            Flow("NoSuchFlow")
        except MetaflowNotFound as exc:
            self.not_found = isinstance(exc, MetaflowException)
        self.next(self.end)

    @step
    def end(self):
        print("module", self.module, "same", self.same_current, "nf", self.not_found, "size", self.size)


if __name__ == "__main__":
    NamesFlow()
