"""Errors raised by artiflow, with Metaflow's names kept as aliases.

Every error a user can cause carries a message that says what was wrong, where, and what to do;
the CLI prints it without an internal traceback.
"""

from __future__ import annotations


class ArtiflowException(Exception):
    """Base class of every error artiflow raises for a user mistake."""

    headline = "Artiflow error"

    def __init__(self, msg: str = "", lineno: int | None = None) -> None:
        super().__init__(msg)
        self.message = msg
        self.lineno = lineno


class GraphError(ArtiflowException):
    """The flow's DAG, read from its source, is not valid."""

    headline = "Invalid flow graph"


class CommandError(ArtiflowException):
    """A command-line argument or option is wrong."""

    headline = "Invalid command"


class ConfigError(ArtiflowException):
    """A setting (environment variable, config value) is wrong or not supported."""

    headline = "Configuration error"


class InvalidNextError(ArtiflowException):
    """`self.next(...)` was called in a way the graph does not allow."""

    headline = "Invalid self.next() transition"


class ArtifactError(ArtiflowException):
    """An artifact could not be stored or read."""

    headline = "Artifact error"


class SerializationError(ArtifactError):
    """A value assigned to `self.<name>` cannot be serialized."""

    headline = "Cannot store artifact"


class MergeArtifactsException(ArtiflowException):
    """`merge_artifacts` met values it cannot merge unambiguously."""

    headline = "Cannot merge artifacts"

    def __init__(self, msg: str, artifact_names: list[str] | None = None) -> None:
        super().__init__(msg)
        self.artifact_names = list(artifact_names or [])


class MergeUsageError(ArtiflowException):
    """merge_artifacts was called in a way it cannot work (outside a join, include with exclude)."""

    headline = "Invalid merge_artifacts call"


class UnhandledInMergeArtifactsException(MergeArtifactsException):
    """Artifacts differ across join inputs and the join did not set them itself."""


class MissingInMergeArtifactsException(MergeArtifactsException):
    """Artifacts named in `include=` are missing from the join inputs."""


class ParameterError(ArtiflowException):
    """A Parameter is declared or given wrongly."""

    headline = "Invalid parameter"


class NotFound(ArtiflowException, KeyError):
    """A flow, run, step, task or artifact does not exist (also a KeyError, as `run["nostep"]` is on Metaflow)."""

    headline = "Not found"

    def __str__(self) -> str:
        return self.message  # KeyError would quote the message


class NamespaceMismatch(ArtiflowException):
    """An object exists but lies outside the current namespace."""

    headline = "Object not in the current namespace"


class TaggingError(ArtiflowException):
    """A tag is invalid, or a tag change is not allowed (removing a system tag)."""

    headline = "Invalid tag"


class MetadataError(ArtiflowException):
    """The metadata store cannot be read or written (locked by another process, disk full, ...)."""

    headline = "Metadata store error"


class MetricError(ArtiflowException):
    """`log_metric` was given a bad name, value or step, or was called outside a running step."""

    headline = "Invalid metric"


class ExternalCommandFailed(ArtiflowException):
    """A command a flow ran failed (Metaflow's name; flows raise it themselves too)."""

    headline = "External command failed"
    _metaflow_name = "metaflow.exception.ExternalCommandFailed"


class TimeoutException(ArtiflowException):
    """A step ran longer than its @timeout (raised inside the task, so @catch can handle it)."""

    headline = "Step timed out"
    _metaflow_name = "metaflow.plugins.timeout_decorator.TimeoutException"


class FailureHandledByCatch(ArtiflowException):
    """What @catch stores when a task died without raising (killed, out of memory, timed out hard)."""

    headline = "Task failure handled by @catch"
    _metaflow_name = "metaflow.plugins.catch_decorator.FailureHandledByCatch"


class ExceptionText:
    """Metaflow's names for a recorded exception's text: `.exception` (the message), `.stacktrace`.

    Mixed into what @catch stores and what the client shows of a failed attempt; both have
    `type`, `message` and `traceback`.
    """

    message: str
    traceback: str

    @property
    def exception(self) -> str:
        """The exception's message, `str(exc)`."""
        return self.message

    @property
    def stacktrace(self) -> str:
        """The formatted traceback of the user's frames."""
        return self.traceback


SHOWN_CHARS = 80  # a value a user typed, quoted in a message, is cut to about this length


def quoted(value: object, limit: int = SHOWN_CHARS) -> str:
    """`repr(value)` for a message: control characters escaped, cut to about `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 4]}...{text[-1]}"


def shown(value: object) -> str:
    """A name or path for a message: as it is when plain text, else quoted (escaped, cut)."""
    text = str(value)
    return text if text.isprintable() and len(text) <= SHOWN_CHARS else quoted(text)


def load_json_object(text: str, where: str, error: type[ArtiflowException], hint: str) -> dict:
    """Parse text that must hold a JSON object; `error` says `where` it came from and `hint` what it must be."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where} is not valid JSON ({exc}). {hint}") from None
    if not isinstance(value, dict):
        raise error(f"{where} holds a JSON {type(value).__name__}, not an object. {hint}")
    return value


def qualified_type_name(cls: type) -> str:
    """`module.Class` of an exception type; artiflow's own under their Metaflow names when a flow imports metaflow."""
    import sys

    metaflow_name = getattr(cls, "_metaflow_name", None)
    if metaflow_name and cls.__dict__.get("_metaflow_name") and "metaflow" in sys.modules:
        return metaflow_name
    if cls.__module__ == "builtins":
        return f"builtins.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


# Metaflow's names, so that `from metaflow.exception import ...` keeps working.
MetaflowException = ArtiflowException
MetaflowNotFound = NotFound
MetaflowNamespaceMismatch = NamespaceMismatch
MetaflowInternalError = ArtiflowException
InvalidNextException = InvalidNextError
MetaflowDataMissing = ArtifactError
MetaflowTaggingError = TaggingError
