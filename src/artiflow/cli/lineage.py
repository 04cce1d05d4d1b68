"""`artiflow lineage PATHSPEC [--depth N] [--format tree|mermaid|dot|json]`: where an artifact's value came from.

Like the other inspect commands it sees every namespace: the pathspec already names the artifact.
"""

from __future__ import annotations

import click

from ..client import DataArtifact, Task
from ..client.context import listing, using_namespace
from ..client.pathspec import InvalidPathspec, KINDS, quoted, split
from ..exceptions import CommandError
from .errors import friendly_errors

FORMATS = ("tree", "mermaid", "dot", "json")


def artifact_for(pathspec: str) -> DataArtifact:
    """The artifact PATHSPEC names; a clear error for anything shorter (a task's lists its artifacts)."""
    parts = split(pathspec)
    if len(parts) == 5:
        return DataArtifact("/".join(parts))
    kind = KINDS[len(parts) - 1]
    wanted = "lineage needs an artifact pathspec, Flow/run/step/task/artifact"
    if kind == "task":
        task = Task("/".join(parts))
        names = [artifact.name for artifact in task]
        example = f", e.g. {task.pathspec}/{names[0]}" if names else ""
        raise InvalidPathspec(f"{quoted(pathspec)} names a task; {wanted}{example}. Artifacts of {task.pathspec}: "
                              f"{listing(names)}.")
    example = "/".join([*parts, *KINDS[len(parts):]])
    raise InvalidPathspec(f"{quoted(pathspec)} names a {kind}; {wanted}, here {example} "
                          f"(`artiflow show {'/'.join(parts)}` lists what is inside it).")


def render(artifact: DataArtifact, depth: int | None, form: str) -> str:
    """The lineage of `artifact` in one of FORMATS."""
    from ..lineage.graph import dumps

    graph = artifact.lineage(depth)
    if form == "json":
        return dumps(graph)
    if form == "mermaid":
        return graph.to_mermaid().rstrip("\n")
    if form == "dot":
        return graph.to_dot().rstrip("\n")
    return "\n".join(graph.to_tree())


@click.command("lineage", help="Show where an artifact's value came from: the tasks that produced it, what they "
                               "read, and so on back to the parameters. PATHSPEC is Flow/run/step/task/artifact.")
@click.argument("pathspec")
@click.option("--depth", type=int, default=None, help="How many task levels to go back (default: to the roots).")
@click.option("--format", "form", type=click.Choice(FORMATS), default="tree", show_default=True,
              help="tree for reading, mermaid or dot for drawing, json for tools.")
@friendly_errors
def lineage_command(pathspec: str, depth: int | None, form: str) -> None:
    if depth is not None and depth < 0:
        raise CommandError(f"--depth {depth} is not possible: give 0 or more task levels to go back "
                           f"(0 shows only the artifact), or leave --depth out to go back to the roots.")
    with using_namespace(None):
        text = render(artifact_for(pathspec), depth, form)
    click.echo(text)


def register(group: click.Group) -> None:
    """Add `lineage` to the `artiflow` command group."""
    group.add_command(lineage_command)
