"""Written for Metaflow: a Runner starts it through the launcher, so `metaflow` resolves to artiflow."""

from metaflow import FlowSpec, Parameter, step


class RunnerMetaflowFlow(FlowSpec):
    word = Parameter("word", default="hi")

    @step
    def start(self):
        self.shout = self.word.upper()
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RunnerMetaflowFlow()
