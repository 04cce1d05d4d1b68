"""`python flow.py tag add|remove|replace|list`: change and list the user tags of a flow's runs.

As on Metaflow, changes apply to runs of your own namespace (`user:<you>`) unless `--namespace`
says otherwise, and `tag list` sees every run. With the top-level `--quiet`, each run is one
parseable line: `Flow/run ; system,tags ; user,tags`.
"""

from __future__ import annotations

from typing import Any

import click

from ..exceptions import CommandError, NamespaceMismatch, NotFound
from .errors import friendly_errors

RUN_ID_HELP = "The id of the run (required)."
NAMESPACE_HELP = "The namespace the run is looked up in (default: your own, user:<you>)."


def _flow_name(ctx: click.Context) -> str:
    return ctx.obj["flow_cls"].__name__


def _own_namespace() -> str:
    from ..config import load_config

    return f"user:{load_config().user}"


def _flow(flow_name: str, ns: str | None) -> Any:
    """The client Flow seen through `ns`; a CommandError when it was never run or has no run in `ns`."""
    from ..client import Flow
    from ..client.context import using_namespace

    with using_namespace(ns):
        try:
            return Flow(flow_name)
        except NamespaceMismatch:
            raise CommandError(f"{flow_name} has no run in namespace {ns}. Give --namespace to tag runs of "
                               f"another namespace (e.g. --namespace user:<name>).") from None
        except NotFound as exc:
            raise CommandError(f"Cannot tag a run of {flow_name}: {exc.message} Run the flow before tagging "
                               f"its runs.") from None


def _run_of(flow_name: str, run_id: str | None, ns: str | None) -> Any:
    """The client Run that `--run-id` names, seen through `ns`; each mistake is a CommandError saying what to give."""
    from ..client.context import using_namespace

    flow = _flow(flow_name, ns)
    if run_id is None:
        latest = flow.latest_run
        hint = (f"; the latest run of {flow_name} in namespace {ns} is {latest.id} (--run-id {latest.id})"
                if latest else "")
        raise CommandError(f"Which run? Give it with --run-id{hint}.")
    parts = run_id.strip().strip("/").split("/")
    if len(parts) == 2 and parts[0] == flow_name:
        parts = parts[1:]
    if len(parts) != 1 or not parts[0]:
        raise CommandError(f"--run-id {run_id!r} is not a run id of {flow_name}: give the number alone, "
                           f"e.g. --run-id 3.")
    with using_namespace(ns):
        try:
            return flow[parts[0]]
        except NamespaceMismatch:
            owner = _owner(flow_name, parts[0])
            raise CommandError(f"Run {flow_name}/{parts[0]} is not in namespace {ns} (it is in {owner}). To tag it, "
                               f"give its namespace: --namespace {owner}.") from None
        except NotFound as exc:
            raise CommandError(exc.message) from None


def _owner(flow_name: str, run_id: str) -> str:
    """The `user:<name>` tag of a run, for hints."""
    from ..client import Run
    from ..client.context import using_namespace

    with using_namespace(None):
        return next((t for t in sorted(Run(f"{flow_name}/{run_id}").system_tags) if t.startswith("user:")),
                    "user:<name>")


def _joined(tags: Any) -> str:
    return ", ".join(sorted(tags)) or "-"


def _echo_run(run: Any, quiet: bool, hide_system: bool = False) -> None:
    """One run's tags: aligned lines, or one `pathspec ; system ; user` line when quiet."""
    if quiet:
        system = "" if hide_system else ",".join(sorted(run.system_tags))
        click.echo(f"{run.pathspec} ; {system} ; {','.join(sorted(run.user_tags))}")
        return
    click.echo(f"Run {run.pathspec}")
    click.echo(f"  user tags    {_joined(run.user_tags)}")
    if not hide_system:
        click.echo(f"  system tags  {_joined(run.system_tags)}")


def _changed(ctx: click.Context, run: Any) -> None:
    if not ctx.obj["quiet"]:
        click.echo("Tags changed (only user tags can be changed; system tags are artiflow's).")
    _echo_run(run, ctx.obj["quiet"])


@click.group("tag", help="Add, remove, replace or list the tags of this flow's runs.")
def tag_group() -> None:
    pass


@tag_group.command("add", help="Add TAGS to a run (a tag that is already a system tag is left as it is).")
@click.option("--run-id", default=None, help=RUN_ID_HELP)
@click.option("--namespace", "user_namespace", default=None, help=NAMESPACE_HELP)
@click.argument("tags", nargs=-1, required=True)
@click.pass_context
@friendly_errors
def add_command(ctx: click.Context, run_id: str | None, user_namespace: str | None, tags: tuple[str, ...]) -> None:
    run = _run_of(_flow_name(ctx), run_id, user_namespace or _own_namespace())
    run.add_tags(list(tags))
    _changed(ctx, run)


@tag_group.command("remove", help="Remove TAGS from a run (system tags cannot be removed).")
@click.option("--run-id", default=None, help=RUN_ID_HELP)
@click.option("--namespace", "user_namespace", default=None, help=NAMESPACE_HELP)
@click.argument("tags", nargs=-1, required=True)
@click.pass_context
@friendly_errors
def remove_command(ctx: click.Context, run_id: str | None, user_namespace: str | None, tags: tuple[str, ...]) -> None:
    run = _run_of(_flow_name(ctx), run_id, user_namespace or _own_namespace())
    missing = sorted(set(tags) - run.tags)
    if missing:
        raise CommandError(f"Run {run.pathspec} has no tag {', '.join(missing)}; its user tags: "
                           f"{_joined(run.user_tags)}. Nothing was changed.")
    run.remove_tags(list(tags))
    _changed(ctx, run)


