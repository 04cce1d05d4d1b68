"""Valid: steps inherited from a base class; `work` is overridden here."""


def step(f):
    return f


class FlowSpec:
    pass


from mixin_base import StartMixin


class MixinFlow(StartMixin, FlowSpec):
    @step
    def work(self):
        self.next(self.extra)

    @step
    def extra(self):
        self.next(self.end)

    @step
    def end(self):
        pass
