"""current.card in a step without @card: the step fails with a message saying what to add."""

from artiflow import FlowSpec, card, current, step
from artiflow.cards import Markdown


class CardMisuseFlow(FlowSpec):
    @card
    @step
    def start(self):
        current.card.append(Markdown("fine here"))
        self.next(self.end)

    @step
    def end(self):
        current.card.append(Markdown("no card on this step"))


if __name__ == "__main__":
    CardMisuseFlow()
