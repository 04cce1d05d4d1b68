"""Invalid: no start step."""


def step(f):
    return f


class FlowSpec:
    pass


class NoStartFlow(FlowSpec):  # ERROR
    @step
    def begin(self):
        self.next(self.end)

    @step
    def end(self):
        pass
