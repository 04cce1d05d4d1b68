"""Where artiflow keeps things: resolved from environment variables, with Metaflow's names as aliases.

Every setting has a working default, so a new user needs none of them.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from .exceptions import ConfigError

ROOT_DIRNAME = ".artiflow"


def _env(*names: str) -> str | None:
    """The first of these environment variables that is set and not empty."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def find_root(start: Path | None = None) -> Path:
    """`.artiflow` in the nearest folder upward that has one, else in the current folder."""
    explicit = _env("ARTIFLOW_ROOT")
    if explicit:
        return Path(explicit).expanduser().absolute()
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / ROOT_DIRNAME
        if candidate.is_dir():
            return candidate
    return here / ROOT_DIRNAME


@dataclass(frozen=True)
class Config:
    """The resolved settings of this process."""

    root: Path
    datastore_root: str
    metadata_url: str
    user: str
    s3_endpoint_url: str | None


def datastore_root_from_env(root: Path) -> str:
    """ARTIFLOW_DATASTORE_ROOT; else the seed's METAFLOW_DATASTORE=s3 + METAFLOW_DATATOOLS_S3ROOT; else local."""
    explicit = _env("ARTIFLOW_DATASTORE_ROOT")
    if explicit:
        return explicit
    kind = _env("METAFLOW_DATASTORE")
    if kind not in (None, "local", "s3"):
        raise ConfigError(f"METAFLOW_DATASTORE={kind} is not a datastore artiflow knows; use local or s3.")
    if kind == "s3":
        s3_root = _env("METAFLOW_DATATOOLS_S3ROOT")
        if not s3_root:
            raise ConfigError("METAFLOW_DATASTORE=s3 needs METAFLOW_DATATOOLS_S3ROOT=s3://bucket/prefix "
                               "(or set ARTIFLOW_DATASTORE_ROOT).")
        return s3_root
    return str(root / "data")


def current_user() -> str:
    user = _env("ARTIFLOW_USER", "METAFLOW_USER", "USER", "USERNAME")
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still give runs an owner
        return "unknown"


def load_config(datastore_root: str | None = None) -> Config:
    """Read the settings now (not at import), so tests and the CLI can change the environment."""
    root = find_root()
    return Config(
        root=root,
        datastore_root=datastore_root or datastore_root_from_env(root),
        metadata_url=_env("ARTIFLOW_METADATA_URL") or f"sqlite:///{root / 'metadata.db'}",
        user=current_user(),
        s3_endpoint_url=_env("ARTIFLOW_S3_ENDPOINT_URL"),
    )
