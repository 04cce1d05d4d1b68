"""FlowSpec, @step and what a step sees: artifacts on `self`, `self.next`, foreach context, join inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple, Sequence

from .cli.main import install_excepthook
from .exceptions import InvalidNextError
from .runtime import metrics as _metrics  # only the standard library: log_metric is called often

install_excepthook()  # an artiflow error raised while a flow file loads shows the user's frames, not artiflow's

if TYPE_CHECKING:
    from .datastore import ArtifactRef, ContentStore
    from .graph import FlowGraph
    from .lineage.records import Read

INTERNAL_PREFIX = "_af_"
IMMUTABLE_TYPES = (str, bytes, int, float, bool, complex, type(None), frozenset)


def step(func: Callable) -> Callable:
    """Mark a method of a FlowSpec as a step: a node of the flow's graph."""
    func.is_step = True  # type: ignore[attr-defined]
    func.name = func.__name__  # type: ignore[attr-defined]  # as in Metaflow: `for step in flow: step.name`
    if not hasattr(func, "decorators"):
        func.decorators = []  # type: ignore[attr-defined]
    return func


@dataclass
class Frame:
    """One level of foreach: which split step, over which artifact, and this branch's index."""

    step: str
    var: str
    index: int
    num_splits: int
    ref: ArtifactRef
    unbounded: bool = False   # an unbounded foreach: its length is not shown to the step (None)
    value_key: str | None = None   # this branch's element's content key (known when a cached step needs it)
    producers: tuple[str, ...] = ()  # who first produced the foreach's list (lineage)

    def describe(self) -> dict[str, Any]:
        return {"step": self.step, "var": self.var, "index": self.index, "num_splits": self.num_splits}

    @property
    def shown_splits(self) -> int | None:
        """The number of splits as the step sees it (None for an unbounded foreach, as in Metaflow)."""
        return None if self.unbounded else self.num_splits


class ForeachFrame(NamedTuple):
    """One level of `self._foreach_stack` as Metaflow shows it: step, var, num_splits, index, value."""

    step: str
    var: str
    num_splits: int
    index: int
    value: Any


@dataclass
class Transition:
    """What `self.next` said: the step(s) to run next and how (a foreach, a gang of N tasks)."""

    steps: list[str]
    foreach: str | None = None
    num_parallel: int = 0


@dataclass
class TaskContext:
    """The state behind a flow instance inside a task (or behind one join input)."""

    store: ContentStore
    graph: FlowGraph
    step_name: str
    refs: dict[str, ArtifactRef]                 # artifacts this instance can read, by name
    params: frozenset[str] = frozenset()
    frames: list[Frame] = field(default_factory=list)
    read_only: bool = False
    loaded: dict[str, Any] = field(default_factory=dict)   # values read from refs, by name
    transition: Transition | None = None
    is_join: bool = False
    producers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # who first produced each value (lineage)
    reads: list[Read] = field(default_factory=list)   # what the task read, in order (shared with join inputs)
    _frame_values: dict[int, Any] = field(default_factory=dict)

    def note_read(self, name: str, ref: ArtifactRef) -> None:
        """Record a read of artifact `name` for lineage: a parameter is a root, the rest have producers."""
        from .lineage.records import ARTIFACT, PARAMETER, Read

        kind = PARAMETER if name in self.params else ARTIFACT
        self.reads.append(Read(name, ref.key, self.producers.get(name, ()), kind))

    def frame_value(self, level: int) -> Any:
        """The element of the foreach at `level` that this branch works on (loaded once)."""
        if level not in self._frame_values:
            frame = self.frames[level]
            from .lineage.records import FOREACH, Read

            self.reads.append(Read(frame.var, frame.ref.key, frame.producers, FOREACH))
            items = self.store.load(frame.ref)
            if not hasattr(items, "__getitem__"):
                items = list(items)
            self._frame_values[level] = items[frame.index]
        return self._frame_values[level]


