"""Valid: a foreach."""


def step(f):
    return f


class FlowSpec:
    pass


class ForeachFlow(FlowSpec):
    @step
    def start(self):
        self.grid = [1, 2, 3]
        self.next(self.train, foreach="grid")

    @step
    def train(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
