"""HelloFlow: the smallest flow (start -> end); measures fixed per-run/per-task overhead."""
from metaflow import FlowSpec, step


class HelloFlow(FlowSpec):
    @step
    def start(self):
        self.message = "hello from the benchmark"
        self.next(self.end)

    @step
    def end(self):
        assert self.message == "hello from the benchmark"


if __name__ == "__main__":
    HelloFlow()
