"""Failures handled: @retry for a flaky step, @catch to go on without one item, resume after a crash.

    python flaky.py run                      # item 3 fails every time: @catch keeps the run going
    CRASH=2 python flaky.py run              # item 2 fails too (caught) ...
    python flaky.py resume                   # ... resume reruns only items 2 and 3, reusing 1 and 4
"""

import os
import random

from artiflow import FlowSpec, catch, current, retry, step, timeout


class FlakyFlow(FlowSpec):
    """Download a few items over an unreliable link, then summarise what arrived."""

    @step
    def start(self):
        self.items = [1, 2, 3, 4]
        self.next(self.fetch, foreach="items")

    @catch(var="fetch_error")
    @retry(times=2, minutes_between_retries=0)
    @timeout(seconds=30)
    @step
    def fetch(self):
        item = self.input
        if os.environ.get("CRASH") == str(item):
            raise RuntimeError(f"item {item} crashed (unset CRASH and resume)")
        if item == 3:
            raise ConnectionError("item 3 is never reachable")
        if random.random() < 0.3 and current.retry_count == 0:
            raise TimeoutError(f"item {item}: the link dropped, retrying")
        self.payload = item * 100
        self.next(self.summarise)

    @step
    def summarise(self, inputs):
        self.received = {i.input: i.payload for i in inputs if not i.fetch_error}
        self.failed = {i.input: i.fetch_error.exception for i in inputs if i.fetch_error}
        self.next(self.end)

    @step
    def end(self):
        print("received", self.received)
        print("failed", self.failed)


if __name__ == "__main__":
    FlakyFlow()
