"""The per-flow command line: `python flow.py [options] run|check|show|dump|logs`."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..decorators import parse_with
from ..exceptions import CommandError, shown
from ..parameters import flow_parameters
from ..runtime.executors import EXECUTORS
from ..runtime.scheduler import RunOptions
from .errors import friendly_errors, report
from .params import parameter_options, parameter_values

SUPPORTED = {"metadata": ("local",), "datastore": ("local", "s3"), "environment": ("local",)}


def _check_supported(option: str, value: str | None) -> None:
    if value is not None and value not in SUPPORTED[option]:
        raise CommandError(
            f"--{option}={value} is not supported by this version of artiflow; supported: "
            f"{', '.join(SUPPORTED[option])}. Drop the option to use the default."
        )


def build_cli(flow_cls: type) -> click.Group:
    """A click group for one flow class, with its Parameters as options of `run`."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]}, help=flow_cls.__doc__)
    @click.option("--quiet", is_flag=True, help="Show only the tasks' own output and errors.")
    @click.option("--no-pylint", "no_pylint", is_flag=True, hidden=True, help="Accepted for Metaflow habits.")
    @click.option("--pylint", is_flag=True, hidden=True)
    @click.option("--metadata", default=None, help="Metadata provider: local (the default).")
    @click.option("--datastore", default=None, help="Datastore: local, or s3 (its root from --datastore-root, "
                  "ARTIFLOW_DATASTORE_ROOT or METAFLOW_DATATOOLS_S3ROOT). Default: as ARTIFLOW_DATASTORE_ROOT says.")
    @click.option("--datastore-root", default=None, help="Where artifact blobs go: a folder or s3://bucket/prefix "
                  "(ARTIFLOW_DATASTORE_ROOT).")
    @click.option("--environment", default=None, help="Environment: local (the default).")
    @click.option("--event-logger", default=None, hidden=True)
    @click.option("--monitor", default=None, hidden=True)
    @click.option("--config", "config_files", nargs=2, multiple=True, metavar="NAME PATH",
                  help="Read the flow's Config NAME from the file PATH (repeatable; env: METAFLOW_FLOW_CONFIG).")
    @click.option("--config-value", "config_texts", nargs=2, multiple=True, metavar="NAME VALUE",
                  help="Give the flow's Config NAME as text, JSON by default (repeatable; env: "
                       "METAFLOW_FLOW_CONFIG_VALUE).")
    @click.option("--branch", default=None, envvar=["ARTIFLOW_BRANCH", "METAFLOW_BRANCH"],
                  help="@project branch to run in: test.<branch> (prod.<branch> with --production).")
    @click.option("--production", is_flag=True, envvar=["ARTIFLOW_PRODUCTION", "METAFLOW_PRODUCTION"],
                  help="Run in the @project's production branch.")
    @click.pass_context
    @friendly_errors
    def cli(ctx: click.Context, quiet: bool, no_pylint: bool, pylint: bool, metadata: str | None,
            datastore: str | None, datastore_root: str | None, environment: str | None,
            event_logger: str | None, monitor: str | None, config_files: tuple, config_texts: tuple,
            branch: str | None, production: bool) -> None:
        from ..flow_decorators import set_project_branch

        _check_supported("metadata", metadata)
        _check_supported("datastore", datastore)
        if datastore is not None:
            from ..config import find_root
            from ..datastore.roots import root_for_choice

            datastore_root = root_for_choice(datastore, datastore_root, find_root())
        _check_supported("environment", environment)
        set_project_branch(flow_cls, branch, production)
        ctx.obj = {"flow_cls": flow_cls, "quiet": quiet, "datastore_root": datastore_root,
                   "config_files": config_files, "config_texts": config_texts}
        if datastore_root:  # so that dump, logs and the tasks' own client reads look there too
            os.environ["ARTIFLOW_DATASTORE_ROOT"] = datastore_root

    cli.add_command(_run_command(flow_cls))
    cli.add_command(_resume_command())
    cli.add_command(check)
    cli.add_command(show)
    cli.add_command(dump)
    cli.add_command(logs)
    cli.add_command(__import__("artiflow.cli.tags", fromlist=["tag_group"]).tag_group)
    cli.add_command(__import__("artiflow.cards.cli", fromlist=["card_group"]).card_group)
    return cli


def _graph(ctx: click.Context, configs: dict[str, Any] | None = None):
    """The flow's graph, validated, with its configs applied and its step decorators checked too."""
    from ..configs import apply_configs
    from ..decorators import check_decorators
    from ..graph import RESERVED_NAMES, FlowGraph
    from ..parameters import check_parameters

    graph = FlowGraph.from_flow(ctx.obj["flow_cls"])
    apply_configs(ctx.obj["flow_cls"], _configs(ctx) if configs is None else configs)
    check_decorators(ctx.obj["flow_cls"], graph)
    check_parameters(ctx.obj["flow_cls"], {node.name for node in graph}, set(RESERVED_NAMES))
    return graph


