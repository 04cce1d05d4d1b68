"""The base of every client object, and the lookups that turn a missing object into a clear error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import NamespaceMismatch, NotFound, shown
from .context import Context, get_namespace, is_visible, listing
from .pathspec import run_number

if TYPE_CHECKING:
    from ..metadata.records import RunRecord, TaskRecord

UNSET: Any = object()  # "no namespace given": take the current one


class ClientObject:
    """Something addressed by a pathspec: a flow, run, step, task or artifact.

    As on Metaflow, an object remembers the namespace current when it was made, and the objects
    reached from it (children, parent) see that namespace too; `_namespace_check=False` (or the
    namespace None) turns the namespace check off for it and them.
    """

    _kind = "object"

    def __init__(self, pathspec: str, ctx: Context, namespace: Any = UNSET, namespace_check: bool = True) -> None:
        self._pathspec = pathspec
        self._ctx = ctx
        self._namespace: str | None = get_namespace() if namespace is UNSET else namespace
        self._namespace_check = bool(namespace_check) and self._namespace is not None

    @property
    def pathspec(self) -> str:
        """The address of this object, e.g. `HelloFlow/3/start/1`."""
        return self._pathspec

    @property
    def id(self) -> str:
        """The last component of the pathspec (flow name, run id, step name, task id, artifact name)."""
        return self._pathspec.rsplit("/", 1)[-1]

    @property
    def path_components(self) -> list[str]:
        """The components of the pathspec, e.g. `['HelloFlow', '3', 'start', '1']`."""
        return self._pathspec.split("/")

    @property
    def _visible_ns(self) -> str | None:
        """The namespace this object checks visibility against (None: no check)."""
        return self._namespace if self._namespace_check else None

    def _ns(self) -> dict[str, Any]:
        """Keyword arguments that make another client object see this object's namespace."""
        return {"_namespace": self._namespace, "_namespace_check": self._namespace_check}

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self._pathspec}')"

    def _repr_html_(self) -> str:
        """How a notebook shows this object: a cheap HTML summary (see client/display.py)."""
        from .display import html_of

        return html_of(self)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.pathspec == self.pathspec  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._pathspec))

    def __reduce__(self) -> tuple:
        """Pickled as its pathspec and namespace (as on Metaflow); unpickling reads the metadata store again."""
        return (_restore, (type(self), self._pathspec, self._namespace, self._namespace_check))


def _restore(cls: type, pathspec: str, namespace: str | None, namespace_check: bool) -> ClientObject:
    """A client object again from what __reduce__ kept."""
    return cls(pathspec, _namespace=namespace, _namespace_check=namespace_check)


def flow_names(ctx: Context) -> list[str]:
    """Every flow with a recorded run (none when nothing was ever run with this configuration)."""
    return ctx.meta.flows() if ctx.has_metadata() else []


def check_flow(ctx: Context, flow: str) -> None:
    """Raise NotFound, naming the flows that exist, unless `flow` has runs."""
    names = flow_names(ctx)
    if flow in names:
        return
    if not names:
        raise NotFound(f"Flow {shown(flow)} does not exist: no runs are recorded in {ctx.where()}. Run a flow first, "
                       f"or run this from the project folder (the one holding .artiflow), or set ARTIFLOW_ROOT to that .artiflow folder.")
    raise NotFound(f"Flow {shown(flow)} does not exist; flows: {listing(names)}.")


def fetch_run(ctx: Context, flow: str, run_id: str | int, ns: str | None = UNSET) -> RunRecord:
    """A run's record; NotFound (listing the runs) or NamespaceMismatch when not in `ns` (None: no check)."""
    check_flow(ctx, flow)
    pathspec = f"{flow}/{run_id}"
    number = run_number(run_id)
    row = None if number is None else ctx.meta.run(flow, number)
    if row is None:
        ids = sorted(r.run_id for r in ctx.meta.runs(flow))
        raise NotFound(f"Run {flow}/{shown(run_id)} does not exist; runs of {flow}: {listing(ids, tail=True)}.")
    check_visible(row, pathspec, get_namespace() if ns is UNSET else ns)
    return row


def check_visible(row: RunRecord, pathspec: str, ns: str | None) -> None:
    """Raise NamespaceMismatch unless the run is in namespace `ns` (None: every run is)."""
    if is_visible(row, ns):
        return
    where = listing([*row.system_tags, *row.tags])
    owner = next((t for t in row.system_tags if t.startswith("user:")), None)
    hint = f", or namespace('{owner}') to see only that user's runs" if owner else ""
    raise NamespaceMismatch(f"Run {pathspec} is not in the current namespace '{ns}': it is in {where}. "
                            f"Call namespace(None) to see runs of every namespace{hint}, or pass "
                            f"_namespace_check=False.")


class RunFacts:
    """Who started a run and its tags: shared by the run and everything inside it."""

    _run_row: RunRecord

    @property
    def user(self) -> str:
        """Who started the run."""
        return self._run_row.user

    @property
    def tags(self) -> frozenset[str]:
        """Every tag of the run: its user tags and its system tags (`"user:alice" in run.tags`)."""
        return frozenset([*self._run_row.tags, *self._run_row.system_tags])

    @property
    def user_tags(self) -> frozenset[str]:
        """The tags users gave the run (`--tag`, `run.add_tag`): the ones that can be changed."""
        return frozenset(self._run_row.tags)

    @property
    def system_tags(self) -> frozenset[str]:
        """The tags artiflow gave the run, e.g. `user:<name>`, `project:<name>`; they cannot be changed."""
        return frozenset(self._run_row.system_tags)


def has_tags(run_row: RunRecord, tags: tuple[str, ...]) -> bool:
    """Whether a run carries every one of `tags` (user or system tags)."""
    return set(tags) <= {*run_row.tags, *run_row.system_tags}


class HasStatus:
    """The status properties shared by runs and tasks, read from their metadata record."""

    _row: RunRecord | TaskRecord
    _run_row: RunRecord

    @property
    def status(self) -> str:
        """`running`, `succeeded` or `failed` (a task can also be `caught`: it failed under @catch).

        A task still marked running in a run whose runner was lost (no heartbeat) is failed.
        """
        status = self._row.status
        return "failed" if status == "running" and self._run_row.lost else status
