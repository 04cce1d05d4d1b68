"""Invalid: condition= needs a dict of steps."""


def step(f):
    return f


class FlowSpec:
    pass


class NextFlow(FlowSpec):
    @step
    def start(self):
        items = "items"
        self.next(self.end, condition="flag")  # ERROR

    @step
    def end2(self):
        self.next(self.end)

    @step
    def end(self):
        pass
