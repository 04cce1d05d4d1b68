"""A foreach training grid: one task per hyper-parameter, the best picked in a join."""

from artiflow import FlowSpec, Parameter, current, step


def fit(alpha: float, noise: float) -> float:
    """A stand-in for training: a score that peaks at alpha = 0.1."""
    return round(1.0 - abs(alpha - 0.1) - noise * alpha, 4)


class TrainFlow(FlowSpec):
    """Train one model per alpha in parallel, keep the best."""

    noise = Parameter("noise", default=0.1, type=float, help="How noisy the fake training is.")

    @step
    def start(self):
        self.grid = [0.01, 0.1, 1.0]
        self.next(self.train, foreach="grid")

    @step
    def train(self):
        self.alpha = self.input  # this branch's element of self.grid
        self.score = fit(self.alpha, self.noise)
        print(f"{current.pathspec}: alpha={self.alpha} score={self.score}")
        self.next(self.join)

    @step
    def join(self, inputs):
        best = max(inputs, key=lambda i: i.score)
        self.best_alpha, self.best_score = best.alpha, best.score
        self.scores = {i.alpha: i.score for i in inputs}
        self.next(self.end)

    @step
    def end(self):
        print(f"best alpha {self.best_alpha} with score {self.best_score}")


if __name__ == "__main__":
    TrainFlow()
