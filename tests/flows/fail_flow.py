"""Fails in a foreach task: user traceback, pathspec, non-zero exit; siblings still recorded."""

from artiflow import FlowSpec, step


def divide(x):
    return 10 / x


class FailFlow(FlowSpec):
    @step
    def start(self):
        self.xs = [1, 0, 2]
        self.next(self.work, foreach="xs")

    @step
    def work(self):
        self.out = divide(self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailFlow()
