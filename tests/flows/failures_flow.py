"""One flow for every failure mode; MODE picks how the `work` tasks behave, FAIL_AT which ones fail."""

import ctypes
import os
import signal
import time

from artiflow import FlowSpec, Parameter, catch, current, retry, step, timeout

MODE = os.environ.get("MODE", "ok")
FAIL_AT = {int(x) for x in os.environ.get("FAIL_AT", "").split(",") if x}
FAIL_ATTEMPTS = int(os.environ.get("FAIL_ATTEMPTS", "99"))


def misbehave(index):
    if index not in FAIL_AT or current.retry_count >= FAIL_ATTEMPTS:
        return
    print(f"attempt {current.retry_count} of task {index} misbehaves: {MODE}", flush=True)
    if MODE == "raise":
        raise ValueError(f"bad item {index}")
    if MODE == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if MODE == "segfault":
        ctypes.string_at(0)
    if MODE == "exit":
        os._exit(3)
    if MODE == "sleep":
        time.sleep(60)


def maybe(decorator, env):
    """Apply the decorator only when the test sets `env` (so one flow covers every combination)."""
    return decorator if os.environ.get(env) else (lambda func: func)


class FailuresFlow(FlowSpec):
    n = Parameter("n", default=4)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.big = bytes(range(256)) * 1000
        self.next(self.work, foreach="items")

    @maybe(catch(var="problem"), "CATCH")
    @maybe(retry(times=int(os.environ.get("RETRIES", "0")), minutes_between_retries=0), "RETRIES")
    @maybe(timeout(seconds=float(os.environ.get("TIMEOUT", "30"))), "TIMEOUT")
    @step
    def work(self):
        self.value = self.input * 10
        self.attempt_seen = current.retry_count
        misbehave(self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [getattr(i, "value", None) for i in inputs]
        self.problems = [str(i.problem) if getattr(i, "problem", None) else None for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print("values", self.values)


if __name__ == "__main__":
    FailuresFlow()
