"""Invalid: a step no transition leads to."""


def step(f):
    return f


class FlowSpec:
    pass


class UnreachableFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def orphan(self):  # ERROR
        self.next(self.end)

    @step
    def end(self):
        pass
