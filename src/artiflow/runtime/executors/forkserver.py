"""A fork server: a quiet copy of a process that forks its tasks for it, and reaps them.

A forked task shares its parent's memory pages until one of them writes to a page, which the kernel
then copies. A parent that keeps working while its tasks run (reading their output, answering the
driver) writes to hundreds of pages between two forks, and after each fork pays a copy for every
one of them: on a Dask worker's task host that was half of the host's CPU. A copy of the host made
once, which does nothing but fork, leaves the host's own pages unshared: the host then pays each
copy once, not once per task. The server is the tasks' parent: it reaps each when the host asks (the
host asks when the task's pipes have closed), and sends its wait status back.

Linux only (elsewhere the executor forks its tasks itself).
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
from typing import Callable, NoReturn

from ..._process import name_this_process, parent_death_signal

NAME = "artiflow-forks"         # the server's process name (`ps`, `top`); its tasks take back the host's
REQUEST = struct.Struct("=cii")  # b"f" fork (the request's length; its fds come with this), b"w" wait (pid, flags)
REPLY = struct.Struct("=cii")    # b"r" ready (pid), b"f" forked (pid), b"w" (pid, wait status; 0: runs, -1: not a task)
MAX_FDS = 8


class ForkServerGone(OSError):
    """The fork server has ended (it was killed): no task can be forked or reaped through it."""


class ForkServer:
    """A child of this process that forks `start_task(request, fds, server_pid)` in a process of its own on each
    `fork` (`server_pid`: the task's parent, for a task that must end with it).

    It answers one request at a time, each with one reply, and does nothing in between: what it
    runs between two forks is what each fork costs it in copied pages (a signal handler, a select
    loop cost three times what a bare fork does).
    """

    def __init__(self, start_task: Callable[[bytes, list[int], int], NoReturn]) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sys.stdout.flush()  # what is still buffered here would otherwise be written again by every task
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:  # the server
            self.sock.close()
            _serve(theirs, start_task)
        theirs.close()
        self._reply(b"r")  # set up (named, its signals blocked): ready to fork

    def fork(self, request: bytes, fds: list[int]) -> int:
        """Have the server fork a task with `request` and a copy of `fds` (ours stay open); its pid."""
        data = REQUEST.pack(b"f", len(request), 0) + request
        try:
            sent = socket.send_fds(self.sock, [data], fds)
            if sent < len(data):
                self.sock.sendall(data[sent:])
        except OSError as exc:
            raise ForkServerGone(f"the fork server (pid {self.pid}) is gone: {exc}") from None
        return self._reply(b"f")[0]

    def status(self, pid: int, block: bool) -> int | None:
        """The wait status of task `pid` once it has ended (None if it has not, when not blocking): the server
        reaps it then."""
        try:
            self.sock.sendall(REQUEST.pack(b"w", pid, 0 if block else os.WNOHANG))
        except OSError as exc:
            raise ForkServerGone(f"the fork server (pid {self.pid}) is gone: {exc}") from None
        ended, status = self._reply(b"w")
        if ended < 0:
            raise ChildProcessError(f"process {pid} is not a task of the fork server (pid {self.pid})")
        return status if ended else None

    def _reply(self, kind: bytes) -> tuple[int, int]:
        try:
            data = _receive_exactly(self.sock, REPLY.size)
        except (EOFError, OSError):
            raise ForkServerGone(f"the fork server (pid {self.pid}) ended") from None
        got, number, status = REPLY.unpack(data)
        if got != kind:
            raise ForkServerGone(f"the fork server (pid {self.pid}) answered {got!r} to a {kind!r} request")
        return number, status

    def close(self) -> None:
        """End the server (it ends when its socket closes) and reap it."""
        self.sock.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _serve(sock: socket.socket, start_task: Callable[[bytes, list[int], int], NoReturn]) -> NoReturn:
    """The server's loop: fork a task per fork request, reap one per wait request, until the socket closes.

    It inherits the host's descriptors and keeps them (as a task forked by the host would): closing one
    under an object that still holds its number could, in a task, close whatever later got that number.
    """
    code = 0
    try:
        parent_death_signal()()  # the host's tasks must not outlive it: the server neither
        with open("/proc/self/comm", encoding="utf-8", errors="replace") as comm:
            host_name = comm.read().strip()
        name_this_process(NAME)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})  # (tasks: see _child)
        sock.sendall(REPLY.pack(b"r", os.getpid(), 0))
        while _answer(sock, start_task, host_name):
            pass
    except BaseException:  # noqa: BLE001 - the server must never fall back into the host's loop
        code = 70
    os._exit(code)


def _answer(sock: socket.socket, start_task: Callable, host_name: str) -> bool:
    """Answer one request; False once the host has closed the socket."""
    header, fds, _, _ = socket.recv_fds(sock, REQUEST.size, MAX_FDS)
    if not header:
        return False
    kind, number, flags = REQUEST.unpack(header + _receive_exactly(sock, REQUEST.size - len(header)))
    if kind == b"w":
        try:
            ended, status = os.waitpid(number, flags)
        except ChildProcessError:  # not its task, or reaped already: the host's waitpid raises as os.waitpid does
            ended, status = -1, 0
        sock.sendall(REPLY.pack(b"w", ended, status))
        return True
    request = _receive_exactly(sock, number)
    pid = os.fork()
    if pid == 0:  # the task: nothing of the server's stays with it
        name_this_process(host_name)
        sock.close()
        start_task(request, fds, os.getppid())  # never returns
    for fd in fds:
        os.close(fd)
    try:
        os.setpgid(pid, pid)  # its own group, before the host can signal it (the task also sets it)
    except OSError:
        pass
    sock.sendall(REPLY.pack(b"f", pid, 0))
    return True


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the host closed the fork server's socket mid-request")
        data += chunk
    return bytes(data)


def available() -> bool:
    """Whether a fork server can run here (descriptors passed over a Unix socket, a parent-death signal: Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")
