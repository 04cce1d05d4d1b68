"""A flow to mirror to MLflow: parameters, metrics with and without steps, a foreach, a retried step, and a
failure of one train task when MLFLOW_FLOW_FAIL is set (an environment variable, so that a resume can succeed)."""

import os
import sys
import time

from artiflow import FlowSpec, Parameter, current, retry, step


class MlflowFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5, type=float)
    label = Parameter("label", default="baseline")
    notes = Parameter("notes", default="", help="a long value is cut in MLflow")
    points = Parameter("points", default=0, type=int, help="log this many extra points in start")
    sleep = Parameter("sleep", default=0.0, type=float, help="end sleeps this long (to be interrupted)")

    @step
    def start(self):
        print("mlflow imported in the runner:", "mlflow" in sys.modules)
        self.log_metric("setup_seconds", 0.25)
        self.log_metric("val acc (%)", 90.0, step=0)
        self.log_metric("odd", float("nan"), step=1)
        for i in range(self.points):
            self.log_metric("many", float(i), step=i)
        self.grid = [1, 2, 3]
        self.next(self.train, foreach="grid")

    @step
    def train(self):
        for epoch in range(3):
            self.log_metric("loss", self.input * self.alpha / (epoch + 1), step=epoch)
        if os.environ.get("MLFLOW_FLOW_FAIL") and self.input == 2:
            raise RuntimeError("train fails on purpose")
        self.next(self.join)

    @retry(times=1)
    @step
    def join(self, inputs):
        self.log_metric("attempt_value", float(current.retry_count), step=0)
        if current.retry_count == 0:
            raise RuntimeError("the first attempt of join fails")
        self.next(self.end)

    @step
    def end(self):
        time.sleep(self.sleep)


if __name__ == "__main__":
    MlflowFlow()
