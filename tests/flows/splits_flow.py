from artiflow import FlowSpec, Parameter, step


class SplitsFlow(FlowSpec):
    n = Parameter("n", default=5)

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
        self.ys = [i.y for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print(sum(self.ys))


if __name__ == "__main__":
    SplitsFlow()
