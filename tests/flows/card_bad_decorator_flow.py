"""@card with a timeout that is not a number: reported before anything runs."""

from artiflow import FlowSpec, card, step


class CardBadDecoratorFlow(FlowSpec):
    @card(timeout="soon")
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardBadDecoratorFlow()
