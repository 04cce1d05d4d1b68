"""Start a run or resume one: open the stores, allocate the run id, hand over to the scheduler."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

from ..config import Config, load_config
from ..datastore import ArtifactRef, ContentStore, open_store
from ..datastore.roots import recorded_root
from ..exceptions import CommandError
from ..flow_decorators import project_info
from ..flowspec import flow_constants
from ..graph import FlowGraph
from ..graph.stored import stored_graph
from ..lineage.code import record_run_code
from ..metadata import open_metadata
from .console import Console
from .resume import ResumePlan
from .scheduler import RunnerFailure, RunOptions, Scheduler

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from ..metadata.records import RunRecord


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        text = repr(value)
        return text if len(text) <= 200 else text[:197] + "..."


def _open(datastore_root: str | None) -> tuple[Config, ContentStore, MetadataStore]:
    config = load_config(datastore_root)
    return config, open_store(config.datastore_root, config), open_metadata(config.metadata_url)


def _prepare_executor(options: RunOptions, flow_cls: type, graph: FlowGraph, config: Config) -> None:
    """Refuse a run whose tasks could not run where they must (a cluster, a shared datastore), before it exists."""
    from .executors.routing import prepare_executor

    prepare_executor(options.executor, options.dask_scheduler, flow_cls, graph, options.with_decorators,
                     config.datastore_root)


def start_run(flow_cls: type, graph: FlowGraph, param_values: dict[str, Any], options: RunOptions,
              run_id_file: str | None, datastore_root: str | None, configs: dict[str, Any] | None = None) -> bool:
    """Run the flow once; True if every task succeeded.

    `configs` (flow config values by attribute) are stored like parameters: read-only artifacts of
    every step, plain dicts for any reader; they are not among the run's shown parameter values.
    """
    config, store, metadata = _open(datastore_root)
    _prepare_executor(options, flow_cls, graph, config)
    values = {**flow_constants(flow_cls), **param_values, **(configs or {})}
    store.collect_previews()  # parameters are artifacts: they get previews too
    params = {name: store.save(name, value) for name, value in values.items()}
    shown = {name: _json_safe(value) for name, value in param_values.items()}
    run_id = metadata.new_run(graph.name, config.user, options.tags, shown, params,
                              system_tags=project_info(flow_cls, config.user).get("tags", []),
                              datastore_root=recorded_root(config.datastore_root))
    metadata.add_previews(store.take_previews())  # after the run that names them (gc's sweep keeps them)
    metadata.set_run_graph(graph.name, run_id, stored_graph(graph))
    code_key = record_run_code(store, metadata, flow_cls, run_id)
    console = Console(options.quiet)
    console.info(f"Run {graph.name}/{run_id} starting (user {config.user}).")
    mirror = _open_mirror(options, graph.name, run_id, config.user, shown, None, console)
    return _execute(flow_cls, graph, store, metadata, config, run_id, params, options, run_id_file, console,
                    code_key=code_key, mirror=mirror)


def resume_run(flow_cls: type, graph: FlowGraph, step: str | None, origin_run_id: str | None, options: RunOptions,
               run_id_file: str | None, datastore_root: str | None) -> bool:
    """A new run that reuses the origin run's successful tasks before the resume point and runs the rest."""
    config, store, metadata = _open(datastore_root)
    origin = find_origin(metadata, graph.name, origin_run_id, config.user)
    check_same_datastore(origin, config)
    _prepare_executor(options, flow_cls, graph, config)
    plan = ResumePlan(metadata, graph, origin, step)
    options.origin_run_id = origin.run_id
    params: dict[str, ArtifactRef] = origin.param_refs
    run_id = metadata.new_run(graph.name, config.user, options.tags, origin.params, params,
                              origin_run_id=origin.run_id,
                              system_tags=project_info(flow_cls, config.user).get("tags", []),
                              datastore_root=recorded_root(config.datastore_root))
    metadata.set_run_graph(graph.name, run_id, stored_graph(graph))
    code_key = record_run_code(store, metadata, flow_cls, run_id)
    if metadata.run(graph.name, origin.run_id) is None:  # `artiflow gc` dropped it meanwhile
        metadata.finish_run(graph.name, run_id, "failed")
        raise CommandError(f"Run {origin.pathspec} was deleted (by artiflow gc) while this resume "
                           f"started, so there is nothing to reuse. Start a new run with: run")
    console = Console(options.quiet)
    where = f"step '{plan.resume_point}'" if plan.resume_point else "its unfinished steps"
    console.info(f"Resuming {origin.pathspec} as run {graph.name}/{run_id} from {where} "
                 f"(user {config.user}).")
    mirror = _open_mirror(options, graph.name, run_id, config.user, origin.params, origin.pathspec, console)
    return _execute(flow_cls, graph, store, metadata, config, run_id, params, options, run_id_file, console, plan,
                    code_key, mirror)


