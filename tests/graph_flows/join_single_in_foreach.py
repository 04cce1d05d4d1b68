"""Invalid: inside a foreach, a one-input join that closes a static branch."""


def step(f):
    return f


class FlowSpec:
    pass


class JoinSingleForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.left, self.right)

    @step
    def left(self, inputs):  # ERROR
        self.next(self.join)

    @step
    def right(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
