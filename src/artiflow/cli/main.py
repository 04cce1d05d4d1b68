"""The `artiflow` command: inspect runs (`status`, `show`, `logs`) or run a flow file (`artiflow flow.py run`)."""

from __future__ import annotations

import os
import sys

ARTIFLOW_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launch_file(path: str, args: list[str]) -> None:
    """Run a flow file as `__main__`, with `metaflow` resolved to artiflow (here and in its tasks)."""
    from ..compat import install_metaflow_alias

    if not os.path.isfile(path):
        from ..exceptions import CommandError
        from .errors import report

        what = "is a folder, not a flow file" if os.path.isdir(path) else "does not exist"
        report(CommandError(f"The flow file {path!r} {what}. Give the path of a .py file that defines a flow, "
                            f"e.g. artiflow hello.py run."))
        sys.exit(1)
    install_metaflow_alias()
    install_excepthook()
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    names = _run_user_file(path)
    _report_unstarted(path, names)


def _run_user_file(path: str) -> dict:
    """Run the file as `__main__`; an error it raises is shown as its own traceback, without the launcher's frames."""
    import runpy

    try:
        return runpy.run_path(path, run_name="__main__")
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's file failed: show it as Python would
        if isinstance(exc, _artiflow_error()):
            sys.excepthook(type(exc), exc, exc.__traceback__)  # the hooks artiflow installed say it best
        else:
            sys.stderr.write(user_traceback(exc, drop_own=False))
        sys.exit(1)


def _report_unstarted(path: str, names: dict) -> None:
    """A file that defines a flow but never starts it (no `MyFlow()` under `__main__`) says so, exit code 1."""
    from ..exceptions import CommandError
    from .errors import report

    flows = [v.__name__ for v in names.values() if isinstance(v, type) and v.__module__ == "__main__"
             and any(k.__name__ == "FlowSpec" for k in v.__mro__[1:])]
    if flows:
        report(CommandError(f"{path} defines {', '.join(flows)} but never starts it: end the file with "
                            f"`if __name__ == \"__main__\": {flows[0]}()`."))
        sys.exit(1)


def _artiflow_error() -> type:
    from ..exceptions import ArtiflowException

    return ArtiflowException


def _user_frame(filename: str, drop_own: bool) -> bool:
    """False for the launcher's frames (runpy, this file) and, when `drop_own`, for any frame in artiflow's files."""
    if filename.startswith("<frozen runpy") or os.path.basename(filename) == "runpy.py" or filename == __file__:
        return False
    return not (drop_own and os.path.abspath(filename).startswith(ARTIFLOW_DIR + os.sep))


def user_traceback(exc: BaseException, drop_own: bool) -> str:
    """The traceback of an error raised while a flow file runs, showing the user's frames only."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _user_frame(f.filename, drop_own)]
    head = ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    return "".join(head + traceback.format_exception_only(type(exc), exc))


def install_excepthook() -> None:
    """Show an artiflow error that stops a flow file (a misused Parameter, Config...) with the user's frames only."""
    previous = sys.excepthook
    if getattr(previous, "artiflow", False):
        return

    def hook(kind: type, exc: BaseException, tb: object) -> None:
        if isinstance(exc, _artiflow_error()):
            sys.stderr.write(user_traceback(exc, drop_own=True))
        else:
            previous(kind, exc, tb)

    hook.artiflow = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def inspect_cli():
    """The click group of the inspect commands (built only when used: a flow file may not need click)."""
    import click

    from .. import __version__
    from . import gc, inspect, lineage, metrics, reproduce, ui, verify
    from ..cards import cli as cards_cli
    from ..mlflow import cli as mlflow_cli

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="artiflow")
    def cli() -> None:
        """artiflow: inspect flows and runs, or run a flow file: `artiflow FLOW.py run`."""

    inspect.register(cli)
    verify.register(cli)
    lineage.register(cli)
    reproduce.register(cli)
    gc.register(cli)
    metrics.register(cli)
    mlflow_cli.register(cli)  # imports nothing of MLflow until a command runs
    cards_cli.register(cli)
    ui.register(cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0].endswith(".py"):
        launch_file(args[0], args[1:])
        return
    inspect_cli().main(args=args, prog_name="artiflow")
