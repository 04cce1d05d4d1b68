import time

from artiflow import FlowSpec, step


class SlowFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.sleep, foreach="items")

    @step
    def sleep(self):
        print("sleeping", flush=True)
        time.sleep(60)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SlowFlow()
