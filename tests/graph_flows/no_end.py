"""Invalid: no end step."""


def step(f):
    return f


class FlowSpec:
    pass


class NoEndFlow(FlowSpec):  # ERROR
    @step
    def start(self):
        self.next(self.start)
