"""Metaflow names artiflow does not provide (yet): a clear message instead of an ImportError traceback.

`from metaflow import conda` in a flow run by artiflow's launcher reaches the package's
`__getattr__`, which raises `UnsupportedFeature`: the name, the file:line that uses it, that artiflow
does not support it, and what to do instead. The launcher prints it without a traceback.
"""

from __future__ import annotations

import os
import sys

from .exceptions import ArtiflowException

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_ON_DASK = ("remove it to run the step locally, or mark the step @batch or @kubernetes, which artiflow runs on a "
            "Dask cluster (--dask-scheduler tcp://HOST:PORT)")

# name -> (what it is in Metaflow, what to do instead)
UNSUPPORTED: dict[str, tuple[str, str]] = {
    "conda": ("the step decorator that builds a Conda environment per step",
              "remove it and install the packages in the environment you run the flow from "
              "(pip install ... or conda install ...)"),
    "conda_base": ("the flow decorator that builds one Conda environment for every step",
                   "remove it and install the packages in the environment you run the flow from"),
    "pypi": ("the step decorator that installs PyPI packages per step",
             "remove it and pip install the packages in the environment you run the flow from"),
    "pypi_base": ("the flow decorator that installs PyPI packages for every step",
                  "remove it and pip install the packages in the environment you run the flow from"),
    "slurm": ("the step decorator that runs a step on Slurm", _ON_DASK),
    "airflow_external_task_sensor": ("an Airflow sensor for deployed flows", "remove it: local runs start when you run them"),
    "airflow_s3_key_sensor": ("an Airflow sensor for deployed flows", "remove it: local runs start when you run them"),
    "checkpoint": ("an extension decorator that checkpoints a step's files", "save what you need as artifacts (self.x = ...)"),
    "model": ("an extension decorator that stores models", "store the model as an artifact (self.model = ...)"),
    "huggingface_hub": ("an extension decorator that downloads Hugging Face models", "load the model in the step itself"),
    "S3": ("Metaflow's S3 client", "use boto3 directly for now"),
    "Deployer": ("the API that deploys flows to a scheduler", "run flows with Runner or the command line"),
    "NBDeployer": ("the API that deploys notebook flows to a scheduler", "run flows with NBRunner or the command line"),
}


class UnsupportedFeature(ArtiflowException, ImportError):
    """A Metaflow name that artiflow does not provide; also an ImportError, so `try: import` still works."""

    headline = "Not supported by artiflow"


def _user_location() -> str:
    """file:line of the first frame outside artiflow and the import machinery (the user's import)."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and not filename.startswith("<frozen"):
            return f"{os.path.relpath(filename) if not os.path.relpath(filename).startswith('..') else filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "your flow"


def unsupported(name: str) -> UnsupportedFeature | None:
    """The error for a Metaflow name artiflow does not provide, or None for a name that is just unknown."""
    if name not in UNSUPPORTED:
        return None
    what, instead = UNSUPPORTED[name]
    _report_without_traceback()
    return UnsupportedFeature(
        f"{_user_location()} uses `{name}`, {what} in Metaflow. artiflow does not support `{name}` (yet); "
        f"{instead}.")


def _report_without_traceback() -> None:
    """If the error goes uncaught (`python flow.py` imports the name), print the message, not a traceback."""
    previous = sys.excepthook
    if getattr(previous, "_artiflow_unsupported", False):
        return

    def hook(kind, value, tb):  # noqa: ANN001 - sys.excepthook's signature
        if isinstance(value, UnsupportedFeature):
            sys.stderr.write(f"{value.headline}:\n{value.message}\n")
            return
        previous(kind, value, tb)

    hook._artiflow_unsupported = True  # type: ignore[attr-defined]
    sys.excepthook = hook
