"""@secrets: environment variables set in a step's task from secret sources, before the step runs.

A source is a dict `{"type": ..., "id": ..., "options": {...}, "role": ...}` or a string
`"<type>.<id>"` (just `"<id>"` uses `ARTIFLOW_DEFAULT_SECRETS_BACKEND_TYPE`, or Metaflow's
`METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE`). Two backends work locally:

- `inline`: the variables are in the source itself, `options={"env_vars": {"NAME": "value"}}`
  (for tests and examples, as in Metaflow);
- `env`: the id names an environment variable of the runner holding a JSON object of the
  variables, e.g. `"env.DB_CREDENTIALS"` with `DB_CREDENTIALS='{"DB_PASSWORD": "..."}'`.

Cloud secret managers (aws-secrets-manager, gcp-secret-manager, az-key-vault) are refused when
the flow is checked, with a message saying so, rather than failing inside a running task.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .decorators import DECORATORS, DecoratorError, StepDecorator, _make
from .exceptions import ArtiflowException, load_json_object

LOCAL_BACKENDS = ("inline", "env")
CLOUD_BACKENDS = ("aws-secrets-manager", "gcp-secret-manager", "az-key-vault", "azure-key-vault")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_PREFIXES = ("METAFLOW_", "ARTIFLOW_")


class SecretsError(ArtiflowException):
    headline = "Cannot set secrets"


def _default_backend() -> str | None:
    return os.environ.get("ARTIFLOW_DEFAULT_SECRETS_BACKEND_TYPE") or os.environ.get(
        "METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE")


def parse_source(source: Any, role: str | None = None) -> dict[str, Any]:
    """One source as {"type", "id", "options", "role"}; DecoratorError for a malformed or unusable one."""
    if isinstance(source, str):
        kind, dot, secret_id = source.partition(".")
        spec = {"type": kind, "id": secret_id} if dot else {"id": source}
    elif isinstance(source, dict):
        spec = dict(source)
    else:
        raise DecoratorError(f"@secrets(sources=...): each source is a string or a dict, not {source!r}.")
    unknown = sorted(set(spec) - {"type", "id", "options", "role"})
    if unknown:
        raise DecoratorError(f"@secrets source {source!r}: unknown key(s) {', '.join(unknown)}; a source has "
                             f"type, id, options and role.")
    kind = spec.get("type") or _default_backend()
    if kind is None:
        raise DecoratorError(f"@secrets source {source!r} names no backend type: write it as 'inline' or "
                             f"'env.<VARIABLE>' (or a dict with \"type\"), or set ARTIFLOW_DEFAULT_SECRETS_BACKEND_TYPE.")
    for key, wanted in (("type", str), ("id", str), ("options", dict), ("role", str)):
        value = kind if key == "type" else spec.get(key, {} if key == "options" else None)
        if value is None and key == "role":
            continue
        if not isinstance(value, wanted):
            raise DecoratorError(f"@secrets source {source!r}: '{key}' must be a {wanted.__name__}, not {value!r}.")
    if kind not in LOCAL_BACKENDS:
        what = "a cloud secret manager" if kind in CLOUD_BACKENDS else "a secret backend"
        raise DecoratorError(
            f"@secrets source {source!r} uses {what} ({kind}), which artiflow cannot reach: only "
            f"{' and '.join(repr(b) for b in LOCAL_BACKENDS)} sources work. Use "
            f"{{'type': 'inline', 'id': '...', 'options': {{'env_vars': {{'NAME': 'value'}}}}}} or 'env.<VARIABLE>' "
            f"(a variable holding a JSON object of names to values).")
    if kind == "inline" and not isinstance(spec.get("options", {}).get("env_vars", {}), dict):
        raise DecoratorError(f"@secrets source {source!r}: options['env_vars'] must be a dict of names to values.")
    return {"type": kind, "id": spec["id"], "options": spec.get("options", {}), "role": spec.get("role", role)}


def _fetch(spec: dict[str, Any]) -> dict[str, Any]:
    """The variables of one source."""
    if spec["type"] == "inline":
        return dict(spec["options"].get("env_vars", {}))
    text = os.environ.get(spec["id"])
    if text is None:
        raise SecretsError(f"@secrets source 'env.{spec['id']}': the environment variable {spec['id']} is not set. "
                           f"Set it (in the shell that starts the run) to a JSON object of names to values.")
    return load_json_object(text, f"@secrets source 'env.{spec['id']}': {spec['id']}", SecretsError,
                            "It must hold a JSON object of names to values.")


def _check_variables(spec: dict[str, Any], variables: dict[str, Any]) -> None:
    for name, value in variables.items():
        where = f"Secret '{spec['id']}' ({spec['type']})"
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise SecretsError(f"{where}: {name!r} is not a valid environment variable name.")
        if name.startswith(RESERVED_PREFIXES):
            raise SecretsError(f"{where}: {name} starts with a reserved prefix ({', '.join(RESERVED_PREFIXES)}).")
        if not isinstance(value, str):
            raise SecretsError(f"{where}: the value of {name} must be a string, not a {type(value).__name__}.")


class SecretsDecorator(StepDecorator):
    """Set environment variables from secret sources in the step's task, before the step runs."""

    name = "secrets"
    defaults = {"sources": [], "role": None, "allow_override": False}

    def validate(self) -> None:
        sources = self.attributes["sources"]
        if not isinstance(sources, (list, tuple)):
            raise DecoratorError(f"@secrets(sources=...) must be a list of sources, not {sources!r}.")
        self.specs = [parse_source(s, self.attributes["role"]) for s in sources]

    def task_pre_step(self, hooks: Any) -> None:
        injected: dict[str, str] = {}
        by: dict[str, str] = {}
        for spec in self.specs:
            variables = _fetch(spec)
            _check_variables(spec, variables)
            for name in variables:
                if name in by:
                    raise SecretsError(f"Secrets '{spec['id']}' and '{by[name]}' both set {name}; keep one.")
                if name in os.environ and not self.attributes["allow_override"]:
                    raise SecretsError(f"Secret '{spec['id']}' sets {name}, which is already in the task's "
                                       f"environment. Rename one, or pass @secrets(allow_override=True).")
                by[name] = spec["id"]
            injected.update(variables)
        os.environ.update(injected)


DECORATORS[SecretsDecorator.name] = SecretsDecorator  # so that `run --with secrets:...` finds it
secrets = _make(SecretsDecorator)
