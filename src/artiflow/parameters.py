"""Run parameters: values given on the command line, stored as read-only artifacts of every step."""

from __future__ import annotations

import os

from .exceptions import ParameterError, quoted, shown

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
            raise ParameterError(f"Parameter '{param_name}' expects JSON, but {quoted(text)} is not valid JSON: "
                                 f"{exc}.") from None
        except (RecursionError, ValueError) as exc:  # nested too deep, or a number too long for Python
            reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ParameterError(f"Parameter '{param_name}' expects JSON, but {quoted(text)} cannot be read: "
                                 f"{reason}.") from None


def _is_deferred(value: Any) -> bool:
    """True for a value given as a config expression (resolved when the run's configs are known)."""
    return type(value).__name__ in ("ConfigExpr", "Config") and type(value).__module__ == "artiflow.configs"


def _is_click_type(kind: Any) -> bool:
    return hasattr(kind, "convert") and hasattr(kind, "fail") and not isinstance(kind, type)


def _context_class() -> type:
    from collections import namedtuple

    fields = ("flow_name", "user_name", "parameter_name", "logger", "ds_type", "configs")
    context = namedtuple("ParameterContext", fields)
    context.__doc__ = "What a default function gets: the flow, the user, the parameter's name, the configs."
    return context


ParameterContext = _context_class()


def call_default(func: Any, ctx: Any) -> Any:
    """Call a default function with its context (and `deploy_time=False` if it takes a second argument)."""
    import inspect

    try:
        positional = [p for p in inspect.signature(func).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        positional = []
    takes_two = len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in positional)
    return func(ctx, False) if takes_two else func(ctx)


class Parameter:
    """A value of the run, set with `--<name>` or `ARTIFLOW_RUN_<NAME>`; read-only in every step.

    `separator=","` makes a list from one string (elements converted to `type`, str by default),
    `multiple=True` lets the option be repeated (a tuple), and `default` may be a function of a
    `ParameterContext`, called once when the run starts, or a config expression.
    """

    def __init__(self, name: str, default: Any = None, type: Any = None, help: str | None = None,
                 required: bool | None = None, show_default: bool | None = None, separator: str | None = None,
                 multiple: bool = False, **kwargs: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ParameterError(f"A Parameter needs a name (a non-empty string), not {name!r}.")
        self.name = name
        self._given = {"default": default, "type": type, "help": help, "required": required,
                       "show_default": show_default, "separator": separator, "multiple": multiple}
        self.kwargs = kwargs
        self.attr_name: str | None = None  # the class attribute it is bound to
        self._set(self._given)

    def _set(self, given: dict[str, Any]) -> None:
        self.default = given["default"]
        self.type = given["type"] if given["type"] is not None else _infer_type(self.default, given["multiple"])
        self.help = given["help"]
        required = given["required"]
        self.required = required if callable(required) or _is_deferred(required) else bool(required)
        self.show_default = True if given["show_default"] is None else given["show_default"]
        self.separator = given["separator"]
        self.multiple = given["multiple"]

    @property
    def computed_default(self) -> bool:
        """True if the default is known only when the run starts (a function or a config expression)."""
        return _is_deferred(self.default) or (callable(self.default) and not isinstance(self.default, type))

    def resolve_configs(self, evaluate: Any) -> None:
        """Replace the attributes given as config expressions by their values (`evaluate` resolves one)."""
        if any(_is_deferred(v) for v in self._given.values()):
            self._set({k: evaluate(v) if _is_deferred(v) else v for k, v in self._given.items()})

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

    def type_name(self) -> str:
        """The type as a user reads it: int, float, str, bool, JSON, or the type's own name."""
        kind = self.type
        if kind is JSONType or isinstance(kind, JSONType):
            return "JSON"
        return getattr(kind, "__name__", None) or getattr(kind, "name", None) or repr(kind)

    def convert(self, value: Any) -> Any:
        """Turn a command-line string (or a default) into the parameter's value."""
        if value is None:
            return None
        if self.separator is not None:
            parts = value.split(self.separator) if isinstance(value, str) else value
            if not isinstance(parts, (list, tuple)):
                parts = [parts]
            out = []
            for i, part in enumerate(parts):
                try:
                    out.append(self._convert_one(part))
                except ParameterError:
                    raise ParameterError(
                        f"Parameter '{self.name}' is a list of {self.type_name()} separated by {self.separator!r}, "
                        f"but element {i + 1} of {quoted(value)} is {quoted(part)}, which is not a valid "
                        f"{self.type_name()}."
                    ) from None
            return out
        return self._convert_one(value)

    def _convert_one(self, value: Any) -> Any:
        kind = self.type
        if kind is JSONType or isinstance(kind, JSONType):
            return JSONType.parse(value, self.name)
        if kind is bool:
            return _parse_bool(value, self.name)
        if kind in (int, float, str):
            try:
                return kind(value)
            except (TypeError, ValueError):
                raise ParameterError(f"Parameter '{self.name}' expects {kind.__name__}, but got {quoted(value)}.") from None
        if _is_click_type(kind):  # e.g. click.Choice([...]), click.IntRange(...)
            try:
                return kind.convert(value, None, None)
            except Exception as exc:  # noqa: BLE001 - click's BadParameter, without importing click here
                text = (getattr(exc, "message", None) or str(exc)).replace(repr(value), quoted(value))
                raise ParameterError(f"Parameter '{self.name}': {text}") from None
        if callable(kind) and isinstance(value, str):
            try:
                return kind(value)
            except Exception as exc:  # noqa: BLE001 - the user's type function rejected the value
                raise ParameterError(f"Parameter '{self.name}' expects {self.type_name()}, but {quoted(value)} was "
                                     f"rejected: {exc}") from None
        return value

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, default={self.default!r})"


