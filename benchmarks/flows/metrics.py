"""One task that logs N metric points (benchmarks/metrics.py): `--n 0` is the same flow without metrics."""

import time

from artiflow import FlowSpec, Parameter, step


class MetricsFlow(FlowSpec):
    n = Parameter("n", default=100_000, type=int, help="how many points the start step logs")

    @step
    def start(self):
        begin = time.perf_counter()
        for i in range(self.n):
            1.0 / (i + 1)
        self.bare_seconds = time.perf_counter() - begin  # the loop alone
        begin = time.perf_counter()
        for i in range(self.n):
            self.log_metric("loss", 1.0 / (i + 1), step=i)
        self.loop_seconds = time.perf_counter() - begin  # the loop with a log_metric call in it
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MetricsFlow()
