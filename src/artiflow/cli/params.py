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
        own = getattr(param.type, "name", None) if not isinstance(param.type, type) else None
        self.name = "path" if isinstance(param, IncludeFile) else TYPE_NAMES.get(param.type, own or "value")

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


DEST_PREFIX = "param__"  # click's name for a Parameter's value: never clashes with run's own options


def parameter_options(attr: str, param: Parameter) -> list[click.Option]:
    """The options of one Parameter: `--<name>` (env: ARTIFLOW_RUN_<NAME> or METAFLOW_RUN_<NAME>).

    A bool parameter is `--name` (or `--name true|false`, as Metaflow writes it) and `--no-name`.
    A default computed when the run starts (a function, a config expression) is filled in by
    `parameters.finish_values`, as is the check of required parameters, so that a missing one is
    reported with its environment variables.
    """
    help_text = param.help or ""
    computed = param.computed_default
    default = None if computed else param.default
    if computed:
        what = getattr(param.default, "__name__", None) or repr(param.default)
        help_text = f"{help_text} [default: computed when the run starts, by {what}]".strip()
    if param.multiple and default is not None and not isinstance(default, (list, tuple)):
        default = (default,)
    dest = DEST_PREFIX + attr
    common = {"help": help_text, "envvar": param.env_names(), "show_default": param.show_default and not computed}
    if param.type is bool and param.separator is None:
        return [
            click.Option([f"--{param.name}", dest], type=ParameterType(param), is_flag=False, flag_value="true",
                         default=None if default is None else bool(default), metavar="[true|false]", **common),
            click.Option([f"--no-{param.name}", dest + "__no"], is_flag=True, default=False,
                         help=f"Set {param.name} to false."),
        ]
    extra = {} if default is None else {"default": default}
    return [click.Option([f"--{param.name}", dest], type=ParameterType(param), multiple=param.multiple, **common,
                         **extra)]


def parameter_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the keyword arguments click gives `run` into (the Parameters' values by attribute, the rest)."""
    params: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    negated = set()
    for key, value in values.items():
        if key.startswith(DEST_PREFIX) and key.endswith("__no"):
            if value:
                negated.add(key[len(DEST_PREFIX):-len("__no")])
        elif key.startswith(DEST_PREFIX):
            params[key[len(DEST_PREFIX):]] = value
        else:
            rest[key] = value
    for attr in negated:
        params[attr] = False
    return params, rest
