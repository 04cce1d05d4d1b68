"""Invalid: a step whose last statement is not self.next."""


def step(f):
    return f


class FlowSpec:
    pass


class BadFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.middle)

    @step
    def middle(self):
        pass  # ERROR

    @step
    def end(self):
        pass
