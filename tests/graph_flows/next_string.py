"""Invalid: a transition written as a string."""


def step(f):
    return f


class FlowSpec:
    pass


class NextFlow(FlowSpec):
    @step
    def start(self):
        items = "items"
        self.next("end")  # ERROR

    @step
    def end2(self):
        self.next(self.end)

    @step
    def end(self):
        pass
