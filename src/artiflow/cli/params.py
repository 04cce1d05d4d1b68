"""Turn a flow's Parameters into click options of `run`."""

from __future__ import annotations

from typing import Any

import click

from ..exceptions import ParameterError
from ..parameters import IncludeFile, JSONType, Parameter

TYPE_NAMES = {int: "integer", float: "float", str: "text", JSONType: "json"}


class ParameterType(click.ParamType):
    """Converts a command-line string with the Parameter's own rules, reporting errors by name."""

    def __init__(self, param: Parameter) -> None:
        self.param = param
        self.name = "path" if isinstance(param, IncludeFile) else TYPE_NAMES.get(param.type, "value")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.param.convert(value)
        except ParameterError as exc:
            self.fail(exc.message + _env_note(self.param, param, ctx), param, ctx)


def _env_note(parameter: Parameter, option: click.Parameter | None, ctx: click.Context | None) -> str:
    """Say which environment variable a bad value came from, when it did not come from the command line."""
    if ctx is None or option is None or option.name is None:
        return ""
    if ctx.get_parameter_source(option.name) is not click.core.ParameterSource.ENVIRONMENT:
        return ""
    import os

    names = [n for n in parameter.env_names() if os.environ.get(n)]
    return f" (the value comes from the environment variable {names[0]})" if names else ""


def parameter_option(attr: str, param: Parameter) -> click.Option:
    """The `--<name>` option of one Parameter (env: ARTIFLOW_RUN_<NAME> or METAFLOW_RUN_<NAME>)."""
    help_text = param.help or ""
    if param.type is bool:
        return click.Option([f"--{param.name}/--no-{param.name}", attr], default=bool(param.default),
                            help=help_text, envvar=param.env_names(), show_default=param.show_default)
    extra = {} if param.default is None else {"default": param.default}
    return click.Option(
        [f"--{param.name}", attr],
        type=ParameterType(param),
        required=param.required and param.default is None,
        help=help_text,
        envvar=param.env_names(),
        show_default=param.show_default,
        **extra,
    )
