"""Valid: a static split whose branches are defined in another order than listed."""


def step(f):
    return f


class FlowSpec:
    pass


class BranchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.c, self.a, self.b)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def c(self):
        self.next(self.join)

    @step
    def end(self):
        pass
