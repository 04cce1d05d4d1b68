"""The metadata store's interface: what the runner, the client, caching, lineage and gc may ask of it.

`SQLiteMetadata` (the default) and a PostgreSQL store implement it; both are `metadata.sql.SQLMetadata`
over their own dialect. Code outside `metadata/` names this type, never a backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterable, Mapping, Protocol, Sequence

if TYPE_CHECKING:
    from ..datastore.store import ArtifactRef
    from ..lineage.records import Producers, Read
    from .browse import RunFilter, RunPage, StepSummary, TaskPage, Timeline
    from .metric_series import MetricSeries
    from .records import AttemptRecord, BlobReferences, MetricRecord, RunRecord, TaskMetadataRecord, TaskRecord

Logs = tuple["str | None", "str | None"]  # the (stdout, stderr) blob keys of an attempt
TagCheck = Callable[[list[str], list[str]], None]  # (user tags, system tags) -> raises to refuse a change


class MetadataStore(Protocol):
    """The index of flows, runs, tasks, attempts, artifacts, tags, task metadata and lineage.

    Writes are short transactions; `batch()` gathers the writes made inside it into one. Reads return
    records (metadata.records) or plain mappings of them; None (or empty) when nothing matches.
    """

    # -- the store itself -----------------------------------------------------------------------
    def describe(self) -> str:
        """Where the metadata lives, for messages: a file path, or a URL without its password."""

    def exists(self) -> bool:
        """False when nothing was ever recorded here (e.g. the SQLite file is not there yet); opens nothing."""

    def now(self) -> float:
        """The store's clock (epoch seconds): what heartbeats and lost runs are judged by (the server's, if any)."""

    def close(self) -> None:
        """Close the connection (the next call opens it again)."""

    def batch(self) -> ContextManager[None]:
        """Gather the writes made inside into one transaction (nested batches join the outer one)."""

    # -- writes (the runner) --------------------------------------------------------------------
    def new_run(self, flow: str, user: str, tags: Sequence[str], params: dict[str, Any],
                param_refs: dict[str, ArtifactRef] | None = None, origin_run_id: int | None = None,
                system_tags: Sequence[str] = (), datastore_root: str | None = None) -> int:
        """Allocate the flow's next run id and record the run as running (with `user:<user>` as a system tag)."""

    def finish_run(self, flow: str, run_id: int, status: str) -> None:
        """Record the run's final status and end time."""

    def fail_unfinished(self, flow: str, run_id: int, reason: str) -> None:
        """Mark every task and attempt of the run still recorded as running as failed (its runner is stopping)."""

    def heartbeat(self, flow: str, run_id: int) -> None:
        """Say the run's runner is alive."""

    def start_task(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                   foreach_stack: list, parents: list[str], cache_key: str | None = None) -> None:
        """Record an attempt as running (and its task, with its step-cache key when caching applies)."""

    def finish_task(self, flow: str, run_id: int, step: str, task_id: int, attempt: int, status: str,
                    artifacts: dict[str, ArtifactRef], stdout_key: str | None, stderr_key: str | None,
                    exception: dict | None, transition: dict | None = None, metadata: Iterable[Any] = (),
                    producers: dict[str, Producers] | None = None, reads: Iterable[Read] = ()) -> None:
        """Record an attempt's outcome with its artifacts, metadata entries, producers and reads, at once."""

    def set_attempt_logs(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                         stdout_key: str | None, stderr_key: str | None) -> None:
        """Record the log keys of a running attempt's output stored so far (readers tail it; `finish_task` ends it)."""

    def add_metrics(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                    points: Sequence[tuple]) -> None:
        """Record an attempt's metric points, (name, value, step, timestamp) each, in bulk (in a batch: with it)."""

    def add_previews(self, previews: Mapping[str, str]) -> None:
        """Record artifact previews (content key -> preview JSON text), insert-or-ignore; in a batch: with it."""

    def clone_task(self, flow: str, run_id: int, step: str, task_id: int, foreach_stack: list, parents: list[str],
                   source: TaskRecord, artifacts: dict[str, ArtifactRef],
                   producers: dict[str, Producers] | None = None, cached: bool = False) -> None:
        """Record a task reused from `source` (resume, or a step-cache hit when `cached`), by reference.

        Its metric points are a copy of the source's (its latest attempt that logged any), as attempt 0.
        """

    def add_task_metadata(self, flow: str, run_id: int, step: str, task_id: int, attempt: int,
                          entries: Iterable[Any]) -> None:
        """Record MetadataEntry items (field, value, type, tags) for a task attempt."""

    def set_run_code(self, flow: str, run_id: int, code_key: str | None, environment_key: str | None) -> None:
        """Record the blobs holding the run's code snapshot and its environment."""

    # -- tags ---------------------------------------------------------------------------------------
    def mutate_run_tags(self, flow: str, run_id: int, remove: Iterable[str], add: Iterable[str],
                        check: TagCheck | None = None) -> tuple[list[str], list[str]] | None:
        """Remove, then add, user tags in one transaction; (user tags, system tags) after; None: no such run."""

    # -- reads (the client and the CLI) -----------------------------------------------------------
    def flows(self) -> list[str]:
        """Every flow with a recorded run, by name."""

    def runs(self, flow: str) -> list[RunRecord]:
        """The flow's runs, newest first."""

    def run(self, flow: str, run_id: int) -> RunRecord | None:
        """One run, or None."""

    def tasks(self, flow: str, run_id: int, step: str | None = None) -> list[TaskRecord]:
        """The run's tasks (or one step's), in the order they started."""

    def task(self, flow: str, run_id: int, step: str, task_id: int) -> TaskRecord | None:
        """One task, or None."""

    def attempts(self, flow: str, run_id: int, step: str, task_id: int) -> list[AttemptRecord]:
        """The task's attempts, first to latest."""

    def task_metadata(self, flow: str, run_id: int, step: str, task_id: int) -> list[TaskMetadataRecord]:
        """Every metadata entry of the task (all attempts), oldest first."""

    def tasks_with_metadata(self, flow: str, run_id: int, step: str, field: str, value: str) -> set[int]:
        """Ids of the step's tasks that recorded the entry `field` = `value`."""

    def artifacts(self, flow: str, run_id: int, step: str, task_id: int) -> dict[str, ArtifactRef]:
        """The task's artifacts by name."""

    def artifacts_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], dict[str, ArtifactRef]]:
        """Every artifact of the run, by (step, task_id), in one query."""

    def artifact_keys_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], dict[str, str]]:
        """Every artifact's content key in the run, by (step, task_id) and name, in one query."""

    def foreach_indices(self, flow: str, run_id: int) -> dict[tuple[str, int], tuple[int, ...]]:
        """Each task of the run, (step, task_id) in start order, with its foreach indices (outermost first)."""

    def artifact_in_tasks(self, flow: str, run_id: int, step: str, name: str) -> dict[int, ArtifactRef]:
        """One artifact of every task of a step, by task id, in one query."""

    def last_logs(self, flow: str, run_id: int, step: str, task_id: int) -> Logs:
        """The log keys of the task's latest attempt ((None, None) if it has none)."""

    def last_logs_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], Logs]:
        """The log keys of every task's latest attempt, by (step, task_id), in one query."""

    def metrics(self, flow: str, run_id: int, step: str | None = None, task_id: int | None = None,
                name: str | None = None, attempt: int | None = None) -> list[MetricRecord]:
        """Metric points of a run, a step or a task (one name if given), by task id then as logged, in one query.

        Each task's latest attempt that logged points, unless `attempt` names one.
        """

    def task_metric_series(self, flow: str, run_id: int, step: str, task_id: int) -> list[MetricSeries]:
        """Every metric of a task, one series per (attempt, name), as columns in logged order (charts of many points)."""

    def metric_names(self, flow: str, run_id: int) -> list[str]:
        """The names of every metric of a run, sorted."""

    # -- browsing (the web UI): paged and counted in the store ------------------------------------
    def find_runs(self, where: RunFilter, offset: int = 0, limit: int = 50) -> RunPage:
        """The runs `where` selects, newest first: `limit` from `offset`, and how many match in all."""

    def run_users(self) -> list[str]:
        """Every user who started a run, sorted."""

    def set_run_graph(self, flow: str, run_id: int, graph: dict[str, Any]) -> None:
        """Record the graph the run runs (graph/stored.py), when the run starts."""

    def run_graph(self, flow: str, run_id: int) -> dict[str, Any] | None:
        """The graph the run recorded, or None (runs made before runs kept it)."""

    def step_parents(self, flow: str, run_id: int) -> dict[str, set[str]]:
        """The steps each step's tasks started from (drawing a run without a stored graph)."""

    def step_summaries(self, flow: str, run_id: int) -> list[StepSummary]:
        """Each step of the run with tasks: its tasks counted by status, cached and reused, in start order."""

    def task_page(self, flow: str, run_id: int, step: str, offset: int = 0, limit: int = 50) -> TaskPage:
        """`limit` tasks of a step from `offset`, by task id, and the step's task count."""

    def timeline(self, flow: str, run_id: int, origin: float = 0.0, limit: int = 100_000) -> Timeline:
        """The run's first `limit` attempts in start order, as columns timed in ms from `origin`: its timeline."""

    def attempt_count(self, flow: str, run_id: int) -> int:
        """How many attempts the run made."""

    def previews(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The previews of these content keys as dicts (datastore/preview.py); keys without one are absent."""

    # -- step caching and lineage ---------------------------------------------------------------------
    def cache_candidates(self, flow: str, step: str, cache_key: str) -> list[TaskRecord]:
        """The step's tasks that succeeded with this cache key, newest first."""

    def artifacts_with_producers(self, flow: str, run_id: int, step: str,
                                 task_id: int) -> tuple[dict[str, ArtifactRef], dict[str, Producers]]:
        """The task's artifacts and their producers, in one query."""

    def artifact_producers(self, flow: str, run_id: int, step: str, task_id: int) -> dict[str, Producers]:
        """Which tasks first produced each of the task's artifact values (empty for a parameter)."""

    def producers_of_run(self, flow: str, run_id: int) -> dict[tuple[str, int], dict[str, Producers]]:
        """`artifact_producers` of every task of the run, by (step, task_id), in one query."""

    def task_reads(self, flow: str, run_id: int, step: str, task_id: int) -> list[Read]:
        """The artifacts the task's latest recorded attempt read, in the order it read them."""

    # -- garbage collection -------------------------------------------------------------------------
    def delete_runs(self, flow: str, run_ids: Iterable[int]) -> None:
        """Delete every record of these runs in one transaction (their run ids are never given again)."""

    def blob_references(self, without: dict[str, Iterable[int]] | None = None) -> BlobReferences:
        """Every blob key a record names; `without` leaves out the records of those runs (flow -> run ids)."""

    def sweep_previews(self, without: dict[str, Iterable[int]] | None = None, dry_run: bool = False) -> int:
        """Delete the previews of keys no artifact or parameter names (a dry run: count, without those runs)."""

    def linked_runs(self, flow: str, run_id: int) -> set[int]:
        """Runs of the flow this run depends on: the one it resumed, and those it reused or cached tasks from."""
