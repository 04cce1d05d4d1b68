"""Reproducible runs from the command line: `artiflow code`, `artiflow diff` and `artiflow rerun`.

Each run stores its code (the flow file and the local modules it imported) and its environment
(lineage/code.py). `code` shows or extracts them, `diff` compares two runs, and `rerun` runs the
stored code again with the same parameters, configs and included files, then says whether every
artifact came out with the same content key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from ..client.context import get_context
from ..exceptions import CommandError
from .errors import friendly_errors

if TYPE_CHECKING:
    from ..metadata.records import RunRecord

Echo = Callable[[str], Any]
RERUN_TAG = "rerun-of:"
DROPPED_ENV_PREFIXES = ("ARTIFLOW_RUN_", "METAFLOW_RUN_")  # a rerun's parameters are the stored ones, not these
CONFIG_ENV = ("ARTIFLOW_FLOW_CONFIG", "METAFLOW_FLOW_CONFIG", "ARTIFLOW_FLOW_CONFIG_VALUE",
              "METAFLOW_FLOW_CONFIG_VALUE")


# -- finding the run and its code ----------------------------------------------------------------------
def open_run(pathspec: str, command: str, exact: bool = False) -> Any:
    """The client Run a pathspec names (FLOW/RUN, or with `exact` False any longer pathspec of it), any namespace."""
    from ..client import Run
    from ..client.context import using_namespace
    from ..client.pathspec import InvalidPathspec, split

    parts = split(pathspec)
    if len(parts) < 2 or (exact and len(parts) > 2):
        shape = "FLOW/RUN" if exact else "FLOW/RUN (or a step, task or artifact of that run)"
        raise InvalidPathspec(f"artiflow {command} {pathspec}: give a run as {shape}, e.g. {parts[0]}/1.")
    with using_namespace(None):
        return Run("/".join(parts[:2]))


def stored_code(run: Any) -> Any:
    """The run's code snapshot; a CommandError for a run stored before artiflow kept code."""
    code = run.code
    if code is None:
        raise CommandError(f"Run {run.pathspec} has no stored code: it ran before artiflow stored each run's code "
                           f"(or its flow was not loaded from a file). Runs started from now on store it.")
    return code


# -- artiflow code ----------------------------------------------------------------------------------------
def code_lines(run: Any, code: Any) -> list[str]:
    """The run's files with their sizes, then a summary of its environment."""
    from ..lineage.environment import summary
    from .inspect import format_size, table

    sizes = code.sizes()
    head = (f"Code of {run.pathspec}: {len(sizes)} file{'s' if len(sizes) != 1 else ''}, "
            f"{format_size(sum(sizes.values()))} (flow file {code.flow_file})")
    rows = table(["FILE", "SIZE"], [[path, format_size(size)] for path, size in sorted(sizes.items())])
    environment = run.environment
    env_line = f"Environment: {summary(environment)}" if environment else "Environment: not recorded"
    return [head, *("  " + row for row in rows), env_line]


@click.command("code", help="Show the code a run stored (its flow file and local modules, with sizes) and its "
                            "environment; --extract DIR writes the files. PATHSPEC: FLOW/RUN or anything in it.")
@click.argument("pathspec")
@click.option("--extract", "folder", type=click.Path(file_okay=True, dir_okay=True), default=None,
              help="Write the files into this folder (made if missing; existing different files are not overwritten).")
@friendly_errors
def code_command(pathspec: str, folder: str | None) -> None:
    run = open_run(pathspec, "code")
    code = stored_code(run)
    for line in code_lines(run, code):
        click.echo(line)
    if folder is not None:
        written = code.extract(folder)
        kept = len(code.blobs) - len(written)
        note = f" ({kept} already there, unchanged)" if kept else ""
        click.echo(f"Extracted {len(written)} file{'s' if len(written) != 1 else ''} into {folder}{note}. "
                   f"Run them again with: artiflow rerun {run.pathspec}")


# -- artiflow diff ------------------------------------------------------------------------------------------
def _arrow(old: Any, new: Any) -> str:
    return f"{'-' if old is None else old!r} -> {'-' if new is None else new!r}"


