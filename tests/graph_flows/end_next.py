"""Invalid: end calls self.next."""


def step(f):
    return f


class FlowSpec:
    pass


class EndNextFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        self.next(self.start)  # ERROR
