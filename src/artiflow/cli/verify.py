"""`artiflow verify [--repair] [PATHSPEC]`: check every blob that runs reference, and say what is missing or corrupt.

Each distinct blob is read and hashed once, however many artifacts share it; every artifact (and
stored task output) that uses a bad blob is listed with its pathspec. `--repair` moves corrupt blobs
to the datastore's quarantine folder, so that the next save of the same value writes them afresh,
and re-saves those whose value the run itself recorded (its parameters, the flow's name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import click

from ..client.context import get_context
from ..client.pathspec import InvalidPathspec, run_number, split
from ..exceptions import ArtiflowException
from .errors import friendly_errors

if TYPE_CHECKING:
    from ..metadata import MetadataStore

Echo = Callable[[str], Any]


@dataclass(frozen=True)
class Use:
    """One reference to a blob: an artifact (`name`) or a task's stored output (`(stdout)`) at `pathspec`."""

    key: str
    pathspec: str
    name: str
    run: tuple[str, int]
    task_id: int


@dataclass
class Report:
    """What a verification found: blobs checked, their uses, and each bad blob's status and fate."""

    checked: int
    uses: list[Use]
    bad: dict[str, str]  # key -> "missing" or "corrupt"
    fate: dict[str, str]  # key -> what --repair did
    roots: list[str]      # the datastores checked (each run's own, as recorded with it)
    where: dict[tuple[str, int], str] = field(default_factory=dict)  # run -> the address of its datastore
    bad_in: dict[str, str] = field(default_factory=dict)              # key -> the datastore it is bad in

    def bad_uses(self, key: str) -> list[Use]:
        """The uses of a bad blob by the runs whose datastore it is bad in (another may hold it whole)."""
        return [u for u in self.uses if u.key == key and self.where.get(u.run) == self.bad_in.get(key)]


def scope(meta: MetadataStore, pathspec: str | None) -> tuple[list[tuple[str, int]], list[str]]:
    """The runs a PATHSPEC covers (everything, a flow, or one run) and the step/task/artifact filter below a run."""
    if not pathspec:
        return [(flow, run.run_id) for flow in meta.flows() for run in meta.runs(flow)], []
    parts = split(pathspec)  # refuses more than Flow/run/step/task/artifact
    flow = parts[0]
    runs = meta.runs(flow)
    if not runs:
        raise InvalidPathspec(f"Flow {flow} has no runs recorded in {meta.describe()}: check the name (flows there: "
                              f"{', '.join(meta.flows()) or 'none'}), or set ARTIFLOW_ROOT to the right .artiflow folder.")
    if len(parts) == 1:
        return [(flow, run.run_id) for run in runs], []
    run_id = run_number(parts[1])
    if run_id is None or meta.run(flow, run_id) is None:
        known = ", ".join(str(r.run_id) for r in runs[:10])
        raise InvalidPathspec(f"{flow} has no run {parts[1]!r} (its latest runs: {known}).")
    return [(flow, run_id)], parts[2:]


def references(meta: MetadataStore, flow: str, run_id: int, below: list[str]) -> list[Use]:
    """Every blob use of one run: each task's artifacts and its last attempt's stdout and stderr."""
    uses = []
    for (step, task_id), refs in meta.artifacts_of_run(flow, run_id).items():
        for name, ref in refs.items():
            uses.append(Use(ref.key, f"{flow}/{run_id}/{step}/{task_id}/{name}", name, (flow, run_id), task_id))
    for (step, task_id), keys in meta.last_logs_of_run(flow, run_id).items():
        for stream, key in zip(("stdout", "stderr"), keys):
            if key:
                uses.append(Use(key, f"{flow}/{run_id}/{step}/{task_id}", f"({stream})", (flow, run_id), task_id))
    prefix = "/".join([flow, str(run_id), *below])
    chosen = [u for u in uses if u.pathspec == prefix or u.pathspec.startswith(prefix + "/")]
    return sorted(chosen, key=lambda u: (u.task_id, u.name))


