"""Invalid: a cycle."""


def step(f):
    return f


class FlowSpec:
    pass


class CycleFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a)

    @step
    def a(self, inputs):
        self.next(self.b)

    @step
    def b(self):
        self.next(self.a, self.end)  # ERROR

    @step
    def end(self):
        pass
