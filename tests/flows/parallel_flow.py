"""A num_parallel gang of 3 tasks; FAIL_NODE makes one node fail (KILL: by SIGKILL) until FAIL_ATTEMPTS."""

import os
import signal

from artiflow import FlowSpec, catch, current, parallel, retry, step

FAIL_NODE = os.environ.get("FAIL_NODE")
FAIL_ATTEMPTS = int(os.environ.get("FAIL_ATTEMPTS", "99"))


def maybe(decorator, env):
    return decorator if os.environ.get(env) else (lambda func: func)


class ParallelFlow(FlowSpec):
    @step
    def start(self):
        self.base = 10
        self.next(self.train, num_parallel=3)

    @maybe(catch(var="problem"), "CATCH")
    @maybe(retry(times=int(os.environ.get("RETRIES", "0"))), "RETRIES")
    @parallel
    @step
    def train(self):
        info = current.parallel
        self.node = info.node_index
        self.nodes = info.num_nodes
        self.control = info.control_task_id
        self.same_as_input = self.input == info.node_index
        if str(info.node_index) == FAIL_NODE and current.retry_count < FAIL_ATTEMPTS:
            if os.environ.get("KILL"):
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"node {info.node_index} fails on attempt {current.retry_count}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.nodes_seen = sorted(getattr(i, "node", -1) for i in inputs)
        self.all_matched = all(getattr(i, "same_as_input", False) for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("nodes", self.nodes_seen, "matched", self.all_matched)


if __name__ == "__main__":
    ParallelFlow()
