"""A card on start, a failure at end the first time: resume reuses start and its card."""

import os

from artiflow import FlowSpec, card, current, step
from artiflow.cards import Markdown


class CardResumeFlow(FlowSpec):
    @card(type="blank")
    @step
    def start(self):
        current.card.append(Markdown(f"made by {current.pathspec}"))
        self.next(self.end)

    @card(type="taskspec_card")
    @step
    def end(self):
        if os.environ.get("CARD_FAIL") == "1":
            raise RuntimeError("fail once")


if __name__ == "__main__":
    CardResumeFlow()
