"""A flow for the datastore reliability tests: a small artifact, an optional large one, and a reader."""

import random

from artiflow import FlowSpec, Parameter, step


class ReliabilityFlow(FlowSpec):
    mb = Parameter("mb", default=0, type=int, help="size of the `payload` artifact in MiB (0: none)")

    @step
    def start(self):
        self.word = "reliable " * 20
        self.next(self.big)

    @step
    def big(self):
        if self.mb:
            self.payload = random.Random(self.mb).randbytes(self.mb << 20)  # incompressible, the same each run
        self.next(self.end)

    @step
    def end(self):
        print(self.word.split()[0], len(getattr(self, "payload", b"")))


if __name__ == "__main__":
    ReliabilityFlow()
