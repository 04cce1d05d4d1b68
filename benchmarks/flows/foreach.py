"""ForeachFlow: start -> foreach(work) x n -> join -> end; measures per-task overhead."""
from metaflow import FlowSpec, Parameter, step


class ForeachFlow(FlowSpec):
    n = Parameter("n", type=int, default=100, help="number of foreach tasks")

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.y = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.y for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        assert self.total == self.n * (self.n - 1), self.total


if __name__ == "__main__":
    ForeachFlow()
