"""Step decorators: @retry, @catch, @timeout, @resources, @environment, @cache, @batch, @kubernetes.

They only describe a step; the scheduler reads them and decides (retry an attempt, go on after a
caught failure, stop a task over its time). Each can be stacked in any order, above or below
@step, and applied to every step from the command line: `run --with retry:times=2`.
"""

from __future__ import annotations

import ast
from typing import Any, Callable

from .exceptions import ArtiflowException, ExceptionText


class DecoratorError(ArtiflowException):
    headline = "Invalid decorator"


class StepDecorator:
    """A decorator's name and its attributes, checked against the ones it accepts.

    Most decorators only describe a step, and the scheduler reads them. A decorator that must act
    inside the task's own process (render a card, set secrets) overrides the two task hooks, which
    the worker calls around the step with a `TaskHooks` (runtime/hooks.py).
    """

    name = ""
    defaults: dict[str, Any] = {}
    allow_multiple = False  # True: a step may carry several (e.g. @card with different ids)

    def __init__(self, **attributes: Any) -> None:
        unknown = sorted(set(attributes) - set(self.defaults))
        if unknown:
            raise DecoratorError(
                f"@{self.name} does not take {', '.join(unknown)}; it takes: {', '.join(self.defaults) or 'nothing'}."
            )
        self.attributes = {**self.defaults, **attributes}
        self.validate()

    def validate(self) -> None:
        """Check the attributes' values (each decorator says what is allowed)."""

    def task_pre_step(self, hooks: Any) -> None:
        """Called in the task's process before the step runs (after `current` is set)."""

    def task_post_step(self, hooks: Any, ok: bool) -> None:
        """Called in the task's process after the step, whether it raised (`ok` False) or not."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["attributes"][key]
        except KeyError:
            raise AttributeError(key) from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.attributes.items())
        return f"@{self.name}({args})"


def _non_negative_number(deco: StepDecorator, key: str) -> None:
    value = deco.attributes[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise DecoratorError(f"@{deco.name}({key}=...) must be a number of 0 or more, not {value!r}.")


class RetryDecorator(StepDecorator):
    """Run a failed task again, up to `times` more attempts; at once locally, as in Metaflow.

    `minutes_between_retries` waits between attempts only when given explicitly.
    """

    name = "retry"
    defaults = {"times": 3, "minutes_between_retries": None}

    def validate(self) -> None:
        _non_negative_number(self, "times")
        if self.attributes["minutes_between_retries"] is not None:
            _non_negative_number(self, "minutes_between_retries")
        if int(self.attributes["times"]) != self.attributes["times"]:
            raise DecoratorError(f"@retry(times=...) must be a whole number, not {self.attributes['times']!r}.")


class CatchDecorator(StepDecorator):
    """When a step still fails after its retries, store the error in `var` and let the run go on."""

    name = "catch"
    defaults = {"var": None, "print_exception": True}

    def validate(self) -> None:
        var = self.attributes["var"]
        if var is not None and (not isinstance(var, str) or not var.isidentifier()):
            raise DecoratorError(f"@catch(var=...) must name an artifact (an identifier), not {var!r}.")


class TimeoutDecorator(StepDecorator):
    """Stop a task (and everything it started) after seconds + minutes + hours."""

    name = "timeout"
    defaults = {"seconds": 0, "minutes": 0, "hours": 0}

    def validate(self) -> None:
        for key in self.defaults:
            _non_negative_number(self, key)
        if self.limit <= 0:
            raise DecoratorError("@timeout needs a limit above 0: give seconds=, minutes= or hours=.")

    @property
    def limit(self) -> float:
        a = self.attributes
        return float(a["seconds"]) + 60.0 * float(a["minutes"]) + 3600.0 * float(a["hours"])


RESOURCE_KEYS = ("cpu", "memory", "gpu")  # what a cluster can reserve for a step (memory in MB)


class ClusterResources(StepDecorator):
    """A decorator that says what a step needs on a cluster: only the cpu, memory and gpu written count.

    An unwritten value is not asked for (a cluster whose workers offer less memory than Metaflow's
    default of 4096 MB still runs a step that only says cpu=2). Locally nothing is reserved.
    """

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)
        self.__dict__["given"] = frozenset(k for k in attributes if k in RESOURCE_KEYS)

    def validate(self) -> None:
        for key in RESOURCE_KEYS:
            value = self.attributes[key]
            if value is None:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = -1.0
            if isinstance(value, bool) or number < 0:
                raise DecoratorError(f"@{self.name}({key}=...) must be a number of 0 or more, not {value!r}.")

    def requested(self) -> dict[str, float]:
        """The resources written on the step: {"cpu": n, "memory": MB, "gpu": n} (unwritten or None ones left out)."""
        given = self.__dict__.get("given", frozenset())
        return {key: float(self.attributes[key]) for key in RESOURCE_KEYS
                if key in given and self.attributes[key] is not None}


class ResourcesDecorator(ClusterResources):
    """What a step needs on a cluster (cpu, memory in MB, gpu): reserved on a Dask worker, not enforced locally."""

    name = "resources"
    defaults = {"cpu": 1, "memory": 4096, "gpu": None, "disk": None, "shared_memory": None}


class BatchDecorator(ClusterResources):
    """Run the step on the Dask cluster (--dask-scheduler / ARTIFLOW_DASK_SCHEDULER) with these resources.

    Metaflow's @batch runs a step on AWS Batch; artiflow runs it on a Dask worker instead, reserving
    cpu, memory (MB) and gpu there as @resources does. Every other argument (image, queue, IAM roles,
    volumes, tmpfs, swap, tags, ...) is accepted so that Metaflow flows run unchanged, and ignored: they
    configure AWS Batch containers, and a Dask worker runs the step in the environment it was started in.
    """

    name = "batch"
    defaults = {"cpu": 1, "memory": 4096, "gpu": None, "image": None, "queue": None, "iam_role": None,
                "execution_role": None, "shared_memory": None, "max_swap": None, "swappiness": None,
                "aws_batch_tags": None, "use_tmpfs": False, "tmpfs_tempdir": True, "tmpfs_size": None,
                "tmpfs_path": None, "inferentia": None, "trainium": None, "efa": None, "ephemeral_storage": None,
                "log_driver": None, "log_options": None, "host_volumes": None, "efs_volumes": None,
                "privileged": None, "offload_command_to_s3": False}


class KubernetesDecorator(ClusterResources):
    """Run the step on the Dask cluster (--dask-scheduler / ARTIFLOW_DASK_SCHEDULER) with these resources.

    Metaflow's @kubernetes runs a step in a Kubernetes pod; artiflow runs it on a Dask worker instead,
    reserving cpu, memory (MB) and gpu there as @resources does. The pod settings (image, namespace,
    service account, secrets, node selector, tolerations, volumes, labels, ...) are accepted so that
    Metaflow flows run unchanged, and ignored: a Dask worker runs the step in the environment it was started in.
    """

    name = "kubernetes"
    defaults = {"cpu": 1, "memory": 4096, "disk": None, "gpu": None, "gpu_vendor": None, "image": None,
                "image_pull_policy": None, "image_pull_secrets": None, "service_account": None, "secrets": None,
                "node_selector": None, "namespace": None, "tolerations": None, "labels": None, "annotations": None,
                "use_tmpfs": False, "tmpfs_tempdir": True, "tmpfs_size": None, "tmpfs_path": None,
                "persistent_volume_claims": None, "shared_memory": None, "port": None, "compute_pool": None,
                "hostname_resolution_timeout": None, "qos": None, "security_context": None}


REMOTE_DECORATORS = (BatchDecorator.name, KubernetesDecorator.name)  # a step with one of them runs on the cluster


def cluster_resources(decorators: dict[str, StepDecorator]) -> dict[str, float]:
    """What a step asks of a cluster: for each of cpu, memory, gpu the largest of its decorators' written values."""
    asked: dict[str, float] = {}
    for deco in decorators.values():
        if isinstance(deco, ClusterResources):
            for key, value in deco.requested().items():
                asked[key] = max(asked.get(key, 0.0), value)
    return asked


