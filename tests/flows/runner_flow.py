"""Driven through Runner by tests/test_runner.py: parameters of several kinds, output on both streams."""

import sys
import time

from artiflow import FlowSpec, JSONType, Parameter, current, step


class RunnerFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.1, type=float)
    size = Parameter("size", type=JSONType, default="[1, 2]")
    loud = Parameter("loud", default=False, type=bool)
    seconds = Parameter("seconds", default=0.0, type=float, help="How long start takes, in three ticks.")

    @step
    def start(self):
        for i in range(3):
            print(f"tick {i}", flush=True)
            time.sleep(self.seconds / 3)
        print("a note on stderr", file=sys.stderr)
        self.tags_seen = sorted(current.tags)
        self.next(self.end)

    @step
    def end(self):
        self.result = self.alpha * 2
        self.total = sum(self.size)
        print("loud" if self.loud else "quiet")


if __name__ == "__main__":
    RunnerFlow()
