"""Flow configs (Metaflow's `Config`): values fixed before the run starts, read-only in every step.

A `Config` is declared on the flow class; its value comes from `--config NAME PATH` or
`--config-value NAME JSON` (options before the command), from the environment
(`ARTIFLOW_FLOW_CONFIG` / `METAFLOW_FLOW_CONFIG`: a JSON object of name → path, and
`..._FLOW_CONFIG_VALUE`: name → value), or from its default file or default value. Because the
value is known before the run, it can be used where Parameters cannot: in decorators and in
Parameter defaults, as `config.key` or `config_expr("expression")`. Those uses are *deferred*
(a `ConfigExpr`) and resolved by `apply_configs` once the values are loaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .exceptions import ArtiflowException, load_json_object

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (flows import this module)
if TYPE_CHECKING:
    from typing import Any, Callable

UNPACK_KEY = "_af_unpack_config_"  # the one key of `**config`: resolved into the config's own keys
ENV_PATHS = ("ARTIFLOW_FLOW_CONFIG", "METAFLOW_FLOW_CONFIG")
ENV_VALUES = ("ARTIFLOW_FLOW_CONFIG_VALUE", "METAFLOW_FLOW_CONFIG_VALUE")


class FlowConfigError(ArtiflowException):
    headline = "Invalid flow config"


def _immutable(*_: Any, **__: Any) -> None:
    raise TypeError("A config value is read-only: copy it (e.g. with .to_dict()) to change it.")


class ConfigValue(dict):
    """A config's value: a read-only dict whose keys are also attributes (`cfg.a.b`, `cfg["a"]["b"]`)."""

    def __init__(self, data: Mapping) -> None:
        dict.__init__(self, {k: _wrap(v) for k, v in data.items()})

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"the config has no key {key!r}; its keys: {', '.join(map(str, self)) or 'none'}") \
                from None

    __setattr__ = __delattr__ = __setitem__ = __delitem__ = _immutable
    clear = update = setdefault = pop = popitem = __ior__ = _immutable  # type: ignore[assignment]

    def to_dict(self) -> dict:
        """A plain, changeable copy (nested values too)."""
        return _plain(self)

    def copy(self) -> ConfigValue:
        return self

    def __copy__(self) -> ConfigValue:
        return self

    def __deepcopy__(self, memo: dict) -> ConfigValue:
        return self

    def __reduce__(self) -> tuple:
        return (ConfigValue, (_plain(self),))


