"""Each MERGE_CASE is one way of calling merge in the join; used to test each error."""

import os

from artiflow import FlowSpec, merge_artifacts, step

CASE = os.environ.get("MERGE_CASE", "conflict")


class MergeCasesFlow(FlowSpec):
    @step
    def start(self):
        self.same = 1
        if CASE == "outside":
            self.merge_artifacts([])
        self.next(self.x, self.y)

    @step
    def x(self):
        self.differs = "x"
        self.also = 1
        self.next(self.join)

    @step
    def y(self):
        self.differs = "y"
        self.also = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        if CASE == "conflict":
            self.merge_artifacts(inputs)
        elif CASE == "both":
            self.merge_artifacts(inputs, include=["same"], exclude=["differs"])
        elif CASE == "missing":
            self.merge_artifacts(inputs, include=["same", "nope"])
        elif CASE == "include":
            self.merge_artifacts(inputs, include=["same"])
        elif CASE == "exclude":
            self.merge_artifacts(inputs, exclude=["differs", "also"])
        elif CASE == "seed":
            merge_artifacts(self, inputs)
        elif CASE == "conflict_caught":
            try:
                self.merge_artifacts(inputs)
            except Exception as exc:
                self.error = type(exc).__name__
            self.partial = hasattr(self, "same")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MergeCasesFlow()