class EnvironmentDecorator(StepDecorator):
    """Environment variables set for the step's task."""

    name = "environment"
    defaults = {"vars": {}}

    def validate(self) -> None:
        if not isinstance(self.attributes["vars"], dict):
            raise DecoratorError("@environment(vars=...) must be a dict of names to values.")


class ParallelDecorator(StepDecorator):
    """The step runs as a gang of `num_parallel` tasks started together (`current.parallel` tells each its place)."""

    name = "parallel"


class CacheDecorator(StepDecorator):
    """Reuse an earlier task's artifacts when the step's code, inputs and environment are unchanged.

    `version` invalidates the cache by hand (any string or number); `enabled=False` opts a step out
    of `run --cache`. See docs/caching.md for what the key covers.
    """

    name = "cache"
    defaults = {"version": None, "enabled": True}

    def validate(self) -> None:
        version, enabled = self.attributes["version"], self.attributes["enabled"]
        if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int, float))):
            raise DecoratorError(f"@cache(version=...) is a string or a number you change to invalidate the cache, "
                                 f"e.g. @cache(version=\"2\"), not {version!r}.")
        if not isinstance(enabled, bool):
            raise DecoratorError(f"@cache(enabled=...) is True or False, not {enabled!r}.")


class UnboundedTestForeachDecorator(StepDecorator):
    """Metaflow's test stand-in for an unbounded foreach: the step gets a control task besides its mappers."""

    name = "unbounded_test_foreach_internal"


