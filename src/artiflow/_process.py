"""Process helpers shared by the executors and the datastore: what a forked helper process sets up first."""

from __future__ import annotations

import signal
import sys
from typing import Callable


def _prctl() -> Callable[..., int] | None:
    """Linux's prctl, or None (another system, or no C library to find)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def parent_death_signal() -> Callable[[], None]:
    """A function a forked process calls so the kernel kills it if its parent dies (Linux; else a no-op).

    Resolved once in the parent: importing ctypes in every forked task would cost a millisecond each.
    """
    prctl = _prctl()
    if prctl is None:
        return lambda: None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGKILL)


def name_this_process(name: str) -> None:
    """Give this process a name `ps`/`top` show (Linux's comm, 15 bytes at most), e.g. a forked helper's."""
    prctl = _prctl()
    if prctl is not None:
        pr_set_name = 15
        prctl(pr_set_name, name.encode()[:15])
