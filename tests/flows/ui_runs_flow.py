"""What the UI's runs list and run page tests look at: parameters (one holding `<script>`), a foreach of
UI_RUNS_ITEMS tasks (3 by default) that logs a metric, is step-cached, retries once when UI_RUNS_FLAKY is set
(its task 1 fails its first attempt), fails its task 2 when UI_RUNS_FAIL is set, and waits for the file
UI_RUNS_GATE (when set) before it ends (a run that is going on, for the live JSON)."""

import os
import time

from artiflow import FlowSpec, Parameter, cache, current, retry, step

VERSION = "one"  # the code diff test runs a copy of this file with another value


class UIRunsFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5, type=float, help="a number")
    note = Parameter("note", default="plain", help="a text")

    @step
    def start(self):
        self.items = list(range(int(os.environ.get("UI_RUNS_ITEMS", "3"))))
        self.version = VERSION
        self.next(self.train, foreach="items")

    @cache
    @retry(times=1)
    @step
    def train(self):
        gate = os.environ.get("UI_RUNS_GATE")
        deadline = time.monotonic() + 120
        while gate and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.environ.get("UI_RUNS_FLAKY") and self.input == 1 and current.retry_count == 0:
            raise RuntimeError("task 1 fails its first attempt on purpose")
        if os.environ.get("UI_RUNS_FAIL") and self.input == 2:
            raise RuntimeError("task 2 fails on purpose")
        self.log_metric("loss", self.alpha / (self.input + 1))
        self.score = self.input * self.alpha
        self.next(self.join)

    @step
    def join(self, inputs):
        self.scores = [i.score for i in inputs]
        self.log_metric("total", sum(self.scores))
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.scores)


if __name__ == "__main__":
    UIRunsFlow()
