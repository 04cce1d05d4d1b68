"""A step that logs metrics, then fails in the way --mode says: raise, retry, SIGKILL, os._exit, or bad input."""

import os
import signal
import time

from artiflow import FlowSpec, Parameter, current, retry, step


class MetricsCrashFlow(FlowSpec):
    mode = Parameter("mode", default="raise")

    @retry(times=1)
    @step
    def start(self):
        for i in range(3):
            self.log_metric("attempt_loss", 10.0 * current.retry_count + i, step=i)
        if self.mode == "retry" and current.retry_count == 0:
            raise RuntimeError("the first attempt fails")
        if self.mode == "raise":
            raise RuntimeError("this step fails after logging")
        if self.mode in ("sigkill", "exit") and current.retry_count == 0:
            time.sleep(1.6)  # long enough for the points to be spilled
            self.log_metric("after_spill", 1.0)  # at most the last second of points may be lost
            if self.mode == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(3)
        if self.mode.startswith("bad_"):
            self.bad_call(self.mode[4:])
        self.next(self.end)

    def bad_call(self, what):
        value = {"str": ("loss", "0.5", None), "bool": ("loss", True, None), "name": (3, 1.0, None),
                 "step": ("loss", 1.0, 2.5), "empty": ("", 1.0, None), "array": ("loss", [1.0], None)}[what]
        self.log_metric(*value)  # the line the error names

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MetricsCrashFlow()
