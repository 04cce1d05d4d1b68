"""Nested foreach where chosen (outer, inner) pairs fail: FAIL="0-1,2-2"."""

import os

from artiflow import FlowSpec, step

FAIL = {tuple(int(x) for x in pair.split("-")) for pair in os.environ.get("FAIL", "").split(",") if pair}


class NestedFailFlow(FlowSpec):
    @step
    def start(self):
        self.outer_items = [0, 1, 2]
        self.next(self.outer, foreach="outer_items")

    @step
    def outer(self):
        self.o = self.input
        self.inner_items = [0, 1, 2]
        self.next(self.inner, foreach="inner_items")

    @step
    def inner(self):
        if (self.o, self.input) in FAIL:
            raise RuntimeError(f"inner {self.o}-{self.input} fails")
        self.cell = self.o * 10 + self.input
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.cells = [i.cell for i in inputs]
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.grid = [i.cells for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print(self.grid)


if __name__ == "__main__":
    NestedFailFlow()
