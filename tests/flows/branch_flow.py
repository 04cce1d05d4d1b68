"""Static branches: isolation, ordered inputs, inputs.<step>, and Metaflow's merge."""

from artiflow import FlowSpec, step


class BranchFlow(FlowSpec):
    @step
    def start(self):
        self.shared = "same"
        self.conflict = 0
        self.next(self.b, self.a)

    @step
    def a(self):
        self.conflict = 1
        self.only_a = "A"
        self.seen_by_a = sorted(k for k in ("only_b",) if hasattr(self, k))
        self.next(self.join)

    @step
    def b(self):
        self.conflict = 2
        self.only_b = "B"
        self.seen_by_b = sorted(k for k in ("only_a",) if hasattr(self, k))
        self.next(self.join)

    @step
    def join(self, inputs):
        self.order = [i.only_b if hasattr(i, "only_b") else i.only_a for i in inputs]
        self.by_name = [inputs.a.only_a, inputs.b.only_b]
        self.count = len(inputs)
        self.has_shared_before_merge = hasattr(self, "shared")
        self.conflict = inputs[0].conflict + inputs[1].conflict
        self.merge_artifacts(inputs)
        self.next(self.end)

    @step
    def end(self):
        print("shared", self.shared, "only_a", self.only_a, "only_b", self.only_b, "conflict", self.conflict)


if __name__ == "__main__":
    BranchFlow()