def _configs(ctx: click.Context) -> dict[str, Any]:
    """The flow's config values from --config / --config-value, the environment and the defaults."""
    from ..config import current_user
    from ..configs import flow_configs, load_configs, parse_options

    flow_cls = ctx.obj["flow_cls"]
    declared = flow_configs(flow_cls)
    paths = parse_options(ctx.obj["config_files"], "--config", declared)
    texts = parse_options(ctx.obj["config_texts"], "--config-value", declared)
    return load_configs(flow_cls, paths, texts, current_user())


def _common_options() -> list[click.Option]:
    """Options shared by `run` and `resume`."""
    return [
        click.Option(["--tag"], multiple=True, help="Tag the run (repeatable)."),
        click.Option(["--max-workers"], type=click.IntRange(min=1), default=16, show_default=True,
                     help="How many tasks run at once."),
        click.Option(["--max-num-splits"], type=click.IntRange(min=1), default=100, show_default=True,
                     help="The most tasks one foreach may make."),
        click.Option(["--run-id-file"], type=click.Path(dir_okay=False), default=None,
                     help="Write the run id to this file as soon as it is known."),
        click.Option(["--with", "with_"], multiple=True, metavar="DECORATOR[:k=v,...]",
                     help="Apply a decorator to every step, e.g. --with retry or --with timeout:seconds=60."),
        click.Option(["--executor"], type=click.Choice(EXECUTORS), default="local", show_default=True,
                     help="Where tasks run: local processes, or the workers of a Dask cluster (needs an S3 "
                          "datastore and --dask-scheduler)."),
        click.Option(["--dask-scheduler"], default=None, envvar="ARTIFLOW_DASK_SCHEDULER", metavar="tcp://HOST:PORT",
                     help="The Dask scheduler to run tasks on (ARTIFLOW_DASK_SCHEDULER)."),
        click.Option(["--no-progress"], is_flag=True, help="No live progress view on a terminal: plain lines, as "
                     "into a file (also ARTIFLOW_PROGRESS=0)."),
        click.Option(["--mlflow/--no-mlflow"], default=None, help="Mirror the run to MLflow (an MLflow run with its "
                     "parameters, tags and metrics) at --mlflow-tracking-uri. Default: when a tracking URI is set."),
        click.Option(["--mlflow-tracking-uri"], default=None, metavar="URI", help="The MLflow tracking server, e.g. "
                     "http://127.0.0.1:5000 (ARTIFLOW_MLFLOW_TRACKING_URI; giving one turns mirroring on)."),
        click.Option(["--mlflow-experiment"], default=None, metavar="NAME", help="The MLflow experiment of the run "
                     "(ARTIFLOW_MLFLOW_EXPERIMENT; default: the flow's name)."),
        click.Option(["--cache/--no-cache"], default=None, help="--cache: cache every step (a task whose code, inputs "
                     "and packages are unchanged reuses an earlier task's artifacts; a step with @cache(enabled=False) "
                     "never is). --no-cache: run every step, @cache ones too. Default: only @cache steps are cached."),
    ]


def _run_command(flow_cls: type) -> click.Command:
    from ..parameters import check_parameter_names

    check_parameter_names(flow_cls)
    params = flow_parameters(flow_cls)
    return click.Command(
        "run",
        callback=click.pass_context(friendly_errors(_run)),
        help="Run the flow: every step, every task, every artifact stored.",
        params=[*(o for attr, p in params.items() for o in parameter_options(attr, p)), *_common_options()],
    )


def _resume_command() -> click.Command:
    return click.Command(
        "resume",
        callback=click.pass_context(friendly_errors(_resume)),
        help="Run again from a failure (or from STEP), reusing the earlier run's successful tasks before it.",
        params=[
            click.Argument(["step"], required=False),
            click.Option(["--origin-run-id"], default=None,
                         help="The run to resume (default: your latest run of this flow)."),
            *_common_options(),
        ],
    )


def _options(ctx: click.Context, tag: tuple[str, ...], max_workers: int, max_num_splits: int,
             with_: tuple[str, ...], cache: bool | None = None, executor: str = "local",
             dask_scheduler: str | None = None, no_progress: bool = False) -> RunOptions:
    from ..runtime.progress import progress_setting

    for t in tag:
        if not t.strip() or len(t) > 500:
            raise CommandError(f"Invalid --tag {t!r}: a tag is 1 to 500 characters, not only spaces.")
    return RunOptions(max_workers=max_workers, max_num_splits=max_num_splits, tags=list(tag),
                      quiet=ctx.obj["quiet"], with_decorators=[parse_with(w) for w in with_], cache_all=cache is True,
                      no_cache=cache is False, executor=executor, dask_scheduler=dask_scheduler,
                      progress=not no_progress and progress_setting())


def _mlflow_settings(enabled: bool | None, tracking_uri: str | None, experiment: str | None) -> Any:
    """Where the run is mirrored in MLflow, checked before the run starts, or None (MLflow is imported only if on)."""
    if enabled is False:
        return None
    from ..mlflow.settings import run_settings

    return run_settings(enabled, tracking_uri, experiment)


