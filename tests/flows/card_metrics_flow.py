"""Metrics in cards: the default card charts a task's metrics; a MetricsChart shows another task's."""

import math

from artiflow import Flow, FlowSpec, Parameter, card, current, step
from artiflow.cards import Markdown, MetricsChart


class CardMetricsFlow(FlowSpec):
    """start logs a loss curve (with a spike and a NaN gap) and an accuracy without steps."""

    points = Parameter("points", default=300, help="how many loss points start logs")

    @card
    @step
    def start(self):
        n = self.points
        for i in range(n):
            loss = 2.0 * math.exp(-4.0 * i / n) + 0.1
            if i == n // 2:
                loss = 5.0                          # a spike downsampling must keep
            if 0.7 * n <= i < 0.75 * n:
                loss = float("nan")                 # a gap in the line
            self.log_metric("loss", loss, step=i)
            if i % 10 == 0:
                self.log_metric("val_loss", loss + 0.3, step=i)
        for k in range(10):
            current.log_metric("accuracy", 0.5 + k / 20)   # no step: drawn in the order logged
        self.next(self.middle)

    @card
    @step
    def middle(self):
        current.card.append(Markdown("no metrics here"))
        self.next(self.end)

    @card(type="blank", id="curves")
    @step
    def end(self):
        start = Flow(current.flow_name)[current.run_id]["start"].task
        current.card.append(MetricsChart(start.metrics, names=["loss", "val_loss"], title="start's curves"))
        current.card.append(MetricsChart(start.metrics, names=["lost"]))


if __name__ == "__main__":
    CardMetricsFlow()
