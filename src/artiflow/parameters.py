"""Run parameters: values given on the command line, stored as read-only artifacts of every step."""

from __future__ import annotations

import os

from .exceptions import ParameterError

# The launcher imports this module (as metaflow.parameters) before every flow file, so it stays light:
# typing for type checkers only, json and re where they are used.
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


class JSONType:
    """Marks a Parameter whose value is JSON text, parsed into Python values."""

    name = "JSON"

    @staticmethod
    def parse(text: Any, param_name: str) -> Any:
        if not isinstance(text, str):
            return text
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"Parameter '{param_name}' expects JSON, but {text!r} is not valid JSON: {exc}.") from None


class Parameter:
    """A value of the run, set with `--<name>` or `ARTIFLOW_RUN_<NAME>`; read-only in every step."""

    def __init__(self, name: str, default: Any = None, type: Any = None, help: str | None = None,
                 required: bool = False, show_default: bool = True, **kwargs: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ParameterError(f"A Parameter needs a name (a non-empty string), not {name!r}.")
        self.name = name
        self.default = default
        self.type = type if type is not None else _infer_type(default)
        self.help = help
        self.required = required
        self.show_default = show_default
        self.kwargs = kwargs
        self.attr_name: str | None = None  # the class attribute it is bound to

    def __set_name__(self, owner: type, attr_name: str) -> None:
        self.attr_name = attr_name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._af_read_artifact(self.attr_name or self.name)

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(
            f"Parameter '{self.name}' is read-only: it is set when the run starts (--{self.name}). "
            f"Store a changed value under another name, e.g. self.{self.name}_used = ..."
        )

    def env_names(self) -> list[str]:
        key = self.name.upper().replace("-", "_")
        return [f"ARTIFLOW_RUN_{key}", f"METAFLOW_RUN_{key}"]

    def convert(self, value: Any) -> Any:
        """Turn a command-line string (or a default) into the parameter's value."""
        if value is None:
            return None
        if self.type is JSONType or isinstance(self.type, JSONType):
            return JSONType.parse(value, self.name)
        if self.type is bool:
            return _parse_bool(value, self.name)
        if self.type in (int, float, str):
            try:
                return self.type(value)
            except (TypeError, ValueError):
                raise ParameterError(
                    f"Parameter '{self.name}' expects {self.type.__name__}, but got {value!r}."
                ) from None
        return value

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, default={self.default!r})"


def _infer_type(default: Any) -> Any:
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float)):
        return type(default)
    if isinstance(default, (dict, list)):
        return JSONType
    return str


def _parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise ParameterError(f"Parameter '{name}' expects true or false, but got {value!r}.")


class IncludeFile(Parameter):
    """A local file named on the command line, read when the run starts and stored as an artifact."""

    def __init__(self, name: str, default: str | None = None, is_text: bool = True, encoding: str = "utf-8",
                 help: str | None = None, required: bool = False, **kwargs: Any) -> None:
        super().__init__(name, default=default, type=str, help=help, required=required, **kwargs)
        self.is_text = is_text
        self.encoding = encoding

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        path = os.path.expanduser(str(value))
        if not os.path.isfile(path):
            raise ParameterError(
                f"IncludeFile '{self.name}': the file {value!r} does not exist (looked in {os.path.abspath(path)}). "
                f"Pass an existing file with --{self.name} PATH."
            )
        with open(path, "rb") as f:
            data = f.read()
        if not self.is_text:
            return data
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise ParameterError(
                f"IncludeFile '{self.name}': {value!r} is not valid {self.encoding} text ({exc}). "
                f"Pass is_text=False to store its bytes, or the right encoding=."
            ) from None


PARAMETER_NAME = r"^[A-Za-z][A-Za-z0-9_-]*$"


def check_parameters(flow_cls: type, step_names: set[str], reserved: set[str]) -> None:
    """Each Parameter must have a usable option name and not hide a step or a FlowSpec attribute."""
    import re

    seen: dict[str, str] = {}
    for attr, param in flow_parameters(flow_cls).items():
        where = f"Parameter '{param.name}' (self.{attr}) of {flow_cls.__name__}"
        if not re.match(PARAMETER_NAME, param.name):
            raise ParameterError(f"{where}: the name must start with a letter and hold only letters, digits, "
                                 f"'-' and '_', as it becomes the option --{param.name}.")
        if attr in step_names or attr in reserved:
            what = "a step" if attr in step_names else "an attribute FlowSpec uses"
            raise ParameterError(f"{where}: self.{attr} is {what}; give the parameter another attribute name.")
        if param.name in seen:
            raise ParameterError(f"{where}: --{param.name} is also the option of self.{seen[param.name]}.")
        seen[param.name] = attr


def flow_parameters(flow_cls: type) -> dict[str, Parameter]:
    """The Parameters declared on a flow class (and its bases), by attribute name."""
    found: dict[str, Parameter] = {}
    for klass in reversed(flow_cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Parameter):
                found[attr] = value
    return found
