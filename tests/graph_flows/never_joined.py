"""Invalid: a foreach that reaches end without a join."""


def step(f):
    return f


class FlowSpec:
    pass


class NeverJoinedFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.body, foreach="items")  # ERROR

    @step
    def body(self):
        self.next(self.end)

    @step
    def end(self):
        pass