def verify(pathspec: str | None, repair: bool) -> Report:
    """Check (and with `repair`, fix what can be fixed of) every blob the runs under PATHSPEC use."""
    context = get_context()
    if not context.has_metadata():
        raise ArtiflowException(f"No runs are recorded in {context.where()}: there is nothing to verify. Run "
                                f"this from the project folder (the one holding .artiflow), or set ARTIFLOW_ROOT.")
    meta = context.meta
    runs, below = scope(meta, pathspec)
    uses = [use for flow, run_id in runs for use in references(meta, flow, run_id, below)]
    stores = _stores_of_runs(context, meta, runs)
    places: dict[str, dict[str, Any]] = {}  # key -> the datastores of the runs using it, by their address
    for use in uses:
        store = stores[use.run]
        places.setdefault(use.key, {}).setdefault(store.storage.describe(), store)
    keys = sorted(places)
    store_of = {}  # key -> the datastore it is bad in (or its only one)
    for key in keys:
        for store in places[key].values():
            store_of[key] = store
            if store.check(key) != "ok":
                break
    bad = {key: status for key in keys if (status := store_of[key].check(key)) != "ok"}
    first_use = {use.key: i for i, use in reversed(list(enumerate(uses)))}
    bad = dict(sorted(bad.items(), key=lambda item: first_use[item[0]]))  # in the order of the runs' tasks
    fate = {key: f"found corrupt earlier and moved aside to {copies[-1]}" for key, status in bad.items()
            if status == "missing" and (copies := store_of[key].storage.quarantined_copies(key))}
    if repair:
        for key in [k for k, status in bad.items() if status == "corrupt"]:
            moved = store_of[key].quarantine(key)
            fate[key] = f"moved aside to {moved}" if moved else "left in place (it reads correctly now)"
            recovered = _recover(store_of[key], meta, key, [u for u in uses if u.key == key])
            if recovered or moved is None:
                fate[key] = recovered or fate[key]
                bad[key] = "repaired"
    where = {run: store.storage.describe() for run, store in stores.items()}
    roots = sorted(set(where.values())) or [context.store.storage.describe()]
    bad_in = {key: store_of[key].storage.describe() for key in bad}
    return Report(len(keys), uses, bad, fate, roots, where, bad_in)


def _stores_of_runs(context: Any, meta: MetadataStore, runs: list[tuple[str, int]]) -> dict[tuple[str, int], Any]:
    """Each run's content store: on the datastore recorded with it (or this process's, for older runs)."""
    stores = {}
    for flow, run_id in runs:
        record = meta.run(flow, run_id)
        stores[(flow, run_id)] = context.for_run(record).store if record is not None else context.store
    return stores


def _recover(store: Any, meta: MetadataStore, key: str, uses: list[Use]) -> str | None:
    """Re-save a bad blob from a value its run recorded (a parameter, the flow's name), if its bytes match."""
    for use in uses:
        flow, run_id = use.run
        run = meta.run(flow, run_id)
        candidates = {"name": flow, **(run.params if run is not None else {})}
        if use.name in candidates and store.resave(candidates[use.name], key):
            return f"re-saved from the value run {flow}/{run_id} recorded for '{use.name}'"
    return None


def print_report(report: Report, pathspec: str | None, repair: bool, echo: Echo) -> bool:
    """Print the problems, one line per use of a bad blob, and what to do; True if none is left."""
    runs = {use.run for use in report.uses}
    where = (f"in the datastore at {report.roots[0]}" if len(report.roots) == 1 else
             f"in the {len(report.roots)} datastores they were stored in ({', '.join(report.roots)})")
    echo(f"Checked {_count(report.checked, 'blob')} used by {_count(len(report.uses), 'artifact')} and task "
         f"outputs of {_count(len(runs), 'run')}, {where}.")
    for key, status in report.bad.items():
        fate = f" ({report.fate[key]})" if key in report.fate else ""
        echo(f"{status}  blob {key}{fate}")
        for use in report.bad_uses(key):
            echo(f"    {use.pathspec}" + (f" {use.name}" if use.name.startswith("(") else ""))
    left = {k: s for k, s in report.bad.items() if s != "repaired"}
    if not report.bad:
        echo("No problems found.")
        return True
    counts = ", ".join(f"{sum(1 for s in report.bad.values() if s == status)} {status}"
                       for status in ("corrupt", "missing", "repaired") if status in report.bad.values())
    echo(f"{_count(len(report.bad), 'bad blob')}: {counts}.")
    if not left:
        return True
    if any(s == "corrupt" for s in left.values()) and not repair:
        echo(f"Run `artiflow verify --repair{' ' + pathspec if pathspec else ''}` to move the corrupt blobs aside "
             f"(into quarantine/, nothing is deleted), so the next save of the same value writes them again.")
    echo("Their values cannot be read back from the datastore. Re-run the flow, or resume the run from the step "
         "that produced them (python FLOW.py resume STEP --origin-run-id RUN): a step that produces the same "
         "value again rewrites the blob and every artifact listed above reads again; a step that produces a "
         "different value (randomness, changed inputs) stores a new blob, and the old artifacts stay unreadable.")
    return False


def _count(n: int, noun: str) -> str:
    """`1 blob`, `3 blobs`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@click.command("verify", help="Check every blob the runs under PATHSPEC (Flow[/run[/step[/task]]]; default: "
                              "everything) reference, and list the artifacts whose blob is missing or corrupt. "
                              "Exit code 1 when a problem is left.")
@click.argument("pathspec", required=False)
@click.option("--repair", is_flag=True, help="Move corrupt blobs aside to quarantine/ (so the next save of the same "
                                             "value writes them again) and re-save those the run recorded.")
@friendly_errors
def verify_command(pathspec: str | None, repair: bool) -> None:
    report = verify(pathspec, repair)
    if not print_report(report, pathspec, repair, click.echo):
        raise SystemExit(1)


def register(group: click.Group) -> None:
    """Add `verify` to the `artiflow` command group."""
    group.add_command(verify_command)
