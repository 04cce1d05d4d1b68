"""Step caching and lineage: a training grid whose slow step is cached, and the trace of its result.

    python cached_grid.py run                 # every task runs (slow: each `train` sleeps a second)
    python cached_grid.py run                 # `train` and `pick` come from the cache: "cached: reused ..."
    python cached_grid.py run --noise 0.2     # a parameter changed: they run again
    artiflow lineage CachedGridFlow/1/end/<task>/best_alpha    # what the result was computed from

Edit `fit` below (or `prepare`, which `train` calls through it) and the next run trains again; edit
`end` and the next run still reuses every `train` task.
"""

import os
import time

from artiflow import FlowSpec, Parameter, cache, step

SLOW_SECONDS = 0.0 if os.environ.get("ARTIFLOW_EXAMPLE_FAST") else 1.0  # the tests need no real wait


def prepare(alpha: float) -> float:
    """A stand-in for feature preparation."""
    return alpha


def fit(alpha: float, noise: float) -> float:
    """A stand-in for slow training: a score that peaks at alpha = 0.1."""
    time.sleep(SLOW_SECONDS)
    return round(1.0 - abs(prepare(alpha) - 0.1) - noise * alpha, 4)


class CachedGridFlow(FlowSpec):
    """Train one model per alpha (cached), keep the best (cached), report it."""

    noise = Parameter("noise", default=0.1, type=float, help="How noisy the fake training is.")

    @step
    def start(self):
        self.grid = [0.01, 0.1, 1.0]
        self.next(self.train, foreach="grid")

    @cache
    @step
    def train(self):
        self.alpha = self.input
        self.score = fit(self.alpha, self.noise)
        self.next(self.pick)

    @cache
    @step
    def pick(self, inputs):
        best = max(inputs, key=lambda i: i.score)
        self.best_alpha, self.best_score = best.alpha, best.score
        self.next(self.end)

    @step
    def end(self):
        print(f"best alpha {self.best_alpha} with score {self.best_score}")


if __name__ == "__main__":
    CachedGridFlow()