def diff_lines(diff: Any) -> list[str]:
    """What `artiflow diff` prints: parameters, code, environment and packages, then each step's artifacts."""
    lines = [f"Comparing {diff.a} (A) with {diff.b} (B)", ""]
    if diff.parameters:
        lines.append(f"Parameters: {len(diff.parameters)} differ{'s' if len(diff.parameters) == 1 else ''}")
        lines += [f"  {name}: {_arrow(old, new)}" for name, (old, new) in diff.parameters.items()]
    else:
        lines.append("Parameters: the same")
    lines += ["", *_code_section(diff), "", *_environment_section(diff), "", "Artifacts by step (A -> B):"]
    rows = [[s.step, s.status, _step_details(s, diff)] for s in diff.steps]
    from .inspect import table

    lines += ["  " + row for row in table(["STEP", "ARTIFACTS", "DETAILS"], rows)] if rows else ["  no tasks"]
    return lines


def _code_section(diff: Any) -> list[str]:
    if diff.code is None:
        return ["Code: not compared (a run has no stored code: it ran before artiflow stored code)"]
    if not diff.code:
        return [f"Code: the same ({diff.code_files} file{'s' if diff.code_files != 1 else ''})"]
    lines = [f"Code: {len(diff.code)} of {diff.code_files} files differ{'s' if len(diff.code) == 1 else ''}"]
    for patch in diff.code.values():
        lines += [line.rstrip("\n") for line in patch]
    return lines


def _environment_section(diff: Any) -> list[str]:
    if diff.environment is None:
        return ["Environment: not compared (a run has no recorded environment)"]
    lines = [f"Environment: {name} {_arrow(old, new)}" for name, (old, new) in diff.environment.items()]
    lines = lines or ["Environment: the same"]
    if not diff.packages:
        return [*lines, f"Packages: the same ({diff.package_count})"]
    lines.append(f"Packages: {len(diff.packages)} changed")
    for name, (old, new) in diff.packages.items():
        what = f"added {new}" if old is None else f"removed (was {old})" if new is None else f"{old} -> {new}"
        lines.append(f"  {name}  {what}")
    return lines


def _step_details(step: Any, diff: Any) -> str:
    parts = [f"{step.same} same"] if step.same else []
    parts += [f"changed: {', '.join(step.changed)}"] if step.changed else []
    parts += [f"only in {diff.a}: {', '.join(step.only_a)}"] if step.only_a else []
    parts += [f"only in {diff.b}: {', '.join(step.only_b)}"] if step.only_b else []
    return "; ".join(parts)


@click.command("diff", help="Compare two runs (each FLOW/RUN): parameters, a unified diff of their code, package "
                            "changes, and per step whether the artifacts' content keys are the same.")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@friendly_errors
def diff_command(run_a: str, run_b: str, as_json: bool) -> None:
    from ..lineage.diff import diff_runs

    a, b = open_run(run_a, "diff", exact=True), open_run(run_b, "diff", exact=True)
    diff = diff_runs((a._ctx.store, b._ctx.store), get_context().meta, a._row, b._row)  # each on its own datastore
    if as_json:
        click.echo(json.dumps(diff.to_json(), indent=2))
        return
    for line in diff_lines(diff):
        click.echo(line)


