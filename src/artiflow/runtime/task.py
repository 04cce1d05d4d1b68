"""Run one task in this process: build the flow instance, call the step, store its artifacts.

This is the worker side: it decides nothing about the run, it executes one TaskSpec and returns a
TaskResult. A user's exception is caught and returned, with only the user's own frames.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING, Any, Iterator

from ..current import current
from ..datastore import ArtifactRef, ContentStore
from ..datastore.preview import PreviewCollector  # imported here, so that forked tasks find it loaded
from ..decorators import CaughtException
from ..exceptions import ArtiflowException, TimeoutException, qualified_type_name
from ..flow_decorators import project_info
from ..parameters import flow_parameters
from ..flowspec import IMMUTABLE_TYPES, FlowSpec, Inputs, TaskContext, Transition
from ..graph import FlowGraph
from ..lineage.reads import start_recording, stop_recording
from . import metrics
from .hooks import TaskHooks
from .spec import TaskResult, TaskSpec

if TYPE_CHECKING:
    from ..decorators import StepDecorator

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_task(flow_cls: type[FlowSpec], graph: FlowGraph, spec: TaskSpec, store: ContentStore,
             decorators: list[StepDecorator] = ()) -> TaskResult:
    """Execute a task and return its result; never raises for a user error.

    `decorators` are the step's decorators: their task hooks run around the step, in this process.
    A step that raises keeps the artifacts it set (for debugging); on its last attempt under @catch
    the error is stored instead and the task succeeds, as in Metaflow. Whatever the outcome, the
    result carries the metric points the attempt logged, and a preview of each value it saved.
    """
    metrics.open_log(spec.step, spec.metrics_spill)
    outer = store.previews  # a task run in its runner's process gives the runner's collector back after
    store.previews = PreviewCollector()
    try:
        result = _run_task(flow_cls, graph, spec, store, decorators)
    finally:
        points = metrics.close_log()
        previews = store.take_previews()
        store.previews = outer
    result.metrics = points
    result.previews = previews
    return result


def _run_task(flow_cls: type[FlowSpec], graph: FlowGraph, spec: TaskSpec, store: ContentStore,
              decorators: list[StepDecorator]) -> TaskResult:
    _set_current(flow_cls, spec)
    os.environ.update(spec.env)
    flow: FlowSpec | None = None
    hooks: TaskHooks | None = None
    try:
        flow = flow_cls._af_instance(_task_context(graph, spec, store))
        start_recording(flow._af_ctx.reads)  # type: ignore[union-attr]  # client reads inside the step count
        hooks = TaskHooks(flow, spec, store, graph)
        for deco in decorators:
            deco.task_pre_step(hooks)
        try:
            with _time_limit(spec.timeout, spec.step):
                _call_step(flow, spec, store, graph)
            result = _finish(flow, spec, graph)
        except BaseException:
            stop_recording()
            for deco in decorators:
                deco.task_post_step(hooks, False)
            raise
        stop_recording()  # what the hooks read (a card's artifacts) is not the step's
        for deco in decorators:
            deco.task_post_step(hooks, True)
        result.metadata = hooks.metadata
        return result
    except BaseException as exc:  # noqa: BLE001 - everything a step raises is reported, not re-raised
        if isinstance(exc, KeyboardInterrupt):
            raise
        info = describe_exception(exc)
        metadata = hooks.metadata if hooks is not None else []
        if flow is not None and spec.catch is not None:
            caught = _caught(flow, spec, graph, info)
            if caught is not None:
                caught.metadata = metadata
                return caught
        sys.stderr.write(info["traceback"])
        sys.stderr.flush()
        artifacts = salvage_artifacts(flow) if flow is not None else {}
        reads = list(flow._af_ctx.reads) if flow is not None and flow._af_ctx is not None else []
        return TaskResult(ok=False, exception=info, artifacts=artifacts, metadata=metadata, reads=reads)


@contextlib.contextmanager
def _time_limit(seconds: float, step: str) -> Iterator[None]:
    """Raise TimeoutException in the step after `seconds` (the runner kills the task if that is ignored)."""
    if not seconds:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutException(f"Step '{step}' ran longer than its @timeout of {seconds:g} s and was stopped.")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _caught(flow: FlowSpec, spec: TaskSpec, graph: FlowGraph, info: dict[str, Any]) -> TaskResult | None:
    """@catch on the last attempt: the artifacts set so far plus the error in `var`; the run goes on."""
    assert spec.catch is not None
    node = graph[spec.step]
    next_steps = list(node.out)
    if node.is_switch:
        try:
            next_steps = [node.switch_cases[getattr(flow, node.condition)]]
        except (AttributeError, KeyError, TypeError):
            return None  # no arm to take: the task fails
    if spec.catch.print_exception:
        sys.stderr.write(info["traceback"])
        sys.stderr.write("@catch stored this error" + (f" in self.{spec.catch.var}" if spec.catch.var else "")
                         + "; the run goes on.\n")
        sys.stderr.flush()
    artifacts = salvage_artifacts(flow)
    if spec.catch.var:
        record = CaughtException(info["qualified_type"], info["message"], info["traceback"])
        artifacts[spec.catch.var] = flow._af_ctx.store.save(spec.catch.var, record)  # type: ignore[union-attr]
    return TaskResult(ok=True, artifacts=artifacts, next_steps=next_steps, exception=info, caught=True,
                      reads=list(flow._af_ctx.reads))  # type: ignore[union-attr]


def salvage_artifacts(flow: FlowSpec) -> dict[str, ArtifactRef]:
    """What a failed task set, stored as far as it can be (a value that cannot be stored is left out)."""
    ctx = flow._af_ctx
    assert ctx is not None
    saved = {name: ref for name, ref in ctx.refs.items()}
    for name, value in flow._af_assigned().items():
        try:
            saved[name] = ctx.store.save(name, value)
        except Exception:  # noqa: BLE001 - the task failed already; keep what can be kept
            saved.pop(name, None)
    return saved


def _set_current(flow_cls: type, spec: TaskSpec) -> None:
    project = project_info(flow_cls, spec.user)
    project.pop("tags", None)
    current._set(**project,
        flow_name=spec.flow_name, run_id=str(spec.run_id), step_name=spec.step, task_id=str(spec.task_id),
        pathspec=spec.pathspec, retry_count=spec.attempt, username=spec.user, namespace=f"user:{spec.user}",
        tags=list(spec.tags), parameter_names=sorted(n for n in flow_parameters(flow_cls) if n in spec.params),
        origin_run_id=None if spec.origin_run_id is None else str(spec.origin_run_id),
        parallel=_parallel(spec),
    )


def _parallel(spec: TaskSpec) -> Any:
    """`current.parallel` (num_nodes, node_index, main_ip, control_task_id) in a @parallel gang, else None."""
    if spec.parallel is None:
        return None
    from ..current import Parallel

    info = spec.parallel
    return Parallel(main_ip=info.main_ip, num_nodes=info.num_nodes, node_index=info.node_index,
                    control_task_id=info.control_task_id)


def _task_context(graph: FlowGraph, spec: TaskSpec, store: ContentStore) -> TaskContext:
    refs = dict(spec.params)
    producers: dict[str, tuple[str, ...]] = {}
    if not spec.is_join and spec.inputs:
        refs.update(spec.inputs[0].artifacts)
        producers = dict(spec.inputs[0].producers)
    return TaskContext(store=store, graph=graph, step_name=spec.step, refs=refs, params=frozenset(spec.params),
                       frames=list(spec.frames), is_join=spec.is_join, producers=producers)


def _join_inputs(flow: FlowSpec, spec: TaskSpec, store: ContentStore, graph: FlowGraph) -> Inputs:
    items = []
    reads = flow._af_ctx.reads if flow._af_ctx is not None else []  # an input's reads are the join's
    for parent in spec.inputs:
        ctx = TaskContext(store=store, graph=graph, step_name=parent.step, refs={**spec.params, **parent.artifacts},
                          params=frozenset(spec.params), frames=list(parent.frames), read_only=True,
                          producers=dict(parent.producers), reads=reads)
        items.append(type(flow)._af_instance(ctx))
    return Inputs(items)


def _call_step(flow: FlowSpec, spec: TaskSpec, store: ContentStore, graph: FlowGraph) -> None:
    method = getattr(flow, spec.step)
    if spec.is_join:
        method(_join_inputs(flow, spec, store, graph))
    else:
        method()


def _finish(flow: FlowSpec, spec: TaskSpec, graph: FlowGraph) -> TaskResult:
    ctx = flow._af_ctx
    assert ctx is not None
    node = graph[spec.step]
    if ctx.transition is None and node.out and spec.parallel is not None and spec.parallel.node_index > 0:
        ctx.transition = Transition(list(node.out))  # a gang's worker may leave self.next to the control task
    if ctx.transition is None and node.out:
        raise ArtiflowException(
            f"Step '{spec.step}' ended without calling self.next(...). Every path through a step other than "
            f"'end' must end with self.next (line {node.next_lineno} is the declared one)."
        )
    transition = ctx.transition or Transition([])
    foreach_var = transition.foreach
    num_splits = _count_splits(flow, spec.step, foreach_var) if foreach_var else transition.num_parallel
    split_keys = element_keys(ctx.store, getattr(flow, foreach_var)) if foreach_var and spec.split_keys else []
    artifacts = persist_artifacts(flow, ctx)
    return TaskResult(ok=True, artifacts=artifacts, next_steps=transition.steps, foreach_var=foreach_var,
                      num_splits=num_splits, num_parallel=transition.num_parallel, reads=list(ctx.reads),
                      split_keys=split_keys)


def element_keys(store: ContentStore, items: Any) -> list[str]:
    """The content key of each element of a foreach's list, so that a cached step keys on its own element only.

    An element that cannot be serialized gets an empty key: its task is never a cache hit.
    """
    keys = []
    for item in items:
        try:
            keys.append(store.key_of(item))
        except Exception:  # noqa: BLE001 - the element still runs; it is only never cached
            keys.append("")
    return keys


def _count_splits(flow: FlowSpec, step_name: str, var: str) -> int:
    try:
        value = getattr(flow, var)
    except AttributeError:
        hint = (" A join passes on only what it assigns or merges: set it in the join (e.g. with "
                "self.merge_artifacts(inputs))." if flow._af_ctx is not None and flow._af_ctx.is_join else "")
        raise ArtiflowException(
            f"Step '{step_name}' says foreach=\"{var}\" but self.{var} is not set. Assign the list to iterate over "
            f"to self.{var} before calling self.next.{hint}"
        ) from None
    try:
        return len(value)
    except TypeError:
        raise ArtiflowException(
            f"Step '{step_name}': foreach=\"{var}\" needs a list-like value with a length, but self.{var} is a "
            f"{type(value).__name__}. Convert it, e.g. self.{var} = list(...)."
        ) from None


def persist_artifacts(flow: FlowSpec, ctx: TaskContext) -> dict[str, ArtifactRef]:
    """Store what the task set; pass what it never touched on by reference."""
    saved: dict[str, ArtifactRef] = {}
    assigned = flow._af_assigned()
    for name, ref in ctx.refs.items():
        if name not in assigned:
            saved[name] = ref
    with ctx.store.batch():  # the task's new blobs are made durable together, before it reports success
        for name, value in assigned.items():
            unchanged = name in ctx.loaded and ctx.loaded[name] is value and isinstance(value, IMMUTABLE_TYPES)
            saved[name] = ctx.refs[name] if unchanged else ctx.store.save(name, value)
    return saved


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """Type, message and a traceback of the user's frames only (our own frames are noise to them)."""
    every = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in every if not f.filename.startswith(PACKAGE_DIR)]
    raised_by_us = bool(every) and every[-1].filename.startswith(PACKAGE_DIR)
    if isinstance(exc, ArtiflowException) and raised_by_us:  # our message says what to do; the user's line says where
        last = frames[-1] if frames else None
        where = f'  at File "{last.filename}", line {last.lineno}, in {last.name}\n' if last else ""
        body = f"{exc.headline}: {exc.message}\n{where}"
    else:
        trace = ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
        body = "".join(trace + traceback.format_exception_only(type(exc), exc))
    return {"type": type(exc).__name__, "qualified_type": qualified_type_name(type(exc)), "message": str(exc),
            "traceback": body}
