"""Invalid: num_parallel must be a whole number of 1 or more."""


def step(f):
    return f


class FlowSpec:
    pass


class NextFlow(FlowSpec):
    @step
    def start(self):
        items = "items"
        self.next(self.end, num_parallel=0)  # ERROR

    @step
    def end2(self):
        self.next(self.end)

    @step
    def end(self):
        pass
