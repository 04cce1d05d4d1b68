"""Tags its own run from inside running steps: the start task, then every foreach task at once."""

import os

from artiflow import FlowSpec, Task, current, step


class TagFlow(FlowSpec):
    @step
    def start(self):
        run = Task(current.pathspec).parent.parent
        run.add_tag("from_start")
        run.add_tag("scratch")
        run.remove_tag("scratch")
        self.seen_in_start = sorted(run.user_tags)
        self.items = list(range(int(os.environ.get("TAG_ITEMS", "4"))))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        run = Task(current.pathspec).parent.parent
        run.add_tags([f"item{self.input}", "from_work"])
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("TAG_FAIL_END"):
            raise RuntimeError("end fails on purpose")


if __name__ == "__main__":
    TagFlow()
