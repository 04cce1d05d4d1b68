"""Invalid: self.next with no step."""


def step(f):
    return f


class FlowSpec:
    pass


class NextFlow(FlowSpec):
    @step
    def start(self):
        items = "items"
        self.next()  # ERROR

    @step
    def end2(self):
        self.next(self.end)

    @step
    def end(self):
        pass