DECORATORS: dict[str, type[StepDecorator]] = {
    cls.name: cls for cls in (RetryDecorator, CatchDecorator, TimeoutDecorator, ResourcesDecorator, EnvironmentDecorator,
                              ParallelDecorator, UnboundedTestForeachDecorator, CacheDecorator, BatchDecorator,
                              KubernetesDecorator)
}


def _attach(func: Callable, decorator: StepDecorator) -> Callable:
    existing = getattr(func, "step_decorators", None)
    if existing is None:
        existing = {}
        func.step_decorators = existing  # type: ignore[attr-defined]
    if decorator.allow_multiple:
        extra = getattr(func, "repeated_decorators", None)
        if extra is None:
            extra = []
            func.repeated_decorators = extra  # type: ignore[attr-defined]
        extra.insert(0, decorator)  # decorators apply bottom-up: keep them in the order written
        return func
    if decorator.name in existing:
        return _defer(func, DecoratorError(f"@{decorator.name} is applied twice; keep one."))
    existing[decorator.name] = decorator
    return func


def _defer(func: Callable, error: DecoratorError) -> Callable:
    """Keep a decorator mistake on the step, to be reported with its file:line when the flow is checked."""
    errors = getattr(func, "decorator_errors", None)
    if errors is None:
        errors = []
        func.decorator_errors = errors  # type: ignore[attr-defined]
    errors.append(error)
    return func