def _check_run_id_file(path: str | None) -> None:
    """`--run-id-file` must be writable before the run starts: its folder exists and may be written."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        what = "does not exist" if not os.path.isdir(folder) else "cannot be written"
        raise CommandError(f"--run-id-file {shown(path)}: the folder {shown(folder)} {what}. Create it, or give "
                           f"a file in an existing folder.")


def _check_origin_run_id(flow_name: str, given: str | None) -> None:
    """`--origin-run-id` digits are a run number the metadata store can hold (other text: "no run 'x'")."""
    from ..client.pathspec import run_number

    digits = (given or "").rpartition("/")[2]
    if digits.isdigit() and run_number(digits) is None:
        raise CommandError(f"--origin-run-id {shown(given)} is not a run id: give the number of a run of "
                           f"{flow_name}, e.g. --origin-run-id 3 (or {flow_name}/3).")


def _run(ctx: click.Context, **values: Any) -> None:
    from ..config import current_user
    from ..flow_decorators import project_info
    from ..parameters import finish_values
    from ..runtime.launch import start_run

    param_values, rest = parameter_values(values)
    flow_cls = ctx.obj["flow_cls"]
    _check_run_id_file(rest["run_id_file"])
    configs = _configs(ctx)
    graph = _graph(ctx, configs)
    options = _options(ctx, rest["tag"], rest["max_workers"], rest["max_num_splits"], rest["with_"], rest["cache"],
                       rest["executor"], rest["dask_scheduler"], rest["no_progress"])
    options.mlflow = _mlflow_settings(rest["mlflow"], rest["mlflow_tracking_uri"], rest["mlflow_experiment"])
    user = current_user()
    param_values = finish_values(flow_cls, param_values, user, project_info(flow_cls, user))
    ok = start_run(flow_cls, graph, param_values, options, rest["run_id_file"], ctx.obj["datastore_root"],
                   configs)
    sys.exit(0 if ok else 1)


def _resume(ctx: click.Context, step: str | None, origin_run_id: str | None, tag: tuple[str, ...],
            max_workers: int, max_num_splits: int, run_id_file: str | None, with_: tuple[str, ...],
            cache: bool | None, executor: str, dask_scheduler: str | None, no_progress: bool, mlflow: bool | None,
            mlflow_tracking_uri: str | None, mlflow_experiment: str | None) -> None:
    from ..configs import FlowConfigError
    from ..runtime.launch import origin_configs, resume_run

    if ctx.obj["config_files"] or ctx.obj["config_texts"]:
        raise FlowConfigError("resume reuses the configs of the run it resumes, so it takes no --config or "
                              "--config-value. Start a new run (run) to use other config values.")
    _check_origin_run_id(ctx.obj["flow_cls"].__name__, origin_run_id)
    _check_run_id_file(run_id_file)
    configs = origin_configs(ctx.obj["flow_cls"], origin_run_id, ctx.obj["datastore_root"], lambda: _configs(ctx))
    graph = _graph(ctx, configs)
    options = _options(ctx, tag, max_workers, max_num_splits, with_, cache, executor, dask_scheduler, no_progress)
    options.mlflow = _mlflow_settings(mlflow, mlflow_tracking_uri, mlflow_experiment)
    ok = resume_run(ctx.obj["flow_cls"], graph, step, origin_run_id, options, run_id_file,
                    ctx.obj["datastore_root"])
    sys.exit(0 if ok else 1)


@click.command(help="Check the flow's graph for mistakes without running it.")
@click.pass_context
@friendly_errors
def check(ctx: click.Context) -> None:
    graph = _graph(ctx)
    click.echo(f"The graph of {graph.name} is valid: {len(graph)} steps.")


@click.command(help="Describe the flow's steps and how they connect.")
@click.pass_context
@friendly_errors
def show(ctx: click.Context) -> None:
    click.echo(_graph(ctx).describe())


@click.command(help="Print the artifacts of a run, a step or a task: RUN[/STEP[/TASK]].")
@click.argument("pathspec")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
@friendly_errors
def dump(ctx: click.Context, pathspec: str, as_json: bool) -> None:
    from . import inspect

    inspect.dump(ctx.obj["flow_cls"].__name__, pathspec, as_json=as_json)


@click.command(help="Print the output of a step's tasks: RUN/STEP[/TASK].")
@click.argument("pathspec")
@click.option("--stdout", "stream", flag_value="stdout", help="Only standard output.")
@click.option("--stderr", "stream", flag_value="stderr", help="Only standard error.")
@click.pass_context
@friendly_errors
def logs(ctx: click.Context, pathspec: str, stream: str | None) -> None:
    from . import inspect

    inspect.logs(ctx.obj["flow_cls"].__name__, pathspec, stream)


def run_flow_cli(flow_cls: type) -> None:
    """Entry point called by `MyFlow()`: parse sys.argv and exit."""
    from ..exceptions import ArtiflowException

    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "flow.py"
    try:
        cli = build_cli(flow_cls)
    except ArtiflowException as exc:
        report(exc)
        sys.exit(1)
    cli.main(args=sys.argv[1:], prog_name=f"python {script}")