# -- artiflow rerun ---------------------------------------------------------------------------------------
def load_flow_class(path: Path, flow_name: str, pathspec: str) -> type:
    """Import the stored flow file (not as `__main__`, so it does not start) and return its flow class."""
    import importlib.util

    from ..compat import install_metaflow_alias

    install_metaflow_alias()
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("_artiflow_rerun_flow", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's module failed to import: say how
        raise CommandError(f"The stored code of {pathspec} cannot be imported to read its parameters: "
                           f"{type(exc).__name__}: {exc}. It may need a package that is not installed here "
                           f"(see artiflow code {pathspec}).") from None
    flow_cls = getattr(module, flow_name, None)
    if not isinstance(flow_cls, type):
        raise CommandError(f"The stored flow file {path.name} of {pathspec} defines no class {flow_name}.")
    return flow_cls


def parse_overrides(tokens: list[str], params: dict[str, Any], pathspec: str) -> dict[str, list[str]]:
    """`--NAME VALUE` / `--NAME=VALUE` / `--no-NAME` tokens -> the command-line words of each parameter, by attribute."""
    by_name = {p.name: (attr, p) for attr, p in params.items()}
    known = ", ".join(f"--{name}" for name in sorted(by_name)) or "none (the flow has no parameters)"
    words: dict[str, list[str]] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, has_value, value = token[2:].partition("=") if token.startswith("--") else ("", False, "")
        negated = name.startswith("no-") and name[3:] in by_name and by_name[name[3:]][1].type is bool
        if not name or (name not in by_name and not negated):
            what = f"--{name} is not a parameter of {pathspec.split('/')[0]}" if name else f"{token!r} is not an option"
            raise CommandError(f"artiflow rerun {pathspec}: {what}. Give parameters as --NAME VALUE after the run; "
                               f"its parameters: {known}.")
        if negated:
            attr, given = by_name[name[3:]][0], [token]
        elif has_value:
            attr, given = by_name[name][0], [f"--{name}", value]
        elif i + 1 < len(tokens):
            attr, given = by_name[name][0], [f"--{name}", tokens[i + 1]]
            i += 1
        else:
            raise CommandError(f"artiflow rerun {pathspec}: --{name} needs a value (--{name} VALUE).")
        words.setdefault(attr, []).extend(given)
        i += 1
    return words


def _cli_text(param: Any, value: Any) -> str:
    """One stored value as the command line gives it (JSON for JSON parameters, true/false for bools)."""
    from ..parameters import JSONType

    if param.type is JSONType or isinstance(param.type, JSONType):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _included_file(param: Any, value: Any, folder: Path) -> str:
    """Write an IncludeFile's stored content to a file of its own and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / param.name
    path.write_bytes(value if isinstance(value, (bytes, bytearray)) else str(value).encode(param.encoding))
    return str(path)


def stored_parameter_words(store: Any, row: RunRecord, params: dict[str, Any],
                           scratch: Path) -> dict[str, list[str]]:
    """The command-line words that give each parameter of the run its stored value, by attribute."""
    from ..parameters import IncludeFile

    words: dict[str, list[str]] = {}
    for attr, param in params.items():
        ref = row.param_refs.get(attr)
        value = None if ref is None or attr not in row.params else store.load(ref)
        if value is None or (isinstance(value, tuple) and not value):
            continue
        option = f"--{param.name}"
        if isinstance(param, IncludeFile):
            words[attr] = [option, _included_file(param, value, scratch)]
        elif param.multiple:
            words[attr] = [w for item in value for w in (option, _cli_text(param, item))]
        elif param.separator is not None:
            words[attr] = [option, param.separator.join(_cli_text(param, item) for item in value)]
        else:
            words[attr] = [option, _cli_text(param, value)]
    return words


def config_values_env(store: Any, row: RunRecord, flow_cls: type) -> str | None:
    """The run's stored config values as ARTIFLOW_FLOW_CONFIG_VALUE's JSON (a mapping is taken as is, unparsed)."""
    from ..configs import flow_configs

    values = {config.name: store.load(row.param_refs[attr]) for attr, config in flow_configs(flow_cls).items()
              if attr in row.param_refs}
    values = {name: value for name, value in values.items() if value is not None}
    if not values:
        return None
    try:
        return json.dumps(values)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"The configs of run {row.pathspec} cannot be passed to a new run as "
                           f"JSON ({exc}).") from None


def child_env(config: Any, configs_json: str | None) -> dict[str, str]:
    """The rerun's environment: this one, on the original's stores, without parameter or config overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV_PREFIXES) and k not in CONFIG_ENV}
    env.update(ARTIFLOW_ROOT=str(config.root), ARTIFLOW_DATASTORE_ROOT=config.datastore_root,
               ARTIFLOW_METADATA_URL=config.metadata_url)
    if configs_json is not None:
        env["ARTIFLOW_FLOW_CONFIG_VALUE"] = configs_json
    return env


def check_rerunnable(run: Any) -> None:
    """A run that is still running cannot be rerun yet (its artifacts are not all there to compare)."""
    if run._row.status == "running":
        raise CommandError(f"Run {run.pathspec} is still running: wait for it to end (or stop it), then rerun it.")


def run_to_end(command: list[str], env: dict[str, str]) -> int:
    """Run the command with this terminal; on Ctrl-C wait for it too (the run gets the signal and stops its tasks)."""
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return process.wait()


