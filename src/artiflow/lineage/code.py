"""Code snapshots: the flow file and the local modules it imported, stored with each run.

A snapshot is a JSON manifest blob, `{"format": 1, "flow_file": "flow.py", "files": {path: key}}`,
whose files are blobs of their own, so a file that did not change between runs is stored once.
Paths are relative to the flow file's folder, with `/` separators. The run's environment is
stored alongside (lineage/environment.py); both are recorded when the run starts, before any
task, so that a run that fails has them too.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterable

from ..exceptions import ArtiflowException
from .environment import load_environment, store_environment

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from ..metadata.records import RunRecord

FORMAT = 1
INSTALLED_FOLDERS = frozenset({"site-packages", "dist-packages"})


class CodeError(ArtiflowException):
    """A stored code snapshot that cannot be read or written out as asked."""

    headline = "Code snapshot error"


# -- taking a snapshot ------------------------------------------------------------------------------
class _LocalFiles:
    """Decides which module files belong to the flow's project: under its folder, not installed packages."""

    def __init__(self, flow_file: str) -> None:
        self.folder = os.path.dirname(os.path.abspath(flow_file))
        self.prefix = self.folder.rstrip(os.sep) + os.sep
        self.outside = _never_project_folders()
        self._venv: dict[str, bool] = {}

    def _in_venv(self, folder: str) -> bool:
        """Whether `folder`, or one of its parents below the flow's folder, is a virtualenv (has pyvenv.cfg)."""
        if len(folder) < len(self.prefix):
            return False
        if folder not in self._venv:
            self._venv[folder] = (os.path.isfile(os.path.join(folder, "pyvenv.cfg"))
                                  or self._in_venv(os.path.dirname(folder)))
        return self._venv[folder]

    def wants(self, path: str) -> bool:
        if not path.startswith(self.prefix) or path.startswith(self.outside):
            return False
        parts = path[len(self.prefix):].split(os.sep)
        return not INSTALLED_FOLDERS.intersection(parts) and not self._in_venv(os.path.dirname(path))


def _never_project_folders() -> tuple[str, ...]:
    """Folders that never hold the user's code: artiflow's package and the standard library."""
    import artiflow

    return tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (artiflow, os))


def local_files(flow_file: str, modules: Iterable[Any]) -> list[str]:
    """Absolute paths of the flow file and of every module file of its project: loaded in `modules`, or
    named by an import statement in one of those files (e.g. an import inside a step, which only the
    task runs)."""
    local = _LocalFiles(flow_file)
    found = {os.path.abspath(flow_file)}
    for module in list(modules):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and local.wants(os.path.abspath(path)):
            found.add(os.path.abspath(path))
    found |= {path for path in _imported_files(found, local.folder) if local.wants(path)}
    return sorted(p for p in found if os.path.isfile(p))


def _imported_files(paths: set[str], folder: str) -> set[str]:
    """Module files under `folder` that import statements anywhere in these files name, transitively."""
    found: set[str] = set()
    todo, seen = list(paths), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _import_names(path):
            file = _module_file(name, folder)
            if file is not None and file not in seen:
                found.add(file)
                todo.append(file)
    return found


def _import_names(path: str) -> list[str]:
    """Absolute module names the file's import statements name (`from a import b` gives `a` and `a.b`)."""
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def _module_file(name: str, folder: str) -> str | None:
    """The source file of module `name` if it is found under `folder` (without importing anything)."""
    from importlib.machinery import PathFinder

    search, origin = [folder], None
    for part in name.split("."):
        spec = PathFinder.find_spec(part, search)
        if spec is None:
            return None
        origin = spec.origin
        search = list(spec.submodule_search_locations or [])
    if not origin or not origin.endswith(".py"):
        return None
    path = os.path.abspath(origin)
    return path if path.startswith(folder.rstrip(os.sep) + os.sep) else None


def snapshot_code(store: Any, flow_file: str, modules: Iterable[Any]) -> str:
    """Store the flow file and its local modules (each file one blob) and a manifest of them; the manifest's key."""
    folder = os.path.dirname(os.path.abspath(flow_file))
    files: dict[str, str] = {}
    for path in local_files(flow_file, modules):
        try:
            data = Path(path).read_bytes()
        except OSError:  # removed or unreadable since it was imported: nothing to keep of it
            continue
        files[Path(os.path.relpath(path, folder)).as_posix()] = store.put_bytes([data], f"Code file {path}")
    manifest = {"format": FORMAT, "flow_file": Path(os.path.relpath(os.path.abspath(flow_file), folder)).as_posix(),
                "files": files}
    return store.put_bytes([json.dumps(manifest, sort_keys=True).encode("utf-8")], "The run's code manifest")


