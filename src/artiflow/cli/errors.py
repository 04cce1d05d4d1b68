"""How the CLI reports a user's mistake: one message, no internal traceback, exit code 1."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

import click

from ..exceptions import ArtiflowException

F = TypeVar("F", bound=Callable[..., Any])


def report(exc: ArtiflowException) -> None:
    click.secho(f"{exc.headline}:", fg="red", bold=True, err=True)
    click.echo(exc.message, err=True)


def friendly_errors(func: F) -> F:
    """Turn an ArtiflowException raised by a command into a readable message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ArtiflowException as exc:
            report(exc)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
