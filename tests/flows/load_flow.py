"""A foreach of N tasks (N from the environment), each storing a small random vector; SLEEP slows each task."""

import os
import random
import time

from artiflow import FlowSpec, step

N = int(os.environ.get("N", "100"))
SLEEP = float(os.environ.get("SLEEP", "0"))


class LoadFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(N))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if SLEEP:
            time.sleep(SLEEP)
        self.vector = [random.random() for _ in range(8)]
        self.double = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.double for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    LoadFlow()
