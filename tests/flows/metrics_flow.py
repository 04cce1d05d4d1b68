"""Logs metrics in every kind of step: a foreach of three trainings, numpy scalars, NaN, infinities, current."""

import math
import os

import numpy as np

from artiflow import FlowSpec, current, step


def report(name, value):
    current.log_metric(name, value)  # from a helper function, not the step itself


class MetricsFlow(FlowSpec):
    @step
    def start(self):
        self.rates = [0.1, 0.2, 0.3]
        self.log_metric("setup_seconds", 2)          # an int
        self.log_metric("weird", float("nan"))
        self.log_metric("weird", math.inf, step=1)
        self.log_metric("weird", np.float32(0.5), step=np.int64(2))
        report("from_current", np.int64(7))
        self.next(self.train, foreach="rates")

    @step
    def train(self):
        for epoch in range(4):
            self.log_metric("loss", self.input / (epoch + 1), step=epoch)
            self.log_metric("acc", 1 - self.input / (epoch + 1), step=epoch)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("METRICS_FAIL_END"):  # a run to resume from
            raise RuntimeError("end fails on purpose")


if __name__ == "__main__":
    MetricsFlow()
