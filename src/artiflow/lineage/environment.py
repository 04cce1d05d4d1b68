"""The environment a run ran in: Python, platform, installed package versions, artiflow's version.

Package versions are read from the names of the distributions' metadata folders on `sys.path`
(`numpy-1.26.4.dist-info`, as the wheel spec names them): one directory listing per path entry,
well under a millisecond. `importlib.metadata` gives the same answer but costs ~50 ms to import
and a file parse per package, which every run's start would pay.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from typing import Any, Iterable

FORMAT = 1
DIST_INFO = ".dist-info"
EGG_INFO = ".egg-info"


def normalized_name(name: str) -> str:
    """A project name as package indexes compare them (PEP 503): `Foo_Bar.baz` -> `foo-bar-baz`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _egg_info_version(path: str) -> str | None:
    """The `Version:` line of an egg-info's PKG-INFO (a folder holding it, or the file itself)."""
    info = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
    try:
        with open(info, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip()
                if not line.strip():
                    break  # the headers ended
    except OSError:
        return None
    return None


def _parse_entry(folder: str, entry: str) -> tuple[str, str] | None:
    """(name, version) of one metadata folder name, or None when `entry` is not one."""
    if entry.endswith(DIST_INFO):
        name, _, version = entry[: -len(DIST_INFO)].partition("-")
    elif entry.endswith(EGG_INFO):
        name, _, rest = entry[: -len(EGG_INFO)].partition("-")
        version = rest.partition("-py")[0] or _egg_info_version(os.path.join(folder, entry)) or ""
    else:
        return None
    return (normalized_name(name), version) if name and version else None


def _distributions_in(folder: str) -> list[tuple[str, str]]:
    """The (name, version) of every distribution installed in one `sys.path` folder (none for a zip or a gap)."""
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return []
    return [found for entry in entries if (found := _parse_entry(folder, entry)) is not None]


def installed_packages(paths: Iterable[str] | None = None) -> dict[str, str]:
    """Name -> version of every distribution importable from `paths` (default `sys.path`); the first found wins."""
    packages: dict[str, str] = {}
    for folder in list(sys.path if paths is None else paths):
        for name, version in _distributions_in(folder):
            packages.setdefault(name, version)
    return dict(sorted(packages.items()))


def environment_info() -> dict[str, Any]:
    """What this process runs on, in the stored environment format (format 1)."""
    from .. import __version__

    return {
        "format": FORMAT,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{platform.system()}-{platform.release()}-{platform.machine()}",
        "machine": platform.machine(),
        "artiflow": __version__,
        "packages": installed_packages(),
    }


def store_environment(store: Any) -> str:
    """Store this process's environment as a JSON blob; its key (the same environment: the same key)."""
    text = json.dumps(environment_info(), sort_keys=True)
    return store.put_bytes([text.encode("utf-8")], "The run's environment")


def load_environment(store: Any, key: str) -> dict[str, Any]:
    """The environment dict stored under `key`."""
    return json.loads(bytes(store.get_bytes(key)).decode("utf-8"))


def summary(environment: dict[str, Any]) -> str:
    """One line for people: `CPython 3.11.7 on Linux-6.1.0-x86_64, artiflow 0.1.0, 46 packages`."""
    count = len(environment.get("packages", {}))
    return (f"{environment.get('implementation', 'Python')} {environment.get('python', '?')} on "
            f"{environment.get('platform', '?')}, artiflow {environment.get('artiflow', '?')}, "
            f"{count} package{'' if count == 1 else 's'}")