def rerun(pathspec: str, tokens: list[str], echo: Echo, use_cache: bool = False) -> int:
    """Run the stored code of FLOW/RUN again with its parameters (overridden by `tokens`); the run's exit code.

    Every step runs (`--no-cache`): a step-cache hit would reproduce its keys by construction. With
    `use_cache`, every step may come from the cache (`--cache`).
    """
    from ..parameters import flow_parameters

    run = open_run(pathspec, "rerun", exact=True)
    check_rerunnable(run)
    code, row, ctx = stored_code(run), run._row, get_context()
    with tempfile.TemporaryDirectory(prefix="artiflow-rerun-") as scratch:
        folder = Path(scratch) / "code"
        code.extract(folder)
        flow_file = folder / code.flow_file
        flow_cls = load_flow_class(flow_file, row.flow, run.pathspec)
        params = flow_parameters(flow_cls)
        overrides = parse_overrides(tokens, params, run.pathspec)
        words = {**stored_parameter_words(run._ctx.store, row, params, Path(scratch) / "included"), **overrides}
        configs_json = config_values_env(run._ctx.store, row, flow_cls)
        id_file = Path(scratch) / "run_id"
        command = [sys.executable, "-m", "artiflow", str(flow_file), "run",
                   *[word for given in words.values() for word in given],
                   "--tag", f"{RERUN_TAG}{run.pathspec}", "--run-id-file", str(id_file),
                   "--cache" if use_cache else "--no-cache"]  # the code really runs, unless asked
        echo(f"Rerunning {run.pathspec} from its stored code ({len(code.blobs)} files) in {os.getcwd()}.")
        sys.stdout.flush()
        returncode = run_to_end(command, child_env(ctx.config, configs_json))
        new_id = id_file.read_text().strip() if id_file.exists() else ""
    if not new_id:
        echo(f"The rerun of {run.pathspec} did not start a run (exit code {returncode}): see the error above.")
        return returncode or 1
    report_rerun(ctx, row, int(new_id), sorted(overrides), params, echo)
    return returncode


def report_rerun(ctx: Any, row: RunRecord, new_id: int, overridden: list[str], params: dict[str, Any],
                 echo: Echo) -> None:
    """Say whether every artifact of the new run has the same content key as in the original, or which do not."""
    from ..lineage.diff import compare_artifacts

    flow, old_id = row.flow, row.run_id
    old, new = f"{flow}/{old_id}", f"{flow}/{new_id}"
    changes = compare_artifacts(ctx.meta, (flow, old_id), (flow, new_id))
    differ = [c for c in changes if c.status != "same"]
    given = f" (with --{', --'.join(params[a].name for a in overridden)} given anew)" if overridden else ""
    if not differ:
        echo(f"Rerun {new} of {old}{given}: all {len(changes)} artifacts came out with the same keys.")
        return
    echo(f"Rerun {new} of {old}{given}: {len(differ)} of {len(changes)} artifacts differ:")
    labels = {"changed": "changed", "only_a": f"only in {old}", "only_b": f"only in {new}"}
    width = max(len(labels[c.status]) for c in differ)
    for change in differ:
        echo(f"  {labels[change.status].ljust(width)}  {change.where}")
    _note_inexact_parameters(ctx, row, new_id, overridden, params, echo)


def _note_inexact_parameters(ctx: Any, row: RunRecord, new_id: int, overridden: list[str],
                             params: dict[str, Any], echo: Echo) -> None:
    """Name the parameters not given anew whose value still came out different (a type that does not round-trip)."""
    new_row = ctx.meta.run(row.flow, new_id)
    if new_row is None:
        return
    for attr in params:
        old_ref, new_ref = row.param_refs.get(attr), new_row.param_refs.get(attr)
        if attr not in overridden and old_ref is not None and new_ref is not None and old_ref.key != new_ref.key:
            echo(f"Note: parameter '{params[attr].name}' came out different from the original: its stored value did "
                 f"not convert back exactly from the command line. Give it again with --{params[attr].name} VALUE.")


@click.command("rerun", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
               help="Run a run's stored code again with the same parameters, configs and included files (override "
                    "any with --PARAM VALUE after FLOW/RUN), tagged rerun-of:FLOW/RUN, and say whether every "
                    "artifact came out with the same content key. Exit code: the new run's.")
@click.option("--use-cache", is_flag=True, help="Let steps come from the step cache (by default every step runs, "
              "so that the keys are computed anew). Give it before FLOW/RUN.")
@click.argument("pathspec", metavar="FLOW/RUN")
@click.argument("tokens", nargs=-1, type=click.UNPROCESSED, metavar="[--PARAM VALUE]...")
@click.pass_context
@friendly_errors
def rerun_command(ctx: click.Context, use_cache: bool, pathspec: str, tokens: tuple[str, ...]) -> None:
    if any(t in ("-h", "--help") for t in tokens):
        click.echo(ctx.get_help())
        return
    sys.exit(rerun(pathspec, list(tokens), click.echo, use_cache))


def register(group: click.Group) -> None:
    """Add `code`, `diff` and `rerun` to the `artiflow` command group."""
    group.add_command(code_command)
    group.add_command(diff_command)
    group.add_command(rerun_command)
