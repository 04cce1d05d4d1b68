"""The `artiflow` command: inspect runs (`status`, `show`, `logs`) or run a flow file (`artiflow flow.py run`)."""

from __future__ import annotations

import os
import runpy
import sys


def launch_file(path: str, args: list[str]) -> None:
    """Run a flow file as `__main__`, with `metaflow` resolved to artiflow (here and in its tasks)."""
    from ..compat import install_metaflow_alias

    if not os.path.isfile(path):
        from ..exceptions import CommandError
        from .errors import report

        report(CommandError(f"The flow file {path!r} does not exist."))
        sys.exit(1)
    install_metaflow_alias()
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    runpy.run_path(path, run_name="__main__")


def inspect_cli():
    """The click group of the inspect commands (built only when used: a flow file may not need click)."""
    import click

    from .. import __version__
    from . import inspect

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="artiflow")
    def cli() -> None:
        """artiflow: inspect flows and runs, or run a flow file: `artiflow FLOW.py run`."""

    inspect.register(cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0].endswith(".py"):
        launch_file(args[0], args[1:])
        return
    inspect_cli().main(args=args, prog_name="artiflow")
