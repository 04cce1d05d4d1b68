"""Parameters of every kind: separator, multiple, bool given as a value, a click type, computed and required."""

import click

from artiflow import FlowSpec, Parameter, step

CALLS = []


def who(ctx):
    with open("who.calls", "a") as f:  # the test checks that the default function runs once per run
        f.write("x")
    return f"{ctx.flow_name}:{ctx.parameter_name}:{ctx.user_name}"


class ParamKindsFlow(FlowSpec):
    ids = Parameter("ids", separator=",", default="a,b")
    nums = Parameter("nums", separator=",", type=int, default="1,2,3")
    val = Parameter("val", multiple=True, type=int)
    labels = Parameter("labels", multiple=True, default=["x"])
    flag = Parameter("flag", type=bool, default=False)
    choice = Parameter("choice", type=click.Choice(["red", "blue"]), default="red")
    computed = Parameter("computed", default=who)
    needed = Parameter("needed", type=float, required=True)

    @step
    def start(self):
        self.seen = {name: getattr(self, name) for name in
                     ("ids", "nums", "val", "labels", "flag", "choice", "computed", "needed")}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParamKindsFlow()
