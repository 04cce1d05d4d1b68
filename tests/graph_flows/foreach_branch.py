"""Valid: a static split inside a foreach."""


def step(f):
    return f


class FlowSpec:
    pass


class ForeachBranchFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.next(self.branch_join)

    @step
    def right(self):
        self.next(self.branch_join)

    @step
    def branch_join(self, inputs):
        self.next(self.foreach_join)

    @step
    def foreach_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
