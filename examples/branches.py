"""Static branches joined two ways: the seed's merge_artifacts (lists) and Metaflow's self.merge_artifacts."""

from artiflow import FlowSpec, merge_artifacts, step


class MergeExampleFlow(FlowSpec):
    """Two branches set the same names; the joins show both ways to merge them."""

    @step
    def start(self):
        self.next(self.branch1, self.branch2)

    @step
    def branch1(self):
        self.branch_name = "branch1"
        self.value = 10
        self.next(self.join)

    @step
    def branch2(self):
        self.branch_name = "branch2"
        self.value = 20
        self.next(self.join)

    @step
    def join(self, inputs):
        """Module-level merge: every name all inputs have becomes a list, in input order."""
        merge_artifacts(self, inputs)
        print(self.branch_name)  # ['branch1', 'branch2']
        print(self.value)  # [10, 20]
        self.next(self.fan_out)

    @step
    def fan_out(self):
        self.dataset = "iris"  # the same in every branch: self.merge_artifacts carries it over
        self.next(self.left, self.right)

    @step
    def left(self):
        self.score = 0.8
        self.next(self.combine)

    @step
    def right(self):
        self.score = 0.9
        self.next(self.combine)

    @step
    def combine(self, inputs):
        """Metaflow's merge: values equal in all inputs pass through; differing ones must be set first."""
        self.score = max(inputs.left.score, inputs.right.score)
        self.merge_artifacts(inputs)
        print(f"dataset={self.dataset} best score={self.score}")
        self.next(self.end)

    @step
    def end(self):
        print("Done.")


if __name__ == "__main__":
    MergeExampleFlow()
