"""A foreach whose tasks take a while (one fails when PROGRESS_FAIL_AT names it): what the live view is tested on."""
import os
import sys
import time

from artiflow import FlowSpec, Parameter, step


class ProgressFlow(FlowSpec):
    n = Parameter("n", type=int, default=6, help="how many foreach tasks")
    delay = Parameter("delay", type=float, default=1.0, help="seconds each task takes")

    @step
    def start(self):
        # A task is forked from the runner: what it has imported, the runner had imported.
        print(f"rich imported: {'rich' in sys.modules}")
        self.items = list(range(self.n))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        print(f"working on item {self.input}")
        time.sleep(self.delay)
        if str(self.input) == os.environ.get("PROGRESS_FAIL_AT"):
            raise ValueError(f"item {self.input} is broken")
        self.y = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.y for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print(f"total {self.total}")


if __name__ == "__main__":
    ProgressFlow()
