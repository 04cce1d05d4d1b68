"""A step registers an atexit handler: it runs when the task ends, as in a process of its own."""

import atexit
import os

from artiflow import FlowSpec, step


def write_marker(path):
    with open(path, "w") as f:
        f.write("ran")


class AtexitFlow(FlowSpec):
    @step
    def start(self):
        atexit.register(write_marker, os.path.join(os.environ["MARKER_DIR"], f"start-{os.getpid()}"))
        self.next(self.end)

    @step
    def end(self):
        self.markers = sorted(name.split("-")[0] for name in os.listdir(os.environ["MARKER_DIR"]))


if __name__ == "__main__":
    AtexitFlow()
