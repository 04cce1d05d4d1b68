"""The datastore root a `--datastore local|s3` choice (Metaflow's flag) names, from the flag's companions.

`--datastore s3` takes its root from `--datastore-root s3://...`, else ARTIFLOW_DATASTORE_ROOT when it is an
s3:// URL, else the seed's METAFLOW_DATATOOLS_S3ROOT; `--datastore local` from a local `--datastore-root`, else a
local ARTIFLOW_DATASTORE_ROOT, else `$ARTIFLOW_ROOT/data`, whatever S3 setting the environment has.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..exceptions import CommandError
from .registry import scheme_of

KINDS = ("local", "s3")
S3_ROOT_HINT = ("set ARTIFLOW_DATASTORE_ROOT=s3://bucket/prefix (or the seed's METAFLOW_DATATOOLS_S3ROOT), or give "
                "--datastore-root s3://bucket/prefix")


def is_local_root(root: str) -> bool:
    """A folder path or a file:// URL (not a root another backend serves)."""
    return scheme_of(root) in (None, "file")


def root_for_choice(kind: str, given: str | None, home: Path) -> str:
    """The datastore root of `--datastore KIND` (with `--datastore-root GIVEN`, if any); `home` is ARTIFLOW_ROOT."""
    if kind == "s3":
        return _s3_root(given)
    return _local_root(given, home)


def _s3_root(given: str | None) -> str:
    if given is not None:
        if scheme_of(given) != "s3":
            raise CommandError(f"--datastore s3 --datastore-root {given}: with --datastore s3 the root is an S3 "
                               f"URL, s3://bucket/prefix. Give one, or drop --datastore s3 to use the folder.")
        return given
    from_env = _env("ARTIFLOW_DATASTORE_ROOT")
    if from_env and scheme_of(from_env) == "s3":
        return from_env
    seed = _env("METAFLOW_DATATOOLS_S3ROOT")
    if seed:
        if scheme_of(seed) != "s3":
            raise CommandError(f"--datastore s3: METAFLOW_DATATOOLS_S3ROOT={seed} is not an S3 URL; write it "
                               f"s3://bucket/prefix.")
        return seed
    found = f" (ARTIFLOW_DATASTORE_ROOT is {from_env}, not an s3:// URL)" if from_env else ""
    raise CommandError(f"--datastore s3 needs to know where on S3 to store artifacts, and no S3 root is set"
                       f"{found}: {S3_ROOT_HINT}.")


def _local_root(given: str | None, home: Path) -> str:
    if given is not None:
        if not is_local_root(given):
            other = "use --datastore s3" if scheme_of(given) == "s3" else "drop --datastore local"
            raise CommandError(f"--datastore local --datastore-root {given}: a local datastore's root is a folder, "
                               f"not a URL. Give a folder, or {other} to store artifacts at that URL.")
        return given
    from_env = _env("ARTIFLOW_DATASTORE_ROOT")
    if from_env and is_local_root(from_env):
        return from_env
    return str(home / "data")


def _env(name: str) -> str | None:
    """A set, non-empty environment variable."""
    return os.environ.get(name) or None


# -- the root recorded with a run, and the one a reader uses for it -------------------------------------------
def recorded_root(root: str) -> str:
    """The form of a datastore root recorded with a run: a local folder as an absolute path (a reader in another
    folder finds it), a URL as given, without a trailing slash."""
    if scheme_of(root) is None:
        return os.path.abspath(os.path.expanduser(root))
    return root.rstrip("/") if not root.endswith("://") else root


def readable_root(recorded: str | None) -> str | None:
    """The root to read a run's blobs from, given the one recorded with it: that one, unless there is none (a run
    recorded before artiflow kept it) or it is a local folder this machine does not have (a moved project, another
    machine's disk); None means the reader's own datastore root."""
    if not recorded:
        return None
    if is_local_root(recorded):
        from .storage import local_path_of

        folder = local_path_of(recorded) if scheme_of(recorded) == "file" else recorded
        return recorded if os.path.isdir(folder) else None
    return recorded
