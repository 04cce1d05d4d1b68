"""Invalid: the branches of one split end in two different joins."""


def step(f):
    return f


class FlowSpec:
    pass


class TwoJoinsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b, self.c, self.d)

    @step
    def a(self):
        self.next(self.join1)

    @step
    def b(self):
        self.next(self.join1)

    @step
    def c(self):
        self.next(self.join2)

    @step
    def d(self):
        self.next(self.join2)

    @step
    def join1(self, inputs):
        self.next(self.merge)

    @step
    def join2(self, inputs):  # ERROR
        self.next(self.merge)

    @step
    def merge(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
