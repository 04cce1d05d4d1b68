"""Where and how runs are mirrored to MLflow: the tracking URI and experiment, from options or the environment.

Reading the settings imports nothing of MLflow; `checked_client` imports it and refuses a URI it cannot use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ..exceptions import ConfigError, quoted, shown

URI_VARIABLE = "ARTIFLOW_MLFLOW_TRACKING_URI"
EXPERIMENT_VARIABLE = "ARTIFLOW_MLFLOW_EXPERIMENT"
MLFLOW_URI_VARIABLE = "MLFLOW_TRACKING_URI"  # MLflow's own, used when --mlflow is given without a URI of ours
SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql", "databricks")
INSTALL_HINT = "pip install 'artiflow[mlflow]'"
# Our client fails fast instead of MLflow's default of retrying for minutes: a mirror must never hold a run up.
CLIENT_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                   "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


@dataclass(frozen=True)
class MlflowSettings:
    """A tracking URI, the experiment to use (None: the flow's name) and where the URI came from (for messages)."""

    tracking_uri: str
    experiment: str | None = None
    source: str = URI_VARIABLE

    def experiment_for(self, flow_name: str) -> str:
        return self.experiment or flow_name


def run_settings(enabled: bool | None, tracking_uri: str | None, experiment: str | None) -> MlflowSettings | None:
    """The mirror a run asked for, or None.

    `enabled` is --mlflow (True), --no-mlflow (False) or neither (None: on when --mlflow-tracking-uri or
    ARTIFLOW_MLFLOW_TRACKING_URI is set; MLflow's own MLFLOW_TRACKING_URI, set for other tools, needs --mlflow).
    """
    if enabled is False or (not enabled and not tracking_uri and not os.environ.get(URI_VARIABLE)):
        return None
    settings = resolve(tracking_uri, experiment, ("--mlflow-tracking-uri", "--mlflow-experiment"), "--mlflow")
    checked_client(settings)  # MLflow installed and taking the URI, or an error before the run exists
    return settings


def resolve(tracking_uri: str | None, experiment: str | None, options: tuple[str, str],
            asked_by: str) -> MlflowSettings:
    """The settings from the options (their names, URI and experiment, for messages) or the environment.

    `asked_by` (the option or command that needs a URI) is named when there is none.
    """
    option = options[0]
    uri, source = _given_uri(tracking_uri, option)
    if uri is None:
        raise ConfigError(f"{asked_by} needs an MLflow tracking URI: give {option} http://HOST:PORT, "
                          f"or set {URI_VARIABLE} (or {MLFLOW_URI_VARIABLE}).")
    experiment = experiment or os.environ.get(EXPERIMENT_VARIABLE) or None
    return MlflowSettings(check_uri(uri, source), _check_experiment(experiment, options[1]), source)


def _given_uri(given: str | None, option: str) -> tuple[str | None, str]:
    """The tracking URI and the name of the setting it came from: the option, ours, then MLflow's variable."""
    if given:
        return given, option
    for variable in (URI_VARIABLE, MLFLOW_URI_VARIABLE):
        if os.environ.get(variable):
            return os.environ[variable], variable
    return None, ""


def check_uri(uri: str, source: str) -> str:
    """The URI when MLflow could use it; else a ConfigError naming the setting and a URI that would work."""
    uri = uri.strip()
    parsed = urlparse(uri)
    scheme = parsed.scheme.split("+")[0].lower()  # postgresql+psycopg2://... is a database URI too
    example = "e.g. http://127.0.0.1:5000 for an `mlflow server`, or sqlite:///mlflow.db"
    if not parsed.scheme or scheme not in SCHEMES:
        guess = f" (did you mean http://{uri}?)" if parsed.scheme and not parsed.netloc and ":" in uri else ""
        raise ConfigError(f"{source}={shown(uri)} is not an MLflow tracking URI{guess}: it must start with one of "
                          f"{', '.join(s + ':' for s in SCHEMES)}; {example}.")
    if scheme in ("http", "https") and not parsed.hostname:
        raise ConfigError(f"{source}={shown(uri)} has no host: give the address of the MLflow server, {example}.")
    if scheme in ("http", "https"):
        try:
            parsed.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ConfigError(f"{source}={shown(uri)} has a port that is not a number; {example}.") from None
    return uri


def _check_experiment(name: str | None, option: str) -> str | None:
    if name is not None and (not name.strip() or len(name) > 500):
        raise ConfigError(f"The MLflow experiment name {quoted(name)} ({option} or {EXPERIMENT_VARIABLE}) "
                          f"must be 1 to 500 characters, not only spaces.")
    return name


def import_client() -> Any:
    """MLflow's MlflowClient class, set up for our use; a ConfigError saying how to install it when missing."""
    for name, value in CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)  # the user's own MLflow settings win
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ConfigError(f"MLflow mirroring needs the MLflow client, which is not installed ({exc}): "
                          f"{INSTALL_HINT}.") from None
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no INFO lines of MLflow's among the run's output
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return MlflowClient


def checked_client(settings: MlflowSettings) -> Any:
    """An MlflowClient for the settings' URI (no request made yet); a ConfigError when MLflow refuses the URI."""
    client_class = import_client()
    try:
        return client_class(tracking_uri=settings.tracking_uri)
    except Exception as exc:  # noqa: BLE001 - MLflow raises several kinds for a URI it cannot use
        raise ConfigError(f"MLflow cannot use the tracking URI {settings.source}={shown(settings.tracking_uri)}: "
                          f"{first_line(exc)}") from None


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message, one line, cut: MLflow's can be long and multi-line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