def flow_file_of(flow_cls: type) -> str | None:
    """The file the flow class was loaded from, or None (a flow defined in an interactive session)."""
    path = getattr(sys.modules.get(flow_cls.__module__), "__file__", None)
    return path if isinstance(path, str) and os.path.isfile(path) else None


def record_run_code(store: Any, metadata: MetadataStore, flow_cls: type, run_id: int) -> str | None:
    """Store the run's code and environment and note their keys on the run (called as the run starts);
    the code snapshot's key (None for a flow not loaded from a file), which remote executors ship.

    Both are cheap (a millisecond or two: package versions come from folder names, new blobs are
    fsynced as one batch), so this runs in line, before any task: even a run that fails at once has them.
    """
    flow_file = flow_file_of(flow_cls)
    with store.batch():  # one group of fsyncs for every new blob
        code_key = snapshot_code(store, flow_file, sys.modules.values()) if flow_file else None
        environment_key = store_environment(store)
    metadata.set_run_code(flow_cls.__name__, run_id, code_key, environment_key)
    return code_key


# -- reading one back ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CodeSnapshot:
    """A run's stored code: the flow file's relative path and every file's bytes, by relative path."""

    key: str
    flow_file: str
    blobs: dict[str, bytes] = field(repr=False)

    @property
    def files(self) -> dict[str, str]:
        """Each file's text, by relative path (bytes that are not UTF-8 shown as replacement characters)."""
        return {path: data.decode("utf-8", errors="replace") for path, data in self.blobs.items()}

    @property
    def flowspec(self) -> str:
        """The flow file's text (as Metaflow's `run.code.flowspec`)."""
        return self.files[self.flow_file]

    def sizes(self) -> dict[str, int]:
        """Each file's size in bytes, by relative path."""
        return {path: len(data) for path, data in self.blobs.items()}

    def extract(self, folder: str | os.PathLike) -> list[Path]:
        """Write every file under `folder` (made if missing); the paths written.

        A file already there with the same bytes is left as it is; if any file there differs,
        nothing is written and a CodeError lists them.
        """
        root = Path(folder)
        if root.exists() and not root.is_dir():
            raise CodeError(f"Cannot extract the code into {str(root)!r}: it is a file, not a folder. Give a "
                            f"folder (it is created if missing).")
        targets = {root / path: data for path, data in self.blobs.items()}
        clashes = [str(t) for t, data in targets.items() if _differs(t, root, data)]
        if clashes:
            raise CodeError(f"Cannot extract the code into {str(root)!r}: {len(clashes)} file(s) there differ from "
                            f"the stored code and would be overwritten: {', '.join(clashes)}. Extract into an "
                            f"empty folder, or move those files away.")
        written = []
        try:
            for target, data in targets.items():
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    written.append(target)
        except OSError as exc:
            raise CodeError(f"Cannot extract the code into {str(root)!r}: {exc.strerror or exc} "
                            f"({exc.filename or root}). Give a folder you can write to.") from None
        return written

    def __repr__(self) -> str:
        return f"CodeSnapshot(flow_file={self.flow_file!r}, files={sorted(self.blobs)})"


def _differs(target: Path, root: Path, data: bytes) -> bool:
    """Whether writing `data` to `target` would replace something else: another file, or a file in a folder's place."""
    if target.exists():
        return not target.is_file() or target.read_bytes() != data
    return any(parent.exists() and not parent.is_dir() for parent in target.parents if root in parent.parents)


def _safe_path(path: str, key: str) -> str:
    """A manifest path that stays inside the folder it is extracted to (relative, no `..`)."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise CodeError(f"The code manifest {key} lists the path {path!r}, which leaves its folder: it was not "
                        f"written by artiflow. Check the datastore.")
    return path


def load_code(store: Any, code_key: str) -> CodeSnapshot:
    """The code snapshot whose manifest is stored under `code_key`, with every file's bytes."""
    manifest = json.loads(bytes(store.get_bytes(code_key)).decode("utf-8"))
    if manifest.get("format") != FORMAT:
        raise CodeError(f"The code manifest {code_key} has format {manifest.get('format')!r}; this artiflow reads "
                        f"format {FORMAT}. Use the artiflow version that stored the run.")
    blobs = {_safe_path(path, code_key): bytes(store.get_bytes(key))
             for path, key in manifest["files"].items()}
    return CodeSnapshot(code_key, manifest["flow_file"], blobs)


def code_of_run(store: Any, run_row: RunRecord) -> CodeSnapshot | None:
    """A run's code snapshot, or None for a run stored before artiflow kept code."""
    key = run_row.code_key
    return load_code(store, key) if key else None


def environment_of_run(store: Any, run_row: RunRecord) -> dict[str, Any] | None:
    """A run's environment dict, or None for a run stored before artiflow kept it."""
    key = run_row.environment_key
    return load_environment(store, key) if key else None
