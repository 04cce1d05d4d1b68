"""The base of every client object, and the lookups that turn a missing object into a clear error."""

from __future__ import annotations

from typing import Any

from ..exceptions import NamespaceMismatch, NotFound
from .context import Context, get_namespace, is_visible, listing


class ClientObject:
    """Something addressed by a pathspec: a flow, run, step, task or artifact."""

    _kind = "object"

    def __init__(self, pathspec: str, ctx: Context) -> None:
        self._pathspec = pathspec
        self._ctx = ctx

    @property
    def pathspec(self) -> str:
        """The address of this object, e.g. `HelloFlow/3/start/1`."""
        return self._pathspec

    @property
    def id(self) -> str:
        """The last component of the pathspec (flow name, run id, step name, task id, artifact name)."""
        return self._pathspec.rsplit("/", 1)[-1]

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self._pathspec}')"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.pathspec == self.pathspec  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._pathspec))


def flow_names(ctx: Context) -> list[str]:
    """Every flow with a recorded run (none when nothing was ever run with this configuration)."""
    return ctx.meta.flows() if ctx.has_metadata() else []


def check_flow(ctx: Context, flow: str) -> None:
    """Raise NotFound, naming the flows that exist, unless `flow` has runs."""
    names = flow_names(ctx)
    if flow in names:
        return
    if not names:
        raise NotFound(f"Flow {flow} does not exist: no runs are recorded in {ctx.where()}. Run a flow first, "
                       f"or run this from the project folder (the one holding .artiflow), or set ARTIFLOW_ROOT to that .artiflow folder.")
    raise NotFound(f"Flow {flow} does not exist; flows: {listing(names)}.")


def fetch_run(ctx: Context, flow: str, run_id: str | int, check_namespace: bool = True) -> dict[str, Any]:
    """A run's row; NotFound (listing the runs) or NamespaceMismatch (saying how to see it)."""
    check_flow(ctx, flow)
    pathspec = f"{flow}/{run_id}"
    row = None
    try:
        row = ctx.meta.run(flow, int(run_id))
    except (TypeError, ValueError):
        pass
    if row is None:
        ids = sorted(r["run_id"] for r in ctx.meta.runs(flow))
        raise NotFound(f"Run {pathspec} does not exist; runs of {flow}: {listing(ids, tail=True)}.")
    if check_namespace:
        check_visible(row, pathspec)
    return row


def check_visible(row: dict[str, Any], pathspec: str) -> None:
    """Raise NamespaceMismatch unless the run is in the current namespace."""
    ns = get_namespace()
    if is_visible(row, ns):
        return
    where = listing([*row["system_tags"], *row["tags"]])
    owner = next((t for t in row["system_tags"] if t.startswith("user:")), None)
    hint = f", or namespace('{owner}') to see only that user's runs" if owner else ""
    raise NamespaceMismatch(f"Run {pathspec} is not in the current namespace '{ns}': it is in {where}. "
                            f"Call namespace(None) to see runs of every namespace{hint}.")


class RunFacts:
    """Who started a run and its tags: shared by the run and everything inside it."""

    _run_row: dict[str, Any]

    @property
    def user(self) -> str:
        """Who started the run."""
        return self._run_row["user"]

    @property
    def tags(self) -> list[str]:
        """The run's user tags (given with `--tag`)."""
        return list(self._run_row["tags"])

    @property
    def system_tags(self) -> list[str]:
        """The tags artiflow adds to the run, e.g. `user:<name>`, `project:<name>`."""
        return list(self._run_row["system_tags"])


class HasStatus:
    """The status properties shared by runs and tasks, read from their metadata row."""

    _row: dict[str, Any]
    _run_row: dict[str, Any]

    @property
    def status(self) -> str:
        """`running`, `succeeded` or `failed` (a task can also be `caught`: it failed under @catch).

        A task still marked running in a run whose runner was lost (no heartbeat) is failed.
        """
        status = self._row["status"]
        return "failed" if status == "running" and self._run_row.get("lost") else status

    @property
    def successful(self) -> bool:
        """True when it finished and succeeded (a task's artifacts were stored)."""
        return self.status == "succeeded"

    @property
    def finished(self) -> bool:
        """True when it is over, successfully or not."""
        return self.status != "running"
