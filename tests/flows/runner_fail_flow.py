"""Fails in `middle` while RUNNER_FAIL=1 is set, so that a resume without it succeeds."""

import os

from artiflow import FlowSpec, step


class RunnerFailFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.middle)

    @step
    def middle(self):
        if os.environ.get("RUNNER_FAIL") == "1":
            raise ValueError("asked to fail")
        self.y = self.x + 1
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RunnerFailFlow()
