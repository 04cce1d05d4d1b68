"""Invalid: a join with one input that closes no foreach."""


def step(f):
    return f


class FlowSpec:
    pass


class JoinSingleFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.middle)

    @step
    def middle(self, inputs):  # ERROR
        self.next(self.end)

    @step
    def end(self):
        pass