def _infer_type(default: Any, multiple: bool = False) -> Any:
    if multiple and isinstance(default, (list, tuple)):
        default = default[0] if default else None  # a repeatable option: its elements' type
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
    raise ParameterError(f"Parameter '{name}' expects true or false, but got {quoted(value)}.")


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
        data = self._read(str(value))
        if not self.is_text:
            return data
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise ParameterError(
                f"IncludeFile '{self.name}': {quoted(value)} is not valid {self.encoding} text ({exc}). "
                f"Pass is_text=False to store its bytes, or the right encoding=."
            ) from None
        except LookupError:
            raise ParameterError(f"IncludeFile '{self.name}': encoding={self.encoding!r} is not a known text "
                                 f"encoding; use e.g. encoding='utf-8'.") from None

    def _read(self, given: str) -> bytes:
        """The bytes of the file the command line names; a ParameterError says why it cannot be read."""
        path = os.path.expanduser(given)
        where = f"IncludeFile '{self.name}': the file {quoted(given)}"
        if not os.path.isfile(path):
            what = "is a folder, not a file" if os.path.isdir(path) else (
                "is not a regular file" if os.path.exists(path) else "does not exist")
            raise ParameterError(f"{where} {what} (looked in {shown(os.path.abspath(path))}). "
                                 f"Pass an existing file with --{self.name} PATH.")
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise ParameterError(f"{where} cannot be read: {exc.strerror or exc}. Check its permissions, or pass "
                                 f"another file with --{self.name} PATH.") from None


PARAMETER_NAME = r"^[A-Za-z][A-Za-z0-9_-]*$"
# Options of `run` (and names Metaflow reserves): a Parameter cannot take them.
RESERVED_PARAMETER_NAMES = frozenset({
    "params", "with", "tag", "namespace", "obj", "tags", "decospecs", "run-id-file", "max-num-splits",
    "max-workers", "max-log-size", "user-namespace", "run-id", "task-id", "runner-attribute-file", "cache",
    "executor", "dask-scheduler", "dask_scheduler",
})
SEPARATOR_TYPES = (str, int, float)


def check_parameter_names(flow_cls: type) -> None:
    """Each Parameter's option name is usable, not reserved, and not another Parameter's (any case)."""
    import re

    seen: dict[str, str] = {}
    for attr, param in flow_parameters(flow_cls).items():
        where = f"Parameter '{param.name}' (self.{attr}) of {flow_cls.__name__}"
        if not re.match(PARAMETER_NAME, param.name):
            raise ParameterError(f"{where}: the name must start with a letter and hold only letters, digits, "
                                 f"'-' and '_', as it becomes the option --{param.name}.")
        if param.name.lower().replace("_", "-") in RESERVED_PARAMETER_NAMES:
            raise ParameterError(f"{where}: '{param.name}' is a reserved name (--{param.name} is an option of run, "
                                 f"or reserved by Metaflow). Give the parameter another name.")
        key = param.name.lower()
        if key in seen:
            raise ParameterError(f"{where}: --{param.name} is also the option of self.{seen[key]} (parameter "
                                 f"names are case-insensitive).")
        seen[key] = attr


