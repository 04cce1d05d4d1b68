"""`card view` picks the newest card of a step: a foreach whose tasks end one after another, a step without a card."""

import time

from artiflow import FlowSpec, card, current, step
from artiflow.cards import Markdown


class CardViewFlow(FlowSpec):
    """Cards on start and on every foreach task; none on join and end."""

    @card
    @step
    def start(self):
        self.items = [0, 1, 2]
        current.card.append(Markdown("start card"))
        self.next(self.work, foreach="items")

    @card
    @step
    def work(self):
        time.sleep(0.3 * (3 - self.input))   # item 0 ends last when they run together
        current.card.append(Markdown(f"work card for item {self.input}"))
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardViewFlow()