def origin_configs(flow_cls: type, given: str | None, datastore_root: str | None,
                   fresh: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The config values of the run to resume (those it lacks, e.g. a Config added since, from `fresh()`)."""
    from ..configs import flow_configs

    declared = flow_configs(flow_cls)
    if not declared:
        return {}
    config, store, metadata = _open(datastore_root)
    origin = find_origin(metadata, flow_cls.__name__, given, config.user)
    check_same_datastore(origin, config)
    refs = origin.param_refs
    values = {attr: store.load(refs[attr]) for attr in declared if attr in refs}
    if len(values) < len(declared):
        values = {**fresh(), **values}
    return values


def check_same_datastore(origin: RunRecord, config: Config) -> None:
    """Refuse to resume a run into another datastore than the one its reused tasks' artifacts are in."""
    from ..datastore.roots import readable_root, recorded_root

    theirs, ours = readable_root(origin.datastore_root), recorded_root(config.datastore_root)
    if theirs is not None and theirs != ours:
        raise CommandError(f"Run {origin.pathspec} stored its artifacts in the datastore at {theirs}, and this resume "
                           f"would store its own at {ours}: the tasks it reuses would not be found there. Resume "
                           f"with that datastore: --datastore-root {theirs} (or ARTIFLOW_DATASTORE_ROOT={theirs}).")


def find_origin(metadata: MetadataStore, flow: str, given: str | None, user: str) -> RunRecord:
    """The run to resume: the given id (`3` or `Flow/3`), else the latest run of this user."""
    origin = _latest_of(metadata, flow, user) if given is None else _given_run(metadata, flow, given)
    if origin.status == "running":
        silent = metadata.now() - (origin.heartbeat_at or 0)
        raise CommandError(f"Run {origin.pathspec} is still running (its runner was heard {silent:.0f} s "
                           f"ago). Wait for it to end, or stop it with Ctrl-C, then resume.")
    return origin


def _latest_of(metadata: MetadataStore, flow: str, user: str) -> RunRecord:
    mine = [r for r in metadata.runs(flow) if f"user:{user}" in r.system_tags]
    if not mine:
        raise CommandError(f"There is no run of {flow} by user {user} to resume. Start one with: run")
    return mine[0]


def _given_run(metadata: MetadataStore, flow: str, given: str) -> RunRecord:
    flow_part, _, id_part = given.rpartition("/")
    if flow_part and flow_part != flow:
        raise CommandError(f"--origin-run-id {given} is a run of flow {flow_part}, not of {flow}. "
                           f"Resume it from that flow's file, or give a run id of {flow}.")
    if not id_part.isdigit() or metadata.run(flow, int(id_part)) is None:
        known = ", ".join(str(r.run_id) for r in metadata.runs(flow)[:10]) or "none"
        raise CommandError(f"--origin-run-id {given}: {flow} has no run {id_part!r}. Its latest runs: {known}.")
    origin = metadata.run(flow, int(id_part))
    assert origin is not None
    return origin


def _open_mirror(options: RunOptions, flow: str, run_id: int, user: str, params: dict[str, Any], origin: str | None,
                 console: Console) -> Any:
    """The run's MLflow mirror (`--mlflow`), or None; imported only then."""
    if options.mlflow is None:
        return None
    import time

    from ..mlflow.mapping import MirroredRun
    from ..mlflow.mirror import open_for_run

    run = MirroredRun(flow, run_id, user, list(options.tags), params, origin, time.time())
    return open_for_run(options.mlflow, run, options.metric_listeners, console)


def _close_mirror(mirror: Any, status: str, scheduler: Scheduler | None) -> None:
    if mirror is not None:
        from ..mlflow.mirror import close_for_run

        close_for_run(mirror, status, scheduler.reused_count + scheduler.cached_count if scheduler else 0)


def _execute(flow_cls: type, graph: FlowGraph, store: ContentStore, metadata: MetadataStore, config: Config,
             run_id: int, params: dict[str, ArtifactRef], options: RunOptions, run_id_file: str | None,
             console: Console, resume: ResumePlan | None = None, code_key: str | None = None,
             mirror: Any = None) -> bool:
    if run_id_file:
        with open(run_id_file, "w") as f:
            f.write(str(run_id))
    pathspec = f"{graph.name}/{run_id}"
    try:
        scheduler = Scheduler(flow_cls, graph, store, metadata, run_id, config.user, params, options, console, resume,
                              code_key)
    except BaseException:  # e.g. the cluster went away between the checks and the run: say so, leave no run "running"
        metadata.finish_run(graph.name, run_id, "failed")
        console.error(f"Run {pathspec} could not start its tasks and is recorded as failed.")
        _close_mirror(mirror, "failed", None)
        raise
    status = "failed"  # what the MLflow mirror is told at the end
    try:
        with console.watching(scheduler.tally, pathspec, options.progress):  # the live view, on a terminal
            ok = scheduler.run()
        status = "succeeded" if ok else "failed"
    except RunnerFailure as failure:
        console.error(failure.message)
        return False
    except KeyboardInterrupt:
        status = "killed"
        console.error(f"Run {pathspec} interrupted: all its tasks were stopped and the run is marked failed. "
                      f"Continue it with: resume --origin-run-id {run_id}")
        raise SystemExit(130)
    finally:
        _close_mirror(mirror, status, scheduler)
    reused = f", {scheduler.reused_count} reused" if scheduler.reused_count else ""
    reused += f", {scheduler.cached_count} from cache" if scheduler.cached_count else ""
    if ok:
        console.info(f"Run {pathspec} succeeded in {console.elapsed():.2f} s ({scheduler.task_count} tasks{reused}). "
                     f"See it with: artiflow show {pathspec}")
        return True
    lines = [f"Run {pathspec} failed after {console.elapsed():.2f} s."]
    for failure in scheduler.failures:
        lines.append(f"  {failure.pathspec}: {failure.exception['type']}: {failure.exception['message']}")
    lines.append("Fix the cause, then continue from the failure with: resume")
    console.error("\n".join(lines))
    return False
