"""Switches: a plain one, one inside a branch, one inside a foreach, and a loop; MODE and LIMIT steer them."""

import os

from artiflow import FlowSpec, Parameter, current, step


class SwitchFlow(FlowSpec):
    mode = Parameter("mode", default="fast")
    limit = Parameter("limit", default=3)

    @step
    def start(self):
        self.items = ["x", "yy", "x"]
        self.next({"fast": self.fast, "slow": self.slow}, condition="mode")

    @step
    def fast(self):
        self.path = "fast"
        self.next(self.fork)

    @step
    def slow(self):
        self.path = "slow"
        self.next(self.fork)

    @step
    def fork(self):
        self.kind = "short" if self.mode == "fast" else "long"
        self.next(self.picker, self.plain)

    @step
    def picker(self):
        self.next({"short": self.short_arm, "long": self.long_arm}, condition="kind")

    @step
    def short_arm(self):
        self.arm = "short"
        self.next(self.join_fork)

    @step
    def long_arm(self):
        self.arm = "long"
        self.next(self.join_fork)

    @step
    def plain(self):
        self.arm = "plain"
        self.next(self.join_fork)

    @step
    def join_fork(self, inputs):
        self.arms = [i.arm for i in inputs]
        self.path = inputs[0].path
        self.items = inputs[0].items
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.size = "big" if len(self.input) > 1 else "small"
        self.next({"big": self.big, "small": self.small}, condition="size")

    @step
    def big(self):
        self.seen = f"big:{self.input}"
        self.next(self.join_each)

    @step
    def small(self):
        self.seen = f"small:{self.input}"
        self.next(self.join_each)

    @step
    def join_each(self, inputs):
        self.seen_all = [i.seen for i in inputs]
        self.merge_artifacts(inputs, include=["path", "arms"])
        self.count = 0
        self.next(self.loop)

    @step
    def loop(self):
        self.count += 1
        if os.environ.get("FAIL_AT_COUNT") == str(self.count) and current.origin_run_id is None:
            raise RuntimeError(f"failing at count {self.count}")
        self.again = self.count < self.limit
        self.next({True: self.loop, False: self.end}, condition="again")

    @step
    def end(self):
        print("path", self.path, "arms", self.arms, "seen", self.seen_all, "count", self.count)


if __name__ == "__main__":
    SwitchFlow()
