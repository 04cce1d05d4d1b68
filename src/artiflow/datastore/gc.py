"""Garbage collection: which runs go, which blobs no kept record needs, in the order that keeps it safe.

The storage backend only moves bytes (`Storage.iter_blobs`, `remove_if_unused`); this module decides.
Safety beside runs and readers, with no lock shared with them:
- a run in progress, a run tagged `keep`, and every run a kept run links to (resume origin, the source
  of reused or cached tasks) are never dropped;
- a blob is only deleted when no record names it and its mtime (its last use: `exists` and `get` touch
  what they find) is older than the cutoff: gc's start, or the start of the oldest run that may still
  write if earlier, minus a margin. A run writes, dedupes against or (step cache) reads a blob before
  it records it, so a blob that no record names yet has been used after the cutoff;
- references are read after the dropped runs' records are gone and before the blobs are listed, so a
  record written meanwhile names a blob used after the cutoff;
- `remove_if_unused` moves a blob to the trash before deleting it and puts it back if it was used
  meanwhile; a use after the move finds it absent (a writer writes it again, the cache misses);
- a run that started from a dropped run while gc was deleting it holds every blob back until next time.
Two gc processes take turns on `<root>/gc.lock`; even without it the trash step keeps them apart.

A backend that cannot take a blob aside atomically (S3: no rename, no delete conditioned on a last use) says
`defers_deletes`: it moves the unused blobs to a trash (`set_aside`), where readers still find them, and a later
gc deletes the trash entries no record names by then and that went there before its own cutoff
(`settle_trash`); see datastore/s3gc.py for why that is safe. It needs no lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from ..exceptions import ConfigError
from .files import temp_grace_from_env
from .storage import RECENT_USE_SECONDS, BlobInfo, Storage

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from ..metadata.records import RunRecord

# blobs used this recently are never deleted: covers clock skew, coarse file times, and blobs whose last use
# did not touch them because they had been used less than RECENT_USE_SECONDS before
MARGIN_SECONDS = 2 * RECENT_USE_SECONDS
# a run whose runner went silent less than this ago may only be suspended (a laptop asleep): its start still
# bounds the blob cutoff, as a run in progress does (it may be dropped, though, like any failed run)
LOST_GRACE_SECONDS = 86400.0
KEEP_TAG = "keep"
CODE_FORMAT = 1  # the version of the code-snapshot blob (a JSON map of the run's files to their blob keys)


@dataclass(frozen=True)
class Policy:
    """Which runs of a flow gc names for dropping: all but the newest `keep_last`, or those created over
    `older_than` seconds ago (exactly one of the two is set)."""

    keep_last: int | None = None
    older_than: float | None = None

    def named(self, runs: list[RunRecord], now: float) -> list[RunRecord]:
        """The runs (given newest first) this policy would drop, before any protection."""
        if self.keep_last is not None:
            return runs[self.keep_last:]
        return [run for run in runs if run.created_at < now - float(self.older_than)]  # type: ignore[arg-type]


@dataclass(frozen=True)
class Kept:
    """A run the policy named that stays, and why: in progress, tagged keep, or linked from a kept run."""

    flow: str
    run_id: int
    reason: str


@dataclass
class Plan:
    """The runs to drop per flow (ids ascending), the named runs kept with why, and the runs that may still
    write blobs (every flow's: in progress, or silent for less than LOST_GRACE_SECONDS)."""

    drop: dict[str, list[int]]
    kept: list[Kept]
    writers: list[tuple[str, RunRecord]]


@dataclass
class Outcome:
    """What a gc did (or, in a dry run, would do)."""

    plan: Plan
    dry_run: bool
    cutoff: float
    blobs_deleted: int = 0
    bytes_freed: int = 0
    blobs_recent: int = 0  # unreferenced, but used after the cutoff: left for a later gc
    temp_files: list[tuple[str, int]] = field(default_factory=list)
    trash_restored: int = 0
    held_back: str | None = None  # why no blob was deleted this time, if so
    deferred: bool = False  # the backend defers deletes: blobs go to a trash, emptied by a later gc
    blobs_set_aside: int = 0  # deferred: unused blobs moved to the trash this time
    bytes_set_aside: int = 0
    trash_recorded: int = 0  # deferred: trash entries put back because a record names them now
    trash_waiting: int = 0  # deferred: trash entries too recent to delete yet
    margin: float = MARGIN_SECONDS  # how long before the cutoff's start a blob must have last been used
    trash: str = ""  # where the trash is, for messages
    temp_noun: str = "stale temp file"  # what the backend's stale_temp_files are (S3: unfinished uploads)
    previews_deleted: int = 0  # artifact previews (metadata rows) of keys no kept record names

    @property
    def temp_bytes(self) -> int:
        return sum(size for _, size in self.temp_files)


def in_progress(run: RunRecord) -> bool:
    """A run whose runner is still going (a silent one, `lost`, counts as dead)."""
    return run.status == "running" and not run.lost


def may_still_write(run: RunRecord, now: float) -> bool:
    """A run in progress, or one whose runner went silent so recently that it may only be suspended."""
    return in_progress(run) or (run.lost and now - (run.heartbeat_at or 0) < LOST_GRACE_SECONDS)


def make_plan(metadata: MetadataStore, flows: Iterable[str], policy: Policy, now: float) -> Plan:
    """Choose the runs to drop in `flows`, keeping those in progress, tagged keep, or linked from a kept run."""
    writers = [(flow, run) for flow in metadata.flows() for run in metadata.runs(flow) if may_still_write(run, now)]
    drop: dict[str, list[int]] = {}
    kept: list[Kept] = []
    for flow in flows:
        runs = metadata.runs(flow)
        dropping, reasons = _protect(metadata, flow, runs, policy.named(runs, now))
        drop[flow] = sorted(dropping)
        kept += [Kept(flow, run_id, why) for run_id, why in sorted(reasons.items())]
    return Plan(drop, kept, writers)


def _protect(metadata: MetadataStore, flow: str, runs: list[RunRecord],
             named: list[RunRecord]) -> tuple[set[int], dict[int, str]]:
    """Of the named runs, those that may go, and why each other one stays (links followed transitively)."""
    reasons: dict[int, str] = {}
    for run in named:
        if in_progress(run):
            reasons[run.run_id] = "in progress"
        elif KEEP_TAG in run.tags or KEEP_TAG in run.system_tags:
            reasons[run.run_id] = f"tagged {KEEP_TAG}"
    dropping = {run.run_id for run in named} - set(reasons)
    queue = [run.run_id for run in runs if run.run_id not in dropping]
    seen = set(queue)
    while queue:
        keeper = queue.pop()
        for linked in sorted(metadata.linked_runs(flow, keeper)):
            if linked in dropping:
                dropping.discard(linked)
                reasons[linked] = f"linked from run {keeper} (resumed, reused or cached from it)"
            if linked not in seen:
                seen.add(linked)
                queue.append(linked)
    return dropping, reasons


def blob_cutoff(started: float, writers: list[tuple[str, RunRecord]], margin: float = MARGIN_SECONDS) -> float:
    """Blobs last used before this may be deleted: gc's start or the oldest run that may still write, minus `margin`."""
    return min([started, *(run.created_at for _, run in writers)]) - margin


def referenced_keys(metadata: MetadataStore, storage: Storage,
                    without: dict[str, list[int]] | None = None) -> tuple[set[str], str | None]:
    """Every blob key a record names (logs' parts, cards' blobs, code snapshots' files included).

    `without` leaves out the records of those runs (flow -> run ids). The second value says why the
    set may be incomplete (a code snapshot that cannot be read), if so: then no blob may be deleted.
    """
    from ..runtime.output import log_blob_keys  # the format of a recorded log key is the runtime's

    refs = metadata.blob_references(without)
    keys = refs.artifact | refs.param | refs.environment | refs.code
    for raw in refs.log:
        keys.update(log_blob_keys(raw))
    for raw in refs.card:
        keys.update(_card_keys(raw))
    for code_key in sorted(refs.code):
        files, problem = _code_file_keys(storage, code_key)
        if problem:
            return keys, problem
        keys.update(files)
    return keys, None


def _card_keys(raw: str) -> list[str]:
    """The blobs a card's metadata entry names: its HTML (`key`) and its data (`data_key`)."""
    try:
        record = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(record, dict):
        return []
    return [record[name] for name in ("key", "data_key") if isinstance(record.get(name), str)]


def _code_file_keys(storage: Storage, code_key: str) -> tuple[list[str], str | None]:
    """The file blobs a code snapshot names; or why they cannot be known (a damaged or newer snapshot)."""
    try:
        raw = bytes(storage.get(code_key))
    except FileNotFoundError:  # gone already: nothing can reach its files through it
        return [], None
    try:
        snapshot = json.loads(raw)
        if snapshot.get("format") != CODE_FORMAT:
            raise ValueError(f"format {snapshot.get('format')!r}, not {CODE_FORMAT}")
        files = [key for key in snapshot["files"].values() if isinstance(key, str)]
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        return [], (f"the code snapshot blob {code_key} cannot be read ({exc}), so the blobs of the files it "
                    f"names are unknown; run `artiflow verify`, and upgrade artiflow if the snapshot is newer")
    return files, None


def collect(metadata: MetadataStore, storage: Storage, flows: Iterable[str], policy: Policy, dry_run: bool = False,
            margin: float | None = None) -> Outcome:
    """Drop the runs the policy names (but the protected ones), then delete every blob no record needs.

    In a dry run nothing changes: the references are read leaving out the records of the runs that
    would be dropped, and the blobs and temp files that would go are only counted. Runs are judged by
    the metadata store's clock; blobs by this machine's (their files' times are local; S3's are its
    own, which the S3 backend's larger margin covers). `margin`: default the backend's
    `gc_margin_seconds`, else MARGIN_SECONDS.
    """
    require_gc_support(storage)
    started = time.time()
    restored = 0 if dry_run else storage.restore_trash()
    plan = make_plan(metadata, list(flows), policy, metadata.now())
    if margin is None:
        margin = float(getattr(storage, "gc_margin_seconds", MARGIN_SECONDS))
    outcome = Outcome(plan, dry_run, blob_cutoff(started, plan.writers, margin), trash_restored=restored,
                      deferred=defers_deletes(storage), margin=margin, trash=f"{storage.describe()}/trash/",
                      temp_noun=getattr(storage, "stale_temp_noun", Outcome.temp_noun))
    if dry_run:
        refs, outcome.held_back = referenced_keys(metadata, storage, plan.drop)
        outcome.previews_deleted = metadata.sweep_previews(plan.drop, dry_run=True)
    else:
        for flow, run_ids in plan.drop.items():
            if run_ids:
                metadata.delete_runs(flow, run_ids)
        outcome.previews_deleted = metadata.sweep_previews()  # a preview is metadata: no blob cutoff needed
        refs, outcome.held_back = referenced_keys(metadata, storage)  # read after the deletes, before the listing
        outcome.held_back = outcome.held_back or _started_on_dropped(metadata, plan)
    if outcome.held_back is None:
        (sweep_deferred if outcome.deferred else sweep_blobs)(storage, refs, outcome)
    outcome.temp_files = storage.stale_temp_files(temp_grace_from_env(), remove=not dry_run)
    return outcome


def _started_on_dropped(metadata: MetadataStore, plan: Plan) -> str | None:
    """Why no blob may go now if a run in progress depends on a run just dropped (it started on it during gc)."""
    for flow, run_ids in plan.drop.items():
        if not run_ids:
            continue
        for run in filter(in_progress, metadata.runs(flow)):
            hit = set(run_ids) & metadata.linked_runs(flow, run.run_id)
            if hit:
                return (f"run {flow}/{run.run_id} started during gc from dropped run {min(hit)}; the blobs "
                        f"of the dropped runs are left for the next gc, which keeps those it still uses")
    return None


def sweep_blobs(storage: Storage, refs: set[str], outcome: Outcome) -> None:
    """Delete (or count, in a dry run) each unreferenced blob last used before the cutoff."""
    for blob in unused_blobs(storage, refs, outcome):
        freed = blob.size if outcome.dry_run else storage.remove_if_unused(blob.key, outcome.cutoff)
        if freed is not None:
            outcome.blobs_deleted += 1
            outcome.bytes_freed += freed


def sweep_deferred(storage: Storage, refs: set[str], outcome: Outcome) -> None:
    """A deferring backend: empty the trash of what an earlier gc put there and no record names, put back what
    one does; then move this time's unreferenced blobs last used before the cutoff to the trash."""
    settled = storage.settle_trash(refs, outcome.cutoff, outcome.dry_run)  # type: ignore[attr-defined]
    outcome.blobs_deleted, outcome.bytes_freed = settled.deleted, settled.freed
    outcome.trash_recorded, outcome.trash_waiting = settled.restored, settled.waiting
    unused = unused_blobs(storage, refs, outcome)
    if outcome.dry_run:
        sizes = [blob.size for blob in unused]
        outcome.blobs_set_aside, outcome.bytes_set_aside = len(sizes), sum(sizes)
    else:
        outcome.blobs_set_aside, outcome.bytes_set_aside = storage.set_aside(unused)  # type: ignore[attr-defined]


def unused_blobs(storage: Storage, refs: set[str], outcome: Outcome) -> Iterator[BlobInfo]:
    """The stored blobs no record names and last used before the cutoff (those used since are counted as recent)."""
    for blob in storage.iter_blobs():
        if blob.key in refs:
            continue
        if blob.mtime >= outcome.cutoff:
            outcome.blobs_recent += 1
            continue
        yield blob


def defers_deletes(storage: Storage) -> bool:
    """Whether the backend's gc moves blobs to a trash that a later gc empties (S3), not deleting at once."""
    return bool(getattr(storage, "defers_deletes", False))


def require_gc_support(storage: Storage) -> None:
    """Refuse a datastore whose backend cannot keep gc's contract (its `supports_gc` is not true)."""
    if getattr(storage, "supports_gc", False):
        return
    where = storage.describe()
    raise ConfigError(f"artiflow gc supports local and S3 datastores: the storage backend of the datastore at "
                      f"{where} does not support gc (its `supports_gc` is not true). Clean it with the tools of "
                      f"that store, or set ARTIFLOW_DATASTORE_ROOT to a local folder or an s3:// URL.")


def taking_turns(storage: Storage, on_wait: Callable[[str], None]) -> contextlib.AbstractContextManager[None]:
    """What keeps two gcs of one datastore apart: the local lock file; nothing for a deferring backend, whose
    trash entries are each gc's own."""
    if defers_deletes(storage):
        return contextlib.nullcontext()
    return exclusive(lock_path(storage), on_wait)


def lock_path(storage: Storage) -> Path:
    """Where gc processes of one datastore take turns: `<root>/gc.lock` (a local datastore only)."""
    require_gc_support(storage)
    root = getattr(storage, "root", None)
    if root is None:
        raise ConfigError(f"artiflow gc supports local datastores only; the datastore at {storage.describe()} "
                          f"is not one. Set ARTIFLOW_DATASTORE_ROOT to a local folder.")
    return Path(root) / "gc.lock"


@contextlib.contextmanager
def exclusive(path: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive flock on `path`; if another gc holds it, call `on_wait(its pid)` once and wait."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(_holder(path))
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _holder(path: Path) -> str:
    """The pid the gc holding the lock wrote into it ('unknown' while it has not yet)."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"
