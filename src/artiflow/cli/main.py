"""The `artiflow` command: inspect runs (`status`, `show`, `logs`) or run a flow file (`artiflow flow.py run`)."""

from __future__ import annotations

import os
import runpy
import sys

import click

from .. import __version__


def launch_file(path: str, args: list[str]) -> None:
    """Run a flow file as `__main__`, with `metaflow` resolved to artiflow (here and in its tasks)."""
    from ..compat import install_metaflow_alias

    if not os.path.isfile(path):
        click.secho("Invalid command:", fg="red", bold=True, err=True)
        click.echo(f"The flow file {path!r} does not exist.", err=True)
        sys.exit(1)
    install_metaflow_alias()
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    runpy.run_path(path, run_name="__main__")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="artiflow")
def cli() -> None:
    """artiflow: inspect flows and runs, or run a flow file: `artiflow FLOW.py run`."""


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0].endswith(".py"):
        launch_file(args[0], args[1:])
        return
    from . import inspect

    inspect.register(cli)
    cli.main(args=args, prog_name="artiflow")
