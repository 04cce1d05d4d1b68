"""What the web UI's browser tests look at: parameters, a foreach, metrics, a card, a DataFrame, and `<script>`
texts in an artifact and a log. UI_FAIL=1 fails the foreach task of "b"; UI_GATE=PATH holds every foreach task
until that file exists (a run that is going on, for the live pages)."""

import os
import time

import pandas as pd

from artiflow import FlowSpec, Parameter, card, current, step
from artiflow.cards import Markdown

SCRIPT = "<script>alert('xss')</script>"


class UIFlow(FlowSpec):
    """A small flow with something on every page of the UI."""

    alpha = Parameter("alpha", default=0.5, help="the learning rate")
    label = Parameter("label", default="demo", help="a name")

    @card
    @step
    def start(self):
        self.items = ["a", "b", "c"]
        self.note = f"artifact {SCRIPT}"
        self.table = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "people": [709_000, 10_720_000, 7_400_000]})
        print(f"log line {SCRIPT}", flush=True)
        current.card.append(Markdown(f"# The UI card\n\nalpha is {self.alpha}"))
        self.next(self.train, foreach="items")

    @step
    def train(self):
        gate = os.environ.get("UI_GATE")
        if gate:
            print(f"waiting for the gate ({self.input})", flush=True)
        deadline = time.monotonic() + 120
        while gate and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"training {self.input}", flush=True)
        for epoch in range(5):
            self.log_metric("loss", round(self.alpha / (epoch + 1), 4), step=epoch)
        if os.environ.get("UI_FAIL") and self.input == "b":
            raise RuntimeError("train b fails on purpose")
        self.score = len(self.input) * self.alpha
        self.next(self.join)

    @step
    def join(self, inputs):
        self.scores = [i.score for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.scores)


if __name__ == "__main__":
    UIFlow()
