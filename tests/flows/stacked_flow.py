"""Decorators stacked in other orders: @step outermost, and @retry between @catch and @step."""

from artiflow import FlowSpec, catch, current, retry, step, timeout


class StackedFlow(FlowSpec):
    @step
    @retry(times=1, minutes_between_retries=0)
    def start(self):
        if current.retry_count == 0:
            raise RuntimeError("first attempt fails")
        self.attempts = current.retry_count + 1
        self.next(self.middle)

    @timeout(seconds=20)
    @step
    @catch(var="err")
    def middle(self):
        raise ValueError("always")
        self.next(self.end)  # noqa: unreachable on purpose: the graph reads it

    @retry(times=0)
    @step
    def end(self):
        self.err_type = self.err.type


if __name__ == "__main__":
    StackedFlow()
