"""A step that starts a process which outlives it, holding the task's stdout: the run must not wait for it."""

import subprocess

from artiflow import FlowSpec, step


class LeftoverFlow(FlowSpec):
    @step
    def start(self):
        self.child = subprocess.Popen(["sleep", "30"]).pid  # inherits stdout and stderr, never waited for
        print("started a leftover process", flush=True)
        self.next(self.end)

    @step
    def end(self):
        print("done")


if __name__ == "__main__":
    LeftoverFlow()
