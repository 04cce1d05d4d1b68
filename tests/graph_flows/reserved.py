"""Invalid: a step named like a FlowSpec attribute."""


def step(f):
    return f


class FlowSpec:
    pass


class ReservedFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.index)

    @step
    def index(self):  # ERROR
        self.next(self.end)

    @step
    def end(self):
        pass
