"""A run to look at in a notebook: a DataFrame, an array, a hostile string, a large blob, a retried foreach."""

import os

import numpy as np
import pandas as pd

from artiflow import FlowSpec, Parameter, current, retry, step


class Point:
    """A class of the flow file itself: a notebook cannot unpickle it (it is not importable there)."""

    def __init__(self, x, y):
        self.x, self.y = x, y


class DisplayFlow(FlowSpec):
    rows = Parameter("rows", default=25)
    fail = Parameter("fail", default=False, type=bool)

    @step
    def start(self):
        self.frame = pd.DataFrame({"city": [f"city-{i}" for i in range(self.rows)],
                                   "score": [i * 1.5 for i in range(self.rows)]})
        self.matrix = np.arange(12.0).reshape(3, 4)
        self.evil = "<script>alert('owned')</script>"
        self.blob = os.urandom(200_000)  # too large for a preview
        self.point = Point(1, 2)
        self.items = [1, 2, 3]
        self.next(self.work, foreach="items")

    @retry(times=1)
    @step
    def work(self):
        if self.input == 2 and current.retry_count == 0:
            raise ValueError("flaky on the first attempt")
        self.squared = self.input ** 2
        for epoch in range(5):
            self.log_metric("loss", self.input / (epoch + 1), step=epoch)
        self.log_metric("<b>acc</b>", float("nan"))  # a name that looks like markup, a NaN value
        self.log_metric("<b>acc</b>", 0.5 * self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        if self.fail:
            raise RuntimeError("<b>join broke</b>")
        self.total = sum(i.squared for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        for i in range(25):  # more small artifacts than a task's view previews
            setattr(self, f"n{i:02d}", i)
        print("total", self.total)


if __name__ == "__main__":
    DisplayFlow()