def _make(cls: type[StepDecorator]) -> Callable:
    def decorate(*args: Any, **attributes: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not attributes:
            return _attach(args[0], cls())
        if args:
            given = ", ".join(map(repr, args))
            error = DecoratorError(f"Write @{cls.name}(name=value, ...) with keyword arguments, not {given}.")
            return lambda f: _defer(f, error)
        if _uses_configs(attributes):
            return lambda f: _wait_for_configs(f, cls, attributes)
        try:
            instance = cls(**attributes)
        except DecoratorError as exc:
            mistake = exc  # `exc` is unbound after the except block; the lambda needs it later
            return lambda f: _defer(f, mistake)
        return lambda f: _attach(f, instance)

    decorate.__name__ = cls.name
    decorate.__doc__ = cls.__doc__
    return decorate


def _uses_configs(attributes: dict[str, Any]) -> bool:
    from .configs import is_deferred

    return is_deferred(attributes)


def _wait_for_configs(func: Callable, cls: type[StepDecorator], attributes: dict[str, Any]) -> Callable:
    """Keep a decorator written with config expressions; `resolve_step_decorators` makes it when they are known."""
    func.__dict__.setdefault("config_decorators", []).insert(0, (cls, attributes))
    return func


def resolve_step_decorators(func: Callable, evaluate: Callable[[Any], Any]) -> None:
    """Make the step's decorators that waited for the configs (`evaluate` resolves their attributes)."""
    for made in func.__dict__.pop("_af_config_made", []):  # made by an earlier resolution: replace them
        if func.step_decorators.get(made.name) is made:
            del func.step_decorators[made.name]
        if made in getattr(func, "repeated_decorators", []):
            func.repeated_decorators.remove(made)
    errors = func.__dict__.setdefault("decorator_errors", [])
    errors[:] = [e for e in errors if not getattr(e, "_af_from_configs", False)]
    made_now = []
    for cls, attributes in getattr(func, "config_decorators", []):
        count = len(errors)
        try:
            instance = cls(**evaluate(attributes))
        except ArtiflowException as exc:
            errors.append(DecoratorError(f"@{cls.name} with config values: {exc.message}"))
        else:
            _attach(func, instance)
            made_now.append(instance)
        for error in errors[count:]:
            error._af_from_configs = True  # type: ignore[attr-defined]
    func._af_config_made = made_now  # type: ignore[attr-defined]


parallel = _make(ParallelDecorator)
unbounded_test_foreach_internal = _make(UnboundedTestForeachDecorator)
retry = _make(RetryDecorator)
catch = _make(CatchDecorator)
timeout = _make(TimeoutDecorator)
resources = _make(ResourcesDecorator)
batch = _make(BatchDecorator)
kubernetes = _make(KubernetesDecorator)
environment = _make(EnvironmentDecorator)
cache = _make(CacheDecorator)


def parse_with(spec: str) -> StepDecorator:
    """`retry` or `retry:times=2,minutes_between_retries=0` (from `run --with ...`) → a decorator."""
    name, _, rest = spec.partition(":")
    cls = DECORATORS.get(name.strip())
    if cls is None:
        raise DecoratorError(f"--with {spec}: unknown decorator '{name}'; known: {', '.join(sorted(DECORATORS))}.")
    attributes: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, raw = item.partition("=")
        if not eq:
            raise DecoratorError(f"--with {spec}: expected name=value, got {item!r}.")
        try:
            attributes[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            attributes[key.strip()] = raw.strip()
    return cls(**attributes)


def check_decorators(flow_cls: type, graph: Any) -> None:
    """Report the first decorator mistake of the flow or of any step, with its file:line."""
    from .flow_decorators import check_flow_decorators

    check_flow_decorators(flow_cls, graph.file)
    for node in graph:
        errors = getattr(getattr(flow_cls, node.name), "decorator_errors", None)
        if errors:
            raise DecoratorError(f"Step '{node.name}' at {node.file}:{node.func_lineno}: {errors[0].message}",
                                 node.func_lineno)


def step_decorators(flow_cls: type, step_name: str, with_all: list[StepDecorator] = ()) -> dict[str, StepDecorator]:
    """The decorators of one step: its own, plus those given with --with (its own win).

    Decorators that may be repeated (allow_multiple) are not here: see `repeated_decorators`.
    """
    func = getattr(flow_cls, step_name)
    own = dict(getattr(func, "step_decorators", {}))
    for deco in with_all:
        if not deco.allow_multiple:
            own.setdefault(deco.name, deco)
    return own


def all_step_decorators(flow_cls: type, step_name: str, with_all: list[StepDecorator] = ()) -> list[StepDecorator]:
    """Every decorator of one step, repeated ones included, in the order written (for the task hooks)."""
    func = getattr(flow_cls, step_name)
    repeated = list(getattr(func, "repeated_decorators", []))
    names = {d.name for d in repeated}
    repeated += [d for d in with_all if d.allow_multiple and d.name not in names]
    return [*step_decorators(flow_cls, step_name, with_all).values(), *repeated]


class CaughtException(ExceptionText):
    """What @catch stores in its artifact, as Metaflow does: `.type` (`module.Class`), `.exception`
    (the message), `.stacktrace`; `str()` is the traceback. Text only, so it always unpickles."""

    def __init__(self, type: str, message: str, traceback: str) -> None:
        self.type = type
        self.message = message
        self.traceback = traceback

    def __str__(self) -> str:
        return self.traceback or f"{self.type}: {self.message}"

    def __repr__(self) -> str:
        return f"<CaughtException {self.type}: {self.message}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CaughtException) and vars(self) == vars(other)


from .cards import decorator as _card_decorator  # noqa: E402,F401 - registers @card (it subclasses StepDecorator)
from . import secrets as _secrets  # noqa: E402,F401 - registers @secrets (it subclasses StepDecorator)
