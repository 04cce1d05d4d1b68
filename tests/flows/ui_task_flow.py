"""The task page's flow (tests/test_ui_task.py): logs, artifacts of many kinds, metrics, a retry, cards, lineage.

With UI_TASK_GATE set, `start` prints a line, then waits until that file exists (a running task's logs).
"""

import os
import sys
import time

from artiflow import FlowSpec, Parameter, cache, card, current, retry, step

SCRIPT = "<script>alert('x')</script>"


class UITaskFlow(FlowSpec):
    """start -> each (foreach, a retry, a card) -> join -> end."""

    scale = Parameter("scale", default=2, help="a number the steps read")
    points = Parameter("points", default=0, help="metric points `start` logs (a big chart)")

    @step
    def start(self):
        print(f"hello from start {SCRIPT}", flush=True)
        print("a warning on stderr", file=sys.stderr, flush=True)
        gate = os.environ.get("UI_TASK_GATE")
        if gate:
            print("waiting for the gate", flush=True)
            while not os.path.exists(gate):
                time.sleep(0.05)
            print("through the gate", flush=True)
        self.text = SCRIPT
        self.numbers = [1, 2.5, 3]
        self.mapping = {"a": 1, "b": [1, 2]}
        self.count = 42 * self.scale
        self.blob = bytes(range(256)) * 8192  # 2 MiB: read through a memory map
        self.items = ["a", "b", "c"]
        for i in range(50):
            self.log_metric("loss", 1.0 / (i + 1), step=i)
        self.log_metric("loss", float("nan"), step=50)
        self.log_metric("loss", float("inf"), step=51)
        for i in range(self.points):
            self.log_metric("big", float(i % 1000), step=i)
        self.next(self.each, foreach="items")

    @card
    @retry(times=1, minutes_between_retries=0)
    @step
    def each(self):
        print(f"each {self.input}")
        if self.input == "b" and current.retry_count == 0:
            self.log_metric("acc", 0.1, step=0)
            raise ValueError(f"first attempt of b fails {SCRIPT}")
        self.log_metric("acc", 0.5, step=0)
        self.log_metric("acc", 0.9, step=1)
        self.value = self.input.upper() * self.count
        self.next(self.join)

    @cache
    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        import numpy as np
        import pandas as pd
        from PIL import Image

        self.total = len(self.values)
        self.frame = pd.DataFrame({"x": range(30), "label": [f"<b>{i}</b>" for i in range(30)]})
        self.array = np.arange(12, dtype="float64").reshape(3, 4)
        self.picture = Image.new("RGB", (64, 32), (200, 30, 30))


if __name__ == "__main__":
    UITaskFlow()
