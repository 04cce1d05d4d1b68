"""Valid: a linear flow, with stacked decorators and spelled variants of @step."""


def step(f):
    return f


class FlowSpec:
    pass


import types

metaflow = types.SimpleNamespace(step=step)


def retry(times=0):
    return lambda f: f


def catch(var=None):
    return lambda f: f


class LinearFlow(FlowSpec):
    """A straight line."""

    @step
    def start(self):
        """Begin here.

        More text that is not the first line.
        """
        self.x = 1
        self.next(self.middle)

    @retry(times=2)
    @metaflow.step
    @catch(var="e")
    def middle(me):
        me.next(me.end)

    def helper(self):
        return 1

    @step
    def end(self):
        """Finish."""
        print(self.x)
