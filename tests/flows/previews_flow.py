"""A flow saving one artifact of each preview kind (tests/test_previews.py), and a few that must not get in the way:
a __repr__ that sleeps far longer than the run, one that raises, one that returns megabytes."""

import os
import time

from artiflow import FlowSpec, Parameter, step


class Sleepy:
    def __repr__(self):
        time.sleep(float(os.environ.get("PREVIEWS_SLEEP", "30")))
        return "Sleepy()"


class Broken:
    def __repr__(self):
        raise ValueError("this repr is broken")


class Huge:
    def __repr__(self):
        return "h" * 2_000_000


class Model:
    def __init__(self, depth):
        self.depth = depth

    def __repr__(self):
        return f"Model(depth={self.depth})"


class PreviewsFlow(FlowSpec):
    label = Parameter("label", default="<b>run</b>")
    rate = Parameter("rate", default=0.25)

    @step
    def start(self):
        import io

        import numpy as np
        import pandas as pd
        from PIL import Image

        self.nothing = None
        self.flag = True
        self.count = 42
        self.ratio = float("nan")
        self.text = "<script>alert('x')</script> héllo ✓"
        self.items = list(range(100))
        self.table = {"a": 1, "b": [1, 2]}
        self.frame = pd.DataFrame({"x": range(1000), "name": [f"n{i}" for i in range(1000)]})
        self.series = pd.Series([1.5, 2.5, 3.5], name="s")
        cube = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
        cube[0, 0, 0] = np.nan
        cube[1, 1, 1] = np.inf
        self.cube = cube
        self.picture = Image.new("RGB", (300, 200), (200, 30, 30))
        buffer = io.BytesIO()
        Image.new("L", (32, 16), 128).save(buffer, format="PNG")
        self.png = buffer.getvalue()
        self.model = Model(3)
        self.sleepy = Sleepy()
        self.broken = Broken()
        self.huge = Huge()
        self.parts = [1, 2, 3]
        self.next(self.each, foreach="parts")

    @step
    def each(self):
        self.square = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [i.square for i in inputs]
        self.merge_artifacts(inputs, include=["count"])
        self.next(self.end)

    @step
    def end(self):
        self.same_count = 42  # the same content as start's count: the same preview, stored once


if __name__ == "__main__":
    PreviewsFlow()