def _wrap(value: Any) -> Any:
    if isinstance(value, ConfigValue):
        return value
    if isinstance(value, Mapping):
        return ConfigValue(value)
    if isinstance(value, (list, tuple)):
        return tuple(_wrap(v) for v in value) if isinstance(value, tuple) else [_wrap(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Nested mappings as plain dicts (what is stored, so that any reader gets dicts back)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value) if isinstance(value, tuple) else [_plain(v) for v in value]
    return value


class ConfigExpr:
    """A value computed from configs once they are known: `config.a.b`, `config_expr("str(config.x)")`."""

    def __init__(self, expr: str, scope: dict | None = None, access: tuple = ()) -> None:
        object.__setattr__(self, "_expr", expr)
        object.__setattr__(self, "_scope", scope)
        object.__setattr__(self, "_access", access)

    def __getattr__(self, name: str) -> ConfigExpr:
        if name.startswith("_"):
            raise AttributeError(name)
        return ConfigExpr(self._expr, self._scope, (*self._access, (".", name)))

    def __getitem__(self, key: Any) -> ConfigExpr:
        if isinstance(key, str) and key.startswith(UNPACK_KEY):
            return self
        return ConfigExpr(self._expr, self._scope, (*self._access, ("[]", key)))

    def keys(self) -> list[str]:
        """`**expr` gives one placeholder key, replaced by the value's own keys when resolved."""
        return [f"{UNPACK_KEY}{id(self)}"]

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("A config expression is read-only.")

    def __bool__(self) -> bool:
        raise FlowConfigError(f"{self.describe()} has no value yet: configs are known only when the run starts, so "
                          f"it cannot be tested with `if` in the class body.")

    def describe(self) -> str:
        path = "".join(f".{k}" if kind == "." else f"[{k!r}]" for kind, k in self._access)
        return f"config_expr({self._expr!r}){path}"

    __repr__ = describe

    def evaluate(self, values: dict[str, Any]) -> Any:
        """The value of this expression with the configs' `values` (by config name and attribute)."""
        import builtins

        scope = dict(self._scope) if self._scope is not None else {"__builtins__": builtins}
        try:
            value = eval(self._expr, scope, {k: _wrap(v) for k, v in values.items()})  # noqa: S307 - the flow's own code
            for kind, key in self._access:
                if isinstance(key, ConfigExpr):
                    key = key.evaluate(values)
                value = getattr(value, key) if kind == "." else value[key]
        except Exception as exc:  # noqa: BLE001 - any failure of the user's expression is reported by name
            known = ", ".join(sorted(values)) or "none"
            raise FlowConfigError(f"{self.describe()} could not be evaluated: {type(exc).__name__}: {exc}. "
                              f"The flow's configs: {known}.") from None
        return value


def config_expr(expr: str) -> ConfigExpr:
    """A deferred expression over the flow's configs (and the caller's module names), for decorators."""
    import sys

    if not isinstance(expr, str) or not expr.strip():
        raise FlowConfigError(f"config_expr() takes the text of a Python expression, not {expr!r}.")
    return ConfigExpr(expr, sys._getframe(1).f_globals)


class Config(Mapping):
    """A flow config: `cfg = Config("cfg", default="cfg.json")`, then `self.cfg.key` in every step."""

    def __init__(self, name: str, default: str | Callable | None = None, default_value: Any = None,
                 help: str | None = None, required: bool | None = None, parser: str | Callable | None = None,
                 plain: bool = False, **kwargs: Any) -> None:
        set_ = object.__setattr__
        if not isinstance(name, str) or not name:
            raise FlowConfigError(f"A Config needs a name (a non-empty string), not {name!r}.")
        if default is not None and default_value is not None:
            raise FlowConfigError(f"Config '{name}': give default= (a file) or default_value= (a value), not both.")
        set_(self, "name", name)
        set_(self, "default", default)
        set_(self, "default_value", default_value)
        set_(self, "help", help)
        set_(self, "required", bool(required))
        set_(self, "parser", parser)
        set_(self, "plain", plain)
        set_(self, "kwargs", kwargs)
        set_(self, "attr_name", None)

    def __set_name__(self, owner: type, attr_name: str) -> None:
        object.__setattr__(self, "attr_name", attr_name)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        name = self.attr_name or self.name
        value = instance._af_read_artifact(name)
        if self.plain or not isinstance(value, Mapping) or isinstance(value, ConfigValue):
            return value
        wrapped = ConfigValue(value)
        ctx = instance._af_ctx
        if ctx is not None:
            ctx.loaded[name] = wrapped  # wrap once per task
        return wrapped

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(f"Config '{self.name}' is read-only: it is fixed when the run starts. Store a changed "
                        f"copy under another name, e.g. self.{self.name}_used = self.{self.name}.to_dict().")

    # In the class body (decorators, Parameter defaults), `cfg.key`, `cfg["key"]` and `**cfg` are deferred.
    def __getattr__(self, name: str) -> ConfigExpr:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(ConfigExpr(self.name), name)

    def __getitem__(self, key: Any) -> ConfigExpr:
        return ConfigExpr(self.name)[key]

    def __iter__(self):
        return iter(ConfigExpr(self.name).keys())

    def __len__(self) -> int:
        return 1

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"Config '{self.name}' cannot be changed after it is declared.")

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"Config({self.name!r})"


# -- finding and loading -----------------------------------------------------------------------------
def flow_configs(flow_cls: type) -> dict[str, Config]:
    """The Configs declared on a flow class (and its bases), by attribute name."""
    found: dict[str, Config] = {}
    for klass in reversed(flow_cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Config):
                found[attr] = value
    return found