@tag_group.command("replace", help="Replace tags of a run in one step, removals first: `replace OLD NEW`, or "
                                   "`replace --remove OLD... --add NEW...`.")
@click.option("--run-id", default=None, help=RUN_ID_HELP)
@click.option("--namespace", "user_namespace", default=None, help=NAMESPACE_HELP)
@click.option("--add", "tags_to_add", multiple=True, help="A tag to add (repeatable).")
@click.option("--remove", "tags_to_remove", multiple=True, help="A tag to remove (repeatable).")
@click.argument("old_new", nargs=-1, metavar="[OLD NEW]")
@click.pass_context
@friendly_errors
def replace_command(ctx: click.Context, run_id: str | None, user_namespace: str | None, tags_to_add: tuple[str, ...],
                    tags_to_remove: tuple[str, ...], old_new: tuple[str, ...]) -> None:
    if old_new and (tags_to_add or tags_to_remove):
        raise CommandError("Give either OLD NEW or --remove/--add options to tag replace, not both.")
    if old_new:
        if len(old_new) != 2:
            raise CommandError(f"tag replace takes two tags, OLD NEW; got {len(old_new)}: {' '.join(old_new)}. "
                               f"For several, use --remove OLD --add NEW (repeatable).")
        tags_to_remove, tags_to_add = (old_new[0],), (old_new[1],)
    if not tags_to_remove and not tags_to_add:
        raise CommandError("tag replace needs a tag to remove and a tag to add: tag replace --run-id N OLD NEW.")
    if not tags_to_remove:
        raise CommandError("tag replace needs a tag to remove (--remove); to only add tags, use tag add.")
    if not tags_to_add:
        raise CommandError("tag replace needs a tag to add (--add); to only remove tags, use tag remove.")
    run = _run_of(_flow_name(ctx), run_id, user_namespace or _own_namespace())
    missing = sorted(set(tags_to_remove) - run.tags)
    if missing:
        raise CommandError(f"Run {run.pathspec} has no tag {', '.join(missing)} to replace; its user tags: "
                           f"{_joined(run.user_tags)}. Nothing was changed; to add {', '.join(tags_to_add)} "
                           f"alone, use tag add.")
    run.replace_tags(list(tags_to_remove), list(tags_to_add))
    _changed(ctx, run)


@tag_group.command("list", help="List the tags of a run (--run-id, or RUN_ID), or of all runs of the flow.")
@click.option("--run-id", default=None, help="The id of the run (default: every run).")
@click.option("--all", "list_all", is_flag=True, help="Every run of the flow, every namespace (the default).")
@click.option("--my-runs", is_flag=True, help="Only the runs of your own namespace.")
@click.option("--hide-system-tags", is_flag=True, help="Leave system tags out.")
@click.option("--group-by-tag", is_flag=True, help="List each tag with the runs that have it.")
@click.option("--group-by-run", is_flag=True, help="List each run with its tags (the default).")
@click.option("--flat", is_flag=True, help="Every tag once, one per line.")
@click.argument("arg_run_id", required=False, metavar="[RUN_ID]")
@click.pass_context
@friendly_errors
def list_command(ctx: click.Context, run_id: str | None, list_all: bool, my_runs: bool, hide_system_tags: bool,
                 group_by_tag: bool, group_by_run: bool, flat: bool, arg_run_id: str | None) -> None:
    from ..client.context import using_namespace

    if run_id is not None and arg_run_id is not None:
        raise CommandError("Give the run either with --run-id or as an argument, not both.")
    if list_all and my_runs:
        raise CommandError("--all and --my-runs cannot be used together: --all lists every run, --my-runs yours.")
    if group_by_tag and group_by_run:
        raise CommandError("--group-by-tag and --group-by-run cannot be used together.")
    if flat and (group_by_tag or group_by_run):
        raise CommandError("--flat cannot be used with --group-by-tag or --group-by-run.")
    run_id = run_id if run_id is not None else arg_run_id
    flow_name = _flow_name(ctx)
    if run_id is not None:
        runs = [_run_of(flow_name, run_id, None)]
    else:
        ns = _own_namespace() if my_runs else None
        with using_namespace(ns):
            runs = _flow(flow_name, ns).runs()
    _print_listing(runs, ctx.obj["quiet"], hide_system_tags, group_by_tag, flat)


def _print_listing(runs: list[Any], quiet: bool, hide_system: bool, by_tag: bool, flat: bool) -> None:
    """Print the tags of `runs`: by run (default), by tag, or flat."""
    if flat:
        for tag in sorted(set().union(*[run.user_tags if hide_system else run.tags for run in runs])):
            click.echo(tag)
        return
    if not by_tag:
        for number, run in enumerate(runs):
            if number and not quiet:
                click.echo("")
            _echo_run(run, quiet, hide_system)
        return
    kinds = [("user", "user_tags")] + ([] if hide_system else [("system", "system_tags")])
    groups: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        for kind, attribute in kinds:
            for tag in getattr(run, attribute):
                groups.setdefault((kind, tag), []).append(run.id)
    for (kind, tag), ids in sorted(groups.items()):
        if quiet:
            click.echo(f"{kind}:{tag} ; {','.join(ids)}")
        else:
            click.echo(f"{tag} ({kind} tag): runs {', '.join(ids)}")
