"""Base class with steps, used by mixin.py."""


def step(f):
    return f


class StartMixin:
    @step
    def start(self):
        self.next(self.work)

    @step
    def work(self):
        self.next(self.end)

    def not_a_step(self):
        pass
