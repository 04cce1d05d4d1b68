"""Step caching: each task's cache key, and the earlier task a key finds, checked before it is reused.

The key of a task covers its flow and step, the step's code fingerprint (its source and the user code
it reaches), its decorators' configuration, the Python version, the versions of the packages the flow
imports, the content keys of every artifact it can see (parameters included) and its foreach
elements and positions. A foreach's list is keyed by the task's own element, so changing one element
misses only its task (and what follows it); a task that read the whole list is checked against it.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import xxhash

from ..datastore import ArtifactRef, ContentStore
from ..lineage.records import ARTIFACT, Producers
from ..runtime.output import log_blob_keys
from .fingerprint import code_fingerprint, flow_package_versions

if TYPE_CHECKING:
    from ..decorators import StepDecorator
    from ..metadata import MetadataStore
    from ..metadata.records import TaskRecord
    from ..runtime.spec import TaskSpec

KEY_FORMAT = 1  # part of every key: a change to what keys cover invalidates the older ones
CANDIDATES_CHECKED = 3  # a key's newest tasks tried before giving up (their blobs may have gone)


@dataclass(frozen=True)
class Hit:
    """An earlier task a key found, checked: its record, artifacts and their producers."""

    source: TaskRecord
    artifacts: dict[str, ArtifactRef]
    producers: dict[str, Producers]

    @property
    def pathspec(self) -> str:
        """The task that ran the code (the first one, when the source was itself a cache hit)."""
        return self.source.first_source


def _digest(parts: Any) -> str:
    return xxhash.xxh3_128_hexdigest(json.dumps(parts, separators=(",", ":"), default=repr).encode())


class StepCache:
    """Which steps of a run are cached, each task's key, and the lookup of an earlier task to reuse."""

    def __init__(self, flow_cls: type, graph: Any, decorators: dict[str, list[StepDecorator]], cache_all: bool,
                 metadata: MetadataStore, store: ContentStore, warn: Callable[[str], None]) -> None:
        self.flow_cls = flow_cls
        self.flow_name = graph.name
        self.decorators = decorators
        self.metadata = metadata
        self.store = store
        self.warn = warn
        self.steps = {node.name for node in graph if self._wanted(node, cache_all)}
        self._static: dict[str, str | None] = {}
        self._verified: set[str] = set()  # blobs found whole in this run (each is read once)
        self._packages: dict[str, str] | None = None

    def _wanted(self, node: Any, cache_all: bool) -> bool:
        """@cache on the step (unless enabled=False), or `run --cache`; never a @parallel gang's step."""
        if node.parallel_step or node.num_parallel:
            return False
        own = next((d for d in self.decorators[node.name] if d.name == "cache"), None)
        return bool(own.enabled) if own is not None else cache_all

    def __bool__(self) -> bool:
        return bool(self.steps)

    # -- keys ------------------------------------------------------------------------------------
    def static_key(self, step: str) -> str | None:
        """What is the same for every task of the step in this run; None when its code cannot be fingerprinted."""
        if step not in self._static:
            fingerprint = code_fingerprint(self.flow_cls, step)
            if fingerprint.problem:
                self.warn(f"cache: step '{step}' is not cached: {fingerprint.problem}")
                self._static[step] = None
            else:
                if self._packages is None:
                    self._packages = flow_package_versions(self.flow_cls)
                self._static[step] = _digest([
                    KEY_FORMAT, self.flow_name, step, fingerprint.digest, self._decorator_config(step),
                    platform.python_implementation(), platform.python_version(), sorted(self._packages.items()),
                ])
        return self._static[step]

    def _decorator_config(self, step: str) -> list:
        """The step's decorators and their attributes; of @cache only a version given (`@cache` and `run
        --cache` cache a step under the same key)."""
        config = []
        for deco in self.decorators[step]:
            if deco.name == "cache":
                if deco.version is not None:
                    config.append(["cache", json.dumps(deco.version)])
                continue
            config.append([deco.name, json.dumps(deco.attributes, sort_keys=True, default=repr)])
        return sorted(config)

    def key(self, spec: TaskSpec) -> str | None:
        """The task's cache key, or None when its step is not cached (or cannot be)."""
        if spec.step not in self.steps or spec.parallel is not None:
            return None
        static = self.static_key(spec.step)
        if static is None:
            return None
        if any(f.value_key == "" for f in spec.frames):
            return None  # an element that cannot be serialized: nothing to key it by
        by_element = {f.var for f in spec.frames if f.value_key}
        inputs = [[i.step, sorted([n, r.key] for n, r in i.artifacts.items()
                                  if n not in spec.params and n not in by_element)] for i in spec.inputs]
        frames = [[f.step, f.var, f.index, f.value_key or f.ref.key] for f in spec.frames]
        params = sorted([n, r.key] for n, r in spec.params.items())
        return _digest([static, params, inputs, frames])

    # -- lookups ---------------------------------------------------------------------------------
    def lookup(self, spec: TaskSpec, key: str) -> Hit | None:
        """The newest earlier task with this key whose artifacts are all present and whole, or None."""
        for row in self.metadata.cache_candidates(self.flow_name, spec.step, key)[:CANDIDATES_CHECKED]:
            if row.transition is None or row.run_id == spec.run_id:
                continue
            where = (row.flow, row.run_id, row.step, row.task_id)
            artifacts, producers = self.metadata.artifacts_with_producers(*where)
            if not self._blobs_whole(row, artifacts) or not self._read_same_lists(spec, where):
                continue
            if not self._side_blobs_present(row, where):
                continue
            return Hit(row, artifacts, producers)
        return None

    def _side_blobs_present(self, row: TaskRecord, where: tuple) -> bool:
        """The candidate's logs and cards are still stored (and marked as used, so gc keeps them for this run)."""
        keys = [k for raw in self.metadata.last_logs(*where) for k in log_blob_keys(raw)]
        for entry in self.metadata.task_metadata(*where):
            if entry.field == "card" and entry.value:
                card = json.loads(entry.value)
                keys += [card[name] for name in ("key", "data_key") if card.get(name)]
        missing = [k for k in keys if k not in self._verified and not self.store.storage.exists(k)]
        if missing:
            self.warn(f"cache: {row.first_source} has the same key, but its stored output or card (blob "
                      f"{missing[0]}) is missing from the datastore; the step runs again.")
        return not missing

    def _blobs_whole(self, row: TaskRecord, artifacts: dict[str, ArtifactRef]) -> bool:
        """Every blob of the candidate is present and matches its key; a warning names the first that is not."""
        for name, ref in artifacts.items():
            if ref.key in self._verified:
                continue
            state = self.store.check(ref.key)
            if state != "ok":
                self.warn(f"cache: {row.first_source} has the same key, but its artifact '{name}' (blob {ref.key}) "
                          f"is {state} in the datastore; the step runs again.")
                return False
            self._verified.add(ref.key)
        return True

    def _read_same_lists(self, spec: TaskSpec, where: tuple) -> bool:
        """A task keyed by its foreach element that read the whole list must see the same list now."""
        lists = {f.var: f.ref.key for f in spec.frames if f.value_key}
        if spec.inputs:
            lists = {name: spec.inputs[0].artifacts[name].key if name in spec.inputs[0].artifacts else key
                     for name, key in lists.items()}
        if not lists:
            return True
        return all(read.key == lists[read.name] for read in self.metadata.task_reads(*where)
                   if read.name in lists and read.kind == ARTIFACT)
