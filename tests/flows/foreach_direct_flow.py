from artiflow import FlowSpec, step


class ForeachDirectFlow(FlowSpec):
    @step
    def start(self):
        self.items = ["a", "b", "c"]
        self.next(self.join, foreach="items")

    @step
    def join(self, inputs):
        self.seen = [(i.index, i.input) for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print(self.seen)


if __name__ == "__main__":
    ForeachDirectFlow()
