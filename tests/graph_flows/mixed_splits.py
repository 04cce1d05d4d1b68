"""Invalid: a join merging branches of two different splits."""


def step(f):
    return f


class FlowSpec:
    pass


class MixedSplitsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.outer_a, self.outer_b)

    @step
    def outer_a(self):
        self.next(self.inner_c, self.inner_d)

    @step
    def inner_c(self):
        self.next(self.join)

    @step
    def inner_d(self):
        self.next(self.join)

    @step
    def outer_b(self):
        self.next(self.join)

    @step
    def join(self, inputs):  # ERROR
        self.next(self.end)

    @step
    def end(self):
        pass