def flow_constants(flow_cls: type) -> dict[str, Any]:
    """The flow's constants: plain class attributes (not steps, methods, properties or parameters).

    As in Metaflow they are artifacts of every task, read-only in every step; `name` (the flow's
    name) is one too.
    """
    found: dict[str, Any] = {"name": flow_cls.__name__}
    for klass in reversed(flow_cls.__mro__):
        if klass is object or klass is FlowSpec or klass.__module__.startswith(("artiflow.", "metaflow.")):
            continue
        for attr, value in vars(klass).items():
            if attr.startswith("_") or callable(value) or _is_descriptor(value):
                found.pop(attr, None)
                continue
            found[attr] = value
    return found


def _is_descriptor(value: Any) -> bool:
    """Parameters, configs, properties, class/static methods: not constants."""
    return hasattr(type(value), "__get__")


class FlowSpec:
    """Base class of a flow: subclass it, write @step methods, and call `MyFlow()` under __main__."""

    _af_ctx: TaskContext | None = None

    def __init__(self, use_cli: bool = True) -> None:
        if use_cli:
            from .cli.flow_cli import run_flow_cli

            run_flow_cli(type(self))

    # -- the flow's structure (Metaflow's names: `for step in flow`, `flow._graph[name].type`) -------
    @property
    def _graph(self) -> FlowGraph:
        """The flow's validated DAG (the running task's, or read from the class's source)."""
        ctx = self._af_ctx
        if ctx is not None:
            return ctx.graph
        cls = type(self)
        graph = cls.__dict__.get("_af_graph_cache")
        if graph is None:
            from .graph import FlowGraph

            graph = FlowGraph.from_flow(cls)
            cls._af_graph_cache = graph  # type: ignore[attr-defined]
        return graph

    def __iter__(self) -> Iterator[Callable]:
        """The flow's steps (bound methods, each with `.name`), in topological order."""
        return iter([getattr(self, node.name) for node in self._graph])

    @property
    def _current_step(self) -> str | None:
        """The name of the step this task runs (None outside a task)."""
        return self._af_ctx.step_name if self._af_ctx is not None else None

    @property
    def _foreach_stack(self) -> list[ForeachFrame]:
        """Every enclosing foreach, outermost first, as Metaflow's frames (step, var, num_splits, index, value)."""
        ctx = self._af_ctx
        if ctx is None:
            return []
        return [ForeachFrame(f.step, f.var, f.shown_splits, f.index, ctx.frame_value(i))
                for i, f in enumerate(ctx.frames)]

    @classmethod
    def _af_instance(cls, ctx: TaskContext) -> FlowSpec:
        """An instance bound to a task's artifacts, made without running the CLI."""
        instance = cls.__new__(cls)
        object.__setattr__(instance, "_af_ctx", ctx)
        return instance

    # -- artifacts ---------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name.startswith(INTERNAL_PREFIX) or self._af_ctx is None:
            raise AttributeError(name)
        return self._af_read_artifact(name)

    def _af_read_artifact(self, name: str) -> Any:
        ctx = self._af_ctx
        if ctx is None:
            raise AttributeError(f"{name!r} is only available while the flow runs")
        if name in ctx.loaded:
            return ctx.loaded[name]
        ref = ctx.refs.get(name)
        if ref is None:
            raise AttributeError(self._af_missing_message(name))
        from .current import current  # names the task in the error if the blob is bad

        value = ctx.store.load(ref, name, current.pathspec)
        ctx.loaded[name] = value
        ctx.note_read(name, ref)
        if name not in ctx.params and not ctx.read_only:
            object.__setattr__(self, name, value)  # a value read may be changed in place: save it again
        return value

    def _af_missing_message(self, name: str) -> str:
        ctx = self._af_ctx
        assert ctx is not None
        visible = sorted(set(ctx.refs) | {k for k in vars(self) if not k.startswith(INTERNAL_PREFIX)})
        where = f"the input from step '{ctx.step_name}'" if ctx.read_only else f"step '{ctx.step_name}'"
        hint = ""
        if ctx.is_join:
            hint = (" In a join, the inputs' artifacts are on inputs[i] (or inputs.<step>), not on self, "
                    "until you assign them or call merge_artifacts.")
        return (f"Artifact '{name}' is not available in {where}. Artifacts it can see: "
                f"{', '.join(visible) or '(none)'}.{hint}")

    def __setattr__(self, name: str, value: Any) -> None:
        ctx = self._af_ctx
        if ctx is not None and ctx.read_only:
            raise AttributeError(
                f"Join inputs are read-only: cannot set '{name}' on the input from step '{ctx.step_name}'. "
                f"Set it on self instead."
            )
        if name.startswith(INTERNAL_PREFIX):
            raise AttributeError(f"Names starting with {INTERNAL_PREFIX!r} are reserved for artiflow: rename '{name}'.")
        if ctx is not None and name in ctx.params:
            raise AttributeError(
                f"'{name}' is read-only: it is a parameter or a constant of the flow (a class attribute), the "
                f"same in every step. Store a changed value under another name, e.g. self.{name}_used = ...")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        """`del self.x`: this task (and the steps after it) no longer carry artifact x."""
        ctx = self._af_ctx
        if ctx is not None and (ctx.read_only or name in ctx.params):
            raise AttributeError(f"Cannot delete '{name}': it is a parameter or belongs to a join input.")
        found = name in vars(self)
        if found:
            object.__delattr__(self, name)
        if ctx is not None and name in ctx.refs:
            del ctx.refs[name]
            ctx.loaded.pop(name, None)
            found = True
        if not found:
            raise AttributeError(self._af_missing_message(name) if ctx is not None else name)

    def _af_assigned(self) -> dict[str, Any]:
        """The values this task has set (or read and may have changed), by artifact name."""
        return {k: v for k, v in vars(self).items() if not k.startswith(INTERNAL_PREFIX)}

    # -- transitions ---------------------------------------------------------------------------------
    def next(self, *targets: Any, foreach: str | None = None, num_parallel: int | None = None,
             condition: str | None = None, **unsupported: Any) -> None:
        """Say which step(s) run after this one.

        `self.next(self.a)`, `self.next(self.a, self.b)` (branches), `foreach="items"` (a task per
        element), `num_parallel=N` (a gang of N tasks), or `self.next({"x": self.a, "y": self.b},
        condition="attr")` (a switch: the arm whose key is the value of self.attr).
        """
        ctx = self._af_ctx
        if ctx is None:
            raise InvalidNextError("self.next() can only be called inside a running step.")
        where = f"Step '{ctx.step_name}'"
        if unsupported:
            raise InvalidNextError(f"{where}: self.next() does not support {', '.join(sorted(unsupported))}.")
        if ctx.transition is not None:
            raise InvalidNextError(f"{where} called self.next() more than once; call it exactly once, at the end.")
        node = ctx.graph[ctx.step_name]
        if condition is not None or (len(targets) == 1 and isinstance(targets[0], dict)):
            ctx.transition = Transition([self._af_switch_target(node, targets, condition)])
            return
        names = [self._af_step_name(target, where) for target in targets]
        declared_parallel = node.num_parallel != 0
        if names != list(node.out) or foreach != node.foreach_var or (num_parallel is not None) != declared_parallel:
            expected = ", ".join(f"self.{n}" for n in node.out)
            if node.foreach_var:
                expected += f', foreach="{node.foreach_var}"'
            if declared_parallel:
                expected += ", num_parallel=..."
            got = ", ".join(f"self.{n}" for n in names) + (f', foreach="{foreach}"' if foreach else "")
            got += ", num_parallel=..." if num_parallel is not None else ""
            raise InvalidNextError(
                f"{where} called self.next({got}) but its code says self.next({expected}) "
                f"(line {node.next_lineno}). The transition taken must be the one the step's last line declares."
            )
        if num_parallel is not None and (isinstance(num_parallel, bool) or not isinstance(num_parallel, int)
                                         or num_parallel < 1):
            raise InvalidNextError(f"{where}: num_parallel must be a whole number of 1 or more, not {num_parallel!r}.")
        ctx.transition = Transition(names, foreach, num_parallel or 0)

    def _af_step_name(self, target: Any, where: str) -> str:
        ctx = self._af_ctx
        assert ctx is not None
        name = getattr(target, "__name__", None)
        if not callable(target) or name not in ctx.graph:
            raise InvalidNextError(f"{where}: self.next() takes steps like self.train, not {target!r}.")
        return name

    def _af_switch_target(self, node: Any, targets: tuple, condition: str | None) -> str:
        """The arm a switch takes: the case whose key equals the value of self.<condition>."""
        where = f"Step '{node.name}'"
        if not node.is_switch or len(targets) != 1 or not isinstance(targets[0], dict) or condition != node.condition:
            raise InvalidNextError(
                f"{where} called self.next() as a switch, but its code (line {node.next_lineno}) declares "
                f"{'a switch on ' + repr(node.condition) if node.is_switch else 'no switch'}; the transition taken "
                "must be the one the step's last line declares.")
        cases = {key: self._af_step_name(target, where) for key, target in targets[0].items()}
        try:
            value = getattr(self, condition)
        except AttributeError:
            raise InvalidNextError(
                f"{where} switches on self.{condition}, but self.{condition} is not set. Assign the case to take "
                f"(one of {', '.join(repr(k) for k in cases)}) before calling self.next.") from None
        if value in cases:
            return cases[value]
        by_text = {str(key): target for key, target in cases.items()}
        if str(value) in by_text:
            return by_text[str(value)]
        raise InvalidNextError(
            f"{where} switches on self.{condition} = {value!r}, which is none of its cases "
            f"({', '.join(repr(k) for k in cases)}). Set self.{condition} to one of them, or add a case.")

    # -- foreach context -----------------------------------------------------------------------------
    @property
    def input(self) -> Any:
        """This branch's element of the innermost foreach (None outside a foreach)."""
        ctx = self._af_ctx
        if ctx is None or not ctx.frames:
            return None
        return ctx.frame_value(len(ctx.frames) - 1)

    @property
    def index(self) -> int | None:
        """This branch's index in the innermost foreach (None outside a foreach)."""
        ctx = self._af_ctx
        if ctx is None or not ctx.frames:
            return None
        return ctx.frames[-1].index

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """(index, num_splits, value) for every enclosing foreach, outermost first."""
        ctx = self._af_ctx
        if ctx is None:
            return []
        return [(f.index, f.shown_splits, ctx.frame_value(i)) for i, f in enumerate(ctx.frames)]

    @property
    def name(self) -> str:
        """The flow's name (its class name)."""
        return type(self).__name__

    @property
    def script_name(self) -> str:
        import os
        import sys

        return os.path.basename(getattr(sys.modules[type(self).__module__], "__file__", "") or "")

    # -- joins ---------------------------------------------------------------------------------------
    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record a metric point of this task: a number (NaN is kept), with an optional integer step.

        Points are buffered in the task and recorded with it, failed attempts included; see docs/metrics.md.
        """
        _metrics.log_metric(name, value, step)

    def merge_artifacts(self, inputs: Inputs, include: Sequence[str] | None = None,
                        exclude: Sequence[str] | None = None) -> None:
        """Carry over every artifact whose value is the same in all inputs that have it (Metaflow's merge)."""
        from .merge import merge_unambiguous

        merge_unambiguous(self, inputs, include or [], exclude or [])


class Inputs(Sequence):
    """The inputs of a join: ordered, indexable, iterable, and `inputs.<step>` for static branches."""

    def __init__(self, items: list[FlowSpec]) -> None:
        self._items = items

    def __getitem__(self, index):  # type: ignore[override]
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[FlowSpec]:
        return iter(self._items)

    def __getattr__(self, name: str) -> FlowSpec:
        if name.startswith("_"):
            raise AttributeError(name)
        for item in self._items:
            if item._af_ctx is not None and item._af_ctx.step_name == name:
                return item
        steps = [i._af_ctx.step_name for i in self._items if i._af_ctx is not None]
        raise AttributeError(f"This join has no input from a step named '{name}'; its inputs come from: {', '.join(steps)}.")

    def __repr__(self) -> str:
        return f"<Inputs of {len(self)}>"
