"""Invalid: a step with two predecessors that does not take inputs."""


def step(f):
    return f


class FlowSpec:
    pass


class JoinNoInputsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self):  # ERROR
        self.next(self.end)

    @step
    def end(self):
        pass
