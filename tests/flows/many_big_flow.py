"""One task reads many large (memory-mapped) artifacts at once, under a low descriptor limit."""

import os
import resource

import numpy as np

from artiflow import FlowSpec, Parameter, step

MMAP_MIN_BYTES = 1 << 20


class ManyBigFlow(FlowSpec):
    n = Parameter("n", default=500, type=int, help="how many large artifacts")
    nofile = Parameter("nofile", default=128, type=int, help="RLIMIT_NOFILE of the reading task")

    @step
    def start(self):
        # One blob (identical content), incompressible; each read maps it, and the array is a view of the map.
        payload = np.random.default_rng(0).random(MMAP_MIN_BYTES // 8)
        for i in range(self.n):
            setattr(self, f"a{i:03d}", payload)
        self.next(self.read)

    @step
    def read(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        held = [getattr(self, f"a{i:03d}") for i in range(self.n)]  # all alive at once
        self.total = sum(value.nbytes for value in held)
        self.open_fds = len(os.listdir("/proc/self/fd"))
        files = [open(os.devnull) for _ in range(32)]  # the step's own files still open: descriptors are left
        for f in files:
            f.close()
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    ManyBigFlow()
