"""Parameters of every kind, IncludeFile, and `current`."""

from artiflow import FlowSpec, IncludeFile, JSONType, Parameter, current, step


class ParamsFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.1, type=float, help="Learning rate.")
    count = Parameter("count", default=3)
    name_ = Parameter("who", default="world")
    config = Parameter("config", type=JSONType, default='{"depth": 2}')
    needed = Parameter("needed", required=True, type=int)
    flag = Parameter("flag", default=False, type=bool)
    data = IncludeFile("data", default=None, is_text=True)

    @step
    def start(self):
        self.seen = {"alpha": self.alpha, "count": self.count, "who": self.name_, "config": self.config,
                     "needed": self.needed, "flag": self.flag, "data": self.data}
        self.cur = {k: getattr(current, k) for k in ("flow_name", "run_id", "step_name", "task_id", "pathspec",
                                                     "retry_count", "username", "namespace", "tags",
                                                     "is_running_flow", "parameter_names")}
        try:
            self.alpha = 5
        except AttributeError as exc:
            self.write_error = str(exc)
        self.next(self.end)

    @step
    def end(self):
        self.alpha_in_end = self.alpha
        print("alpha", self.alpha, "needed", self.needed)


if __name__ == "__main__":
    ParamsFlow()
