"""Valid: a foreach inside a foreach."""


def step(f):
    return f


class FlowSpec:
    pass


class NestedForeachFlow(FlowSpec):
    @step
    def start(self):
        self.outer_items = [1, 2]
        self.next(self.outer, foreach="outer_items")

    @step
    def outer(self):
        self.inner_items = [3, 4]
        self.next(self.inner, foreach="inner_items")

    @step
    def inner(self):
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
