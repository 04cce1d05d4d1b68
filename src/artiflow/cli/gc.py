"""`artiflow gc (--keep-last N | --older-than AGE) [FLOW] [--dry-run]`: drop old runs, then the blobs no kept run uses.

The policy and its safety (runs in progress, runs tagged `keep`, resume origins, concurrent writers and
other gc processes) live in `artiflow.datastore.gc`; this module reads the options and prints the outcome.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import TYPE_CHECKING

import click

from ..exceptions import ArtiflowException, CommandError
from .errors import friendly_errors

if TYPE_CHECKING:
    from ..datastore.gc import Outcome, Policy
    from ..metadata import MetadataStore

DURATION = re.compile(r"(\d+)([smhdw])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION_FORMS = "a whole number and a unit: 90m, 12h, 30d or 2w (s, m, h, d, w: seconds to weeks)"


def parse_duration(text: str) -> float:
    """Seconds in an age like `30d`, `12h`, `90m`, `2w`; a clear error for anything else."""
    found = DURATION.fullmatch(text.strip())
    if found is None or int(found[1]) == 0:
        raise CommandError(f"--older-than {text!r} is not an age artiflow gc understands: give {DURATION_FORMS}, "
                           f"more than 0, e.g. artiflow gc --older-than 30d.")
    return int(found[1]) * UNIT_SECONDS[found[2]]


def policy_from(keep_last: int | None, older_than: str | None) -> Policy:
    """The policy of exactly one of --keep-last N (N >= 1) and --older-than AGE."""
    from ..datastore.gc import Policy

    if (keep_last is None) == (older_than is None):
        both = "both" if keep_last is not None else "neither"
        raise CommandError(f"artiflow gc needs exactly one of --keep-last N and --older-than AGE ({both} was "
                           f"given): --keep-last 10 keeps the newest 10 runs of each flow, --older-than 30d drops "
                           f"runs started over 30 days ago. Add --dry-run to see what would go.")
    if keep_last is not None:
        if keep_last < 1:
            raise CommandError(f"--keep-last {keep_last} would keep no run: give 1 or more (the number of newest "
                               f"runs of each flow to keep), or drop runs by age with --older-than.")
        return Policy(keep_last=keep_last)
    return Policy(older_than=parse_duration(older_than))  # type: ignore[arg-type]


def chosen_flows(meta: MetadataStore, where: str, flow: str | None) -> list[str]:
    """The flows whose runs gc may drop: FLOW, or every flow; an unknown FLOW lists the known ones."""
    known = meta.flows()
    if not known:
        raise nothing_to_collect(where)
    if flow is not None and flow not in known:
        raise CommandError(f"No flow {flow!r} has runs recorded in {where}. Flows there: {', '.join(known)}. "
                           f"Give one of them, or leave FLOW out to collect every flow.")
    return [flow] if flow is not None else known


def nothing_to_collect(where: str) -> ArtiflowException:
    """The error of a gc where no run is recorded (most likely the wrong folder)."""
    return ArtiflowException(f"No runs are recorded in {where}: there is nothing to collect. Run this from the "
                             f"project folder (the one holding .artiflow), or set ARTIFLOW_ROOT.")


def _plural(n: int, noun: str) -> str:
    """`1 run`, `3 runs`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _size(n: int) -> str:
    """Bytes for people and exactly: `1.5 KB (1534 bytes)`."""
    from .inspect import format_size

    return f"{format_size(n)} ({n} bytes)"


def run_lines(outcome: Outcome) -> list[str]:
    """The runs dropped per flow (ids), then each run kept although named, with why."""
    verb = "Would drop" if outcome.dry_run else "Dropped"
    lines = [f"{verb} {_plural(len(ids), 'run')} of {flow}: {', '.join(map(str, ids))}."
             for flow, ids in outcome.plan.drop.items() if ids]
    if not lines:
        lines.append(f"No runs to drop in {', '.join(outcome.plan.drop)}.")
    lines += [f"Kept {kept.flow}/{kept.run_id}: {kept.reason}." for kept in outcome.plan.kept]
    return lines


