"""Valid: a foreach whose target is directly its join."""


def step(f):
    return f


class FlowSpec:
    pass


class ForeachDirectFlow(FlowSpec):
    @step
    def start(self):
        self.items = "abc"
        self.next(self.join, foreach="items")

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
