"""BigArrayFlow: a large float64 numpy artifact made in start and read in end."""
import numpy as np
from metaflow import FlowSpec, Parameter, step


class BigArrayFlow(FlowSpec):
    mb = Parameter("mb", type=int, default=512, help="array size in MiB")

    @step
    def start(self):
        self.arr = np.ones(self.mb * 2**20 // 8)  # float64
        self.next(self.end)

    @step
    def end(self):
        self.total = float(self.arr.sum())
        assert self.total == self.mb * 2**20 // 8, self.total


if __name__ == "__main__":
    BigArrayFlow()
