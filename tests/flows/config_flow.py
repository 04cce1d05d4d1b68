"""Flow configs: from a file, a default value, the command line; used in decorators and Parameter defaults."""

import os

from artiflow import Config, FlowSpec, Parameter, config_expr, current, environment, project, step


def doubled_size(ctx):
    return ctx.configs.cfg.size * 2


@project(name=config_expr("cfg").project)
class ConfigFlow(FlowSpec):
    cfg = Config("cfg", default="cfg.json", help="The main settings.")
    extra = Config("extra", default_value={"mode": "fast", "nested": {"k": 1}})
    kv = Config("kv", default_value="a=1", parser="kv_parser.parse")
    opt = Config("opt")
    size = Parameter("size", default=config_expr("cfg").size, type=int)
    doubled = Parameter("doubled", default=doubled_size, type=int)

    @environment(vars={"MODE": extra.mode, "SIZE": config_expr("str(cfg.size)")})
    @step
    def start(self):
        self.seen = {"size": self.cfg.size, "item": self.cfg["size"], "nested": self.extra.nested.k,
                     "nested_item": self.extra["nested"]["k"], "kv": dict(self.kv), "opt": self.opt,
                     "param_size": self.size, "doubled": self.doubled, "env": [os.environ["MODE"], os.environ["SIZE"]],
                     "project": current.project_name, "names": sorted(current.parameter_names)}
        self.errors = []
        for change in (lambda: setattr(self, "cfg", {}), lambda: setattr(self.cfg, "size", 1),
                       lambda: self.cfg.__setitem__("size", 1), lambda: self.extra.nested.update(k=2)):
            try:
                change()
            except (AttributeError, TypeError) as exc:
                self.errors.append((type(exc).__name__, str(exc)))
        self.next(self.middle, self.other)

    @step
    def middle(self):
        self.next(self.join)

    @step
    def other(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.from_input = inputs[0].cfg.size
        self.next(self.end)

    @step
    def end(self):
        self.end_size = self.cfg.size


if __name__ == "__main__":
    ConfigFlow()
