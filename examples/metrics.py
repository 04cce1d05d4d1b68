"""Log metrics while training: a loss curve per learning rate, shown in each task's card.

    python examples/metrics.py run
    artiflow metrics MetricsExampleFlow --name final_loss
    python examples/metrics.py card view train      # the charts of the default card
"""

import math
import random

from artiflow import FlowSpec, Parameter, card, current, step


def train_one_epoch(rate: float, epoch: int, noise: random.Random) -> float:
    """A stand-in for an epoch of training: a loss that falls faster with a larger rate."""
    return math.exp(-rate * (epoch + 1)) + noise.uniform(0, 0.02)


class MetricsExampleFlow(FlowSpec):
    """Train one model per learning rate; each logs its loss per epoch; the join picks the best."""

    epochs = Parameter("epochs", default=20, type=int, help="Epochs per model.")

    @step
    def start(self):
        self.rates = [0.05, 0.2, 0.5]
        self.next(self.train, foreach="rates")

    @card
    @step
    def train(self):
        noise = random.Random(self.input)
        for epoch in range(self.epochs):
            loss = train_one_epoch(self.input, epoch, noise)
            self.log_metric("loss", loss, step=epoch)
            current.log_metric("accuracy", 1.0 - loss, step=epoch)  # current.log_metric works too
        self.final_loss = loss
        self.log_metric("final_loss", loss)
        self.next(self.join)

    @step
    def join(self, inputs):
        best = min(inputs, key=lambda i: i.final_loss)
        self.best_rate, self.best_loss = best.input, best.final_loss
        self.next(self.end)

    @step
    def end(self):
        print(f"best rate {self.best_rate} with final loss {self.best_loss:.4f}")


if __name__ == "__main__":
    MetricsExampleFlow()