def storage_lines(outcome: Outcome) -> list[str]:
    """Blobs deleted and bytes freed, blobs left as recently used, temp files removed, the total."""
    dry = outcome.dry_run
    lines = [f"Put back {_plural(outcome.trash_restored, 'blob')} that a gc which died left in the trash."
             ] if outcome.trash_restored else []
    if outcome.held_back:
        lines.append(f"{'Would delete' if dry else 'Deleted'} no blob: {outcome.held_back}.")
    elif outcome.deferred:
        lines += trash_lines(outcome)
    else:
        lines.append(f"{'Would delete' if dry else 'Deleted'} {_plural(outcome.blobs_deleted, 'unreferenced blob')}"
                     f", {'freeing' if dry else 'freed'} {_size(outcome.bytes_freed)}.")
    if outcome.blobs_recent:
        since = datetime.fromtimestamp(outcome.cutoff).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"Left {_plural(outcome.blobs_recent, 'unreferenced blob')} used since {since} (a run may "
                     f"still be recording them); a later gc deletes those no run records.")
    lines.append(f"{'Would remove' if dry else 'Removed'} {_plural(len(outcome.temp_files), outcome.temp_noun)}"
                 f", {_size(outcome.temp_bytes)}.")
    if outcome.previews_deleted:
        lines.append(f"{'Would delete' if dry else 'Deleted'} {_plural(outcome.previews_deleted, 'artifact preview')} "
                     f"no kept run uses.")
    total = _size(outcome.bytes_freed + outcome.temp_bytes)
    lines.append(f"Dry run: nothing was changed; {total} would be freed." if dry else f"Freed {total} in total.")
    return lines


def trash_lines(outcome: Outcome) -> list[str]:
    """A deferring backend's (S3's) trash: entries put back, entries deleted, blobs moved there now, entries left."""
    dry, margin = outcome.dry_run, _duration(outcome.margin)
    lines = []
    if outcome.trash_recorded:
        lines.append(f"{'Would put' if dry else 'Put'} back {_plural(outcome.trash_recorded, 'blob')} from the trash "
                     f"(a run recorded them after an earlier gc had moved them there).")
    lines.append(f"{'Would delete' if dry else 'Deleted'} {_plural(outcome.blobs_deleted, 'blob')} an earlier gc "
                 f"moved to the trash, {'freeing' if dry else 'freed'} {_size(outcome.bytes_freed)}.")
    lines.append(f"{'Would move' if dry else 'Moved'} {_plural(outcome.blobs_set_aside, 'unreferenced blob')}, "
                 f"{_size(outcome.bytes_set_aside)}, to the trash ({outcome.trash}): a gc run {margin} or more "
                 f"from now deletes those that no run records by then.")
    if outcome.trash_waiting:
        lines.append(f"Left {_plural(outcome.trash_waiting, 'blob')} in the trash that went there less than {margin} "
                     f"before this gc's cutoff; a later gc deletes them.")
    return lines


def _duration(seconds: float) -> str:
    """`20 min`, `2 h`, `45 s`: the gc margin for people."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@click.command("gc", help="Drop old runs of FLOW (default: every flow), then delete every blob no kept run "
                          "references and stale temp files. Runs in progress, runs tagged `keep` and runs a kept "
                          "run resumed or reused are kept. Safe while runs and readers are active.")
@click.argument("flow", required=False)
@click.option("--keep-last", type=int, metavar="N", help="Keep the newest N runs of each flow, drop the others.")
@click.option("--older-than", metavar="AGE", help="Drop runs started longer ago than AGE: 90m, 12h, 30d, 2w.")
@click.option("--dry-run", is_flag=True, help="Say what would be dropped and freed; change nothing.")
@friendly_errors
def gc_command(flow: str | None, keep_last: int | None, older_than: str | None, dry_run: bool) -> None:
    """Collect under the gc lock (a dry run needs none: it changes nothing), then print what happened."""
    from ..client.context import get_context
    from ..config import load_config
    from ..datastore import gc
    from ..datastore.files import defer_sweep

    policy = policy_from(keep_last, older_than)
    defer_sweep(load_config().datastore_root)  # gc sweeps temp files itself, to report them (or not, dry)
    context = get_context()
    if not context.has_metadata():
        raise nothing_to_collect(context.where())
    meta, storage = context.meta, context.store.storage
    flows = chosen_flows(meta, context.where(), flow)
    lock = contextlib.nullcontext() if dry_run else gc.taking_turns(storage, _say_waiting)
    with lock:
        outcome = gc.collect(meta, storage, flows, policy, dry_run=dry_run)
    for line in run_lines(outcome) + storage_lines(outcome):
        click.echo(line)


def _say_waiting(pid: str) -> None:
    click.echo(f"Waiting for another artiflow gc (pid {pid}) to finish...")


def register(group: click.Group) -> None:
    """Add `gc` to the `artiflow` command group."""
    group.add_command(gc_command)
