"""Written for Metaflow: constants, the flow's own structure, @catch/@timeout/@retry as Metaflow has them."""

import os
import time

from metaflow import FlowSpec, Parameter, catch, current, retry, step, timeout, unbounded_test_foreach_internal
from metaflow.exception import ExternalCommandFailed
from metaflow.plugins import InternalTestUnboundedForeachInput


class ParityFlow(FlowSpec):
    threshold = 0.5
    labels = ("a", "b")
    alpha = Parameter("alpha", default=2)

    @step
    def start(self):
        self.step_seen = self._current_step
        self.graph_type = self._graph["start"].type
        self.param_names = sorted(current.parameter_names)
        self.task_obj, self.run_obj = current.task, current.run  # client objects, stored as artifacts
        self.tags_seen = current.tags
        self.tags_seen.add("changed here only")
        try:
            self.threshold = 0.9
        except AttributeError as exc:
            self.constant_error = str(exc)
        self.items = InternalTestUnboundedForeachInput([10, 20])
        self.next(self.each, foreach="items")

    @unbounded_test_foreach_internal
    @step
    def each(self):
        frame = self._foreach_stack[0]
        self.frame = (frame.var, frame.index, frame.num_splits, frame.value)
        self.stack = self.foreach_stack()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.frames = sorted(i.frame for i in inputs)
        self.next(self.slow)

    @catch(var="slow_error", print_exception=False)
    @timeout(seconds=1)
    @step
    def slow(self):
        self.before_sleep = True
        time.sleep(30)
        self.next(self.flaky)

    @retry(times=2)
    @step
    def flaky(self):
        self.started = time.time()
        self.attempts_seen = current.retry_count
        if current.retry_count < 2:
            raise RuntimeError("not yet")
        self.next(self.end)

    @catch(var="end_error")
    @step
    def end(self):
        self.reached_end = True
        raise ExternalCommandFailed("caught at the end")


if __name__ == "__main__":
    ParityFlow()