def is_deferred(value: Any) -> bool:
    """True if `value` holds a config expression anywhere (in a dict, list or tuple too)."""
    if isinstance(value, (ConfigExpr, Config)):
        return True
    if isinstance(value, dict):
        return any(is_deferred(k) or is_deferred(v) or (isinstance(k, str) and k.startswith(UNPACK_KEY))
                   for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return any(is_deferred(v) for v in value)
    return False


def resolve(value: Any, values: dict[str, Any]) -> Any:
    """`value` with every config expression replaced by its value (as plain dicts), `**cfg` unpacked."""
    if isinstance(value, Config):
        value = ConfigExpr(value.name)
    if isinstance(value, ConfigExpr):
        return _plain(value.evaluate(values))
    if isinstance(value, dict):
        out: dict = {}
        for k, v in value.items():
            if isinstance(k, str) and k.startswith(UNPACK_KEY):
                unpacked = resolve(v, values)
                if not isinstance(unpacked, Mapping):
                    raise FlowConfigError(f"**{v!r} needs a mapping, but its value is a {type(unpacked).__name__}.")
                out.update(unpacked)
            else:
                out[resolve(k, values)] = resolve(v, values)
        return out
    if isinstance(value, (list, tuple, set)):
        return type(value)(resolve(v, values) for v in value)
    return value


def parse_options(pairs: tuple, option: str, configs: dict[str, Config]) -> dict[str, str]:
    """`--config NAME PATH` / `--config-value NAME VALUE` pairs → {config name: text}, names checked."""
    names = {c.name for c in configs.values()}
    out: dict[str, str] = {}
    for name, text in pairs:
        if name not in names:
            known = ", ".join(sorted(names)) or "none (it declares no Config)"
            raise FlowConfigError(f"{option} {name} ...: the flow has no config named '{name}'. Its configs: {known}.")
        out[name] = text
    return out


def _env_mapping(names: tuple[str, ...], what: str) -> dict[str, tuple[Any, str]]:
    """Merge the JSON objects of the environment variables `names` (the first listed wins)."""
    merged: dict[str, tuple[Any, str]] = {}
    for var in reversed(names):
        text = os.environ.get(var)
        if not text:
            continue
        loaded = load_json_object(text, f"The environment variable {var}", FlowConfigError,
                                  f"It must be a JSON object of config name to {what}, e.g. {var}='{{\"cfg\": ...}}'.")
        merged.update({k: (v, f"the environment variable {var}") for k, v in loaded.items()})
    return merged


def load_configs(flow_cls: type, paths: dict[str, str] | None = None, texts: dict[str, str] | None = None,
                 user: str = "") -> dict[str, Any]:
    """Each config's value (plain data, or None), by attribute name: command line, then environment, then default."""
    configs = flow_configs(flow_cls)
    if not configs:
        return {}
    paths, texts = dict(paths or {}), dict(texts or {})
    both = sorted(set(paths) & set(texts))
    if both:
        raise FlowConfigError(f"Config '{both[0]}' is given both as a file (--config) and as a value (--config-value); "
                          f"give one.")
    env_paths, env_values = _env_mapping(ENV_PATHS, "file path"), _env_mapping(ENV_VALUES, "value")
    by_name = {c.name: c for c in configs.values()}
    for name in sorted((set(env_paths) | set(env_values)) - set(by_name)):
        source = (env_paths.get(name) or env_values.get(name))[1]
        raise FlowConfigError(f"{source} sets config '{name}', but the flow has no config of that name. Its configs: "
                          f"{', '.join(sorted(by_name)) or 'none'}.")
    values: dict[str, Any] = {}
    for attr, config in configs.items():
        name = config.name
        if name in paths:
            values[attr] = _from_file(config, paths[name], f"--config {name} {paths[name]}")
        elif name in texts:
            values[attr] = _parse(config, texts[name], f"--config-value {name}")
        elif name in env_paths or name in env_values:
            raw, source = env_paths[name] if name in env_paths else env_values[name]
            values[attr] = (_from_file(config, str(raw), f"{source} (file {raw})") if name in env_paths
                            else _parse(config, raw, source))
        else:
            values[attr] = _default(flow_cls, config, user)
        if values[attr] is None and config.required:
            raise FlowConfigError(
                f"Config '{name}' is required but has no value. Give it before the command: "
                f"python {os.path.basename(_flow_file(flow_cls))} --config {name} PATH run (or --config-value "
                f"{name} JSON), or set METAFLOW_FLOW_CONFIG='{{\"{name}\": \"PATH\"}}'.")
    return values


def _flow_file(flow_cls: type) -> str:
    import sys

    return getattr(sys.modules.get(flow_cls.__module__), "__file__", None) or "flow.py"


def _default(flow_cls: type, config: Config, user: str) -> Any:
    default, value = config.default, config.default_value
    if default is not None:
        path = _call_default(flow_cls, config, default, user) if callable(default) else default
        return None if path is None else _from_file(config, str(path), f"its default (default={str(path)!r})")
    if value is None:
        return None
    if callable(value):
        value = _call_default(flow_cls, config, value, user)
    return _parse(config, value, "its default_value")


def _call_default(flow_cls: type, config: Config, func: Callable, user: str) -> Any:
    from .parameters import ParameterContext, call_default

    ctx = ParameterContext(flow_name=flow_cls.__name__, user_name=user, parameter_name=config.name,
                           logger=_log, ds_type="local", configs=None)
    try:
        return call_default(func, ctx)
    except Exception as exc:  # noqa: BLE001 - the user's function failed: say which config's
        raise FlowConfigError(f"Config '{config.name}': its default function {getattr(func, '__name__', func)!r} "
                          f"raised {type(exc).__name__}: {exc}") from None


def _log(*args: Any, **kwargs: Any) -> None:
    import sys

    print(*args, file=sys.stderr)


def _from_file(config: Config, path: str, source: str) -> Any:
    full = os.path.abspath(os.path.expanduser(path))
    try:
        with open(full, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise FlowConfigError(f"Config '{config.name}': cannot read the file {path!r} given by {source} "
                          f"({exc.strerror}; looked in {full}). Give an existing file.") from None
    return _parse(config, text, f"the file {path}")


def _parse(config: Config, raw: Any, source: str) -> Any:
    """Turn a config's text (or an already-built value) into its value, with its parser or as JSON."""
    if not isinstance(raw, str):
        if config.plain or isinstance(raw, Mapping):
            return _plain(raw)
        raw = _to_json(raw)
    if config.parser is not None:
        parser = _find_parser(config)
        try:
            value = parser(raw)
        except Exception as exc:  # noqa: BLE001 - the user's parser failed: say on what
            raise FlowConfigError(f"Config '{config.name}': its parser {getattr(parser, '__name__', parser)!r} failed "
                              f"on {source}: {type(exc).__name__}: {exc}") from None
        if not config.plain and not isinstance(value, Mapping):
            raise FlowConfigError(f"Config '{config.name}': its parser returned a {type(value).__name__}, not a mapping "
                              f"(for {source}). Return a dict, or declare the Config with plain=True.")
        return _plain(value)
    if config.plain:
        return raw
    return load_json_object(raw, f"Config '{config.name}': {source}", FlowConfigError,
                            "A config is a JSON object: fix it, give the Config a parser= for another format, or "
                            "declare it with plain=True.")


def _to_json(value: Any) -> str:
    import json

    return json.dumps(value)


def _find_parser(config: Config) -> Callable:
    parser = config.parser
    if callable(parser):
        return parser
    if not isinstance(parser, str) or "." not in parser:
        raise FlowConfigError(f"Config '{config.name}': parser= is a function or 'module.function', not {parser!r}.")
    import importlib

    dotted = "artiflow" + parser if parser.startswith(".") else parser
    module_name, _, func_name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FlowConfigError(f"Config '{config.name}': cannot import the parser's module {module_name!r} ({exc}).") \
            from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise FlowConfigError(f"Config '{config.name}': {module_name} has no function {func_name!r} to parse with.")
    return func


# -- applying the values to the flow class -------------------------------------------------------------
def apply_configs(flow_cls: type, values: dict[str, Any]) -> None:
    """Resolve every deferred use of configs on `flow_cls`: flow and step decorators, Parameter attributes."""
    from .decorators import resolve_step_decorators
    from .flow_decorators import resolve_flow_decorators
    from .parameters import flow_parameters

    configs = flow_configs(flow_cls)
    scope: dict[str, Any] = {}
    for attr, config in configs.items():
        value = values.get(attr)
        scope[attr] = value if config.plain else _wrap(value)
        if config.name.isidentifier():
            scope[config.name] = scope[attr]
    flow_cls._af_config_values = dict(values)  # type: ignore[attr-defined]

    def evaluate(value: Any) -> Any:
        return resolve(value, scope)

    resolve_flow_decorators(flow_cls, evaluate)
    for attr in dir(flow_cls):
        func = getattr(flow_cls, attr, None)
        if callable(func) and getattr(func, "is_step", False):
            resolve_step_decorators(func, evaluate)
    for param in flow_parameters(flow_cls).values():
        param.resolve_configs(evaluate)


def config_values(flow_cls: type) -> dict[str, Any] | None:
    """The values `apply_configs` set (None before), wrapped for `ParameterContext.configs`."""
    values = getattr(flow_cls, "_af_config_values", None)
    if values is None:
        return None
    configs = flow_configs(flow_cls)
    return {configs[a].name if a in configs else a: v for a, v in values.items()}