def check_parameters(flow_cls: type, step_names: set[str], reserved: set[str]) -> None:
    """Each Parameter must have a usable option name and declaration, and not hide a step or a FlowSpec attribute."""
    check_parameter_names(flow_cls)
    for attr, param in flow_parameters(flow_cls).items():
        where = f"Parameter '{param.name}' (self.{attr}) of {flow_cls.__name__}"
        if attr in step_names or attr in reserved:
            what = "a step" if attr in step_names else "an attribute FlowSpec uses"
            raise ParameterError(f"{where}: self.{attr} is {what}; give the parameter another attribute name.")
        _check_declaration(param, where)


def _check_declaration(param: Parameter, where: str) -> None:
    for field in ("required", "show_default", "separator", "type", "help"):
        value = getattr(param, field)
        if _is_deferred(value):
            raise ParameterError(f"{where}: {field}= is a config expression that was not resolved.")
    for field in ("required", "show_default", "separator"):
        if callable(getattr(param, field)):
            raise ParameterError(f"{where}: {field}= cannot be a function (only default= can).")
    if param.separator is not None:
        if not isinstance(param.separator, str) or not param.separator:
            raise ParameterError(f"{where}: separator= must be a non-empty string, not {param.separator!r}.")
        if param.type not in SEPARATOR_TYPES:
            raise ParameterError(f"{where}: separator= makes a list of str, int or float elements, not of "
                                 f"{param.type_name()}. Drop separator= (or use type=JSONType for a JSON list).")
    if param.multiple and param.type is bool:
        raise ParameterError(f"{where}: multiple=True does not work for a bool parameter (a flag); use "
                             f"separator=',' with type=str, or a JSONType list.")


def flow_parameters(flow_cls: type) -> dict[str, Parameter]:
    """The Parameters declared on a flow class (and its bases), by attribute name."""
    found: dict[str, Parameter] = {}
    for klass in reversed(flow_cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Parameter):
                found[attr] = value
    return found


def _missing(value: Any) -> bool:
    return value is None or value == ()


def finish_values(flow_cls: type, values: dict[str, Any], user: str, project: dict[str, Any] | None = None,
                  logger: Any = None) -> dict[str, Any]:
    """The run's parameter values: computed defaults filled in (each function called once), required ones checked.

    `values` are what the command line and environment gave, by attribute name. While default
    functions run, `current` knows the flow, the user and the project (as in Metaflow).
    """
    from .current import current

    out = dict(values)
    saved = current._info
    current._set(**{k: v for k, v in (project or {}).items() if k != "tags"}, flow_name=flow_cls.__name__,
                 username=user)
    try:
        for attr, param in flow_parameters(flow_cls).items():
            value = out.get(attr)
            if _missing(value) and param.default is not None:
                value = _default_value(flow_cls, param, user, logger)
            if _missing(value) and param.required:
                envs = " or ".join(param.env_names())
                raise ParameterError(f"Parameter '{param.name}' is required but has no value: pass --{param.name} "
                                     f"VALUE to run, or set {envs}.")
            out[attr] = value
    finally:
        current._info = saved
    return out


def _default_value(flow_cls: type, param: Parameter, user: str, logger: Any) -> Any:
    default = param.default
    if callable(default) and not isinstance(default, type):
        from .configs import ConfigValue, config_values

        configs = config_values(flow_cls)
        ctx = ParameterContext(flow_name=flow_cls.__name__, user_name=user, parameter_name=param.name,
                               logger=logger or _echo, ds_type="local",
                               configs=ConfigValue(configs) if configs is not None else None)
        try:
            default = call_default(default, ctx)
        except ParameterError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's function failed: say which parameter's
            name = getattr(param.default, "__name__", repr(param.default))
            raise ParameterError(f"Parameter '{param.name}': its default function {name} raised "
                                 f"{type(exc).__name__}: {exc}") from None
    if param.multiple:
        items = default if isinstance(default, (list, tuple)) else (default,)
        return tuple(param.convert(v) for v in items)
    return param.convert(default)


def _echo(*args: Any, **kwargs: Any) -> None:
    import sys

    print(*args, file=sys.stderr)
