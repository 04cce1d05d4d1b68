"""Small-blob requests of forked tasks, served by the process that forks them (the runner, or a Dask task host).

A task forked from a runner pays dearly for its first S3 request: botocore's lazily built state and every
page of the parent's memory its objects touch (copy-on-write) cost it ~10 ms beside the ~2 ms a request costs
a warm client. So a forked task sends its small reads and writes (up to BROKER_BYTES) over a Unix socket to
its parent, which makes them on its own warm client, in a thread per task connection, and keeps what it
moved in a small cache: blobs are immutable (named by their content), so the foreach list every task of a
step reads, or the result a join reads, is fetched once per parent, not once per task. Every cached blob is
verified against its key before it is kept; misses, errors and larger blobs behave as without the broker.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import tempfile
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable

from .keys import key_matches

if TYPE_CHECKING:
    from .s3 import S3Storage

BROKER_BYTES = 1 << 20          # blobs up to this size go through the broker
CACHE_BYTES = 64 << 20          # what the broker's cache holds at most (least recently used go first)
KNOWN_LARGE = 10_000            # how many keys of larger blobs it remembers (so it answers LARGE at once)
BROKER_PROCESS_NAME = "artiflow-s3"  # what ps shows for it
GET, PUT = 1, 2
OK, MISSING, LARGE, FAILED = 0, 1, 2, 3
REQUEST = struct.Struct("!BII")  # operation, key length, body length
REPLY = struct.Struct("!BI")     # status, payload length


class BlobCache:
    """Verified blobs by key, up to a byte budget; thread-safe."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self.held = 0
        self.blobs: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self.lock:
            data = self.blobs.get(key)
            if data is not None:
                self.blobs.move_to_end(key)
            return data

    def keep(self, key: str, data: bytes) -> None:
        """Keep `data` as blob `key` if it really is that blob's content (never serve a wrong one)."""
        if len(data) > self.budget or not key_matches(memoryview(data), key):
            return
        with self.lock:
            if key in self.blobs:
                return
            self.blobs[key] = data
            self.held += len(data)
            while self.held > self.budget:
                _, dropped = self.blobs.popitem(last=False)
                self.held -= len(dropped)


class BlobBroker:
    """The serving side, in a process of its own forked once from the parent: a thread per task connection.

    Its own process, not threads in the parent: after each fork of a task, every page the parent writes is
    copied again, so requests made there would pay the copy-on-write cost a task pays. The broker process
    never forks, so its client stays warm and its pages its own.
    """

    def __init__(self, storage: S3Storage, listener: socket.socket, cache_bytes: int = CACHE_BYTES) -> None:
        self.storage = storage.for_broker()  # a session and client made here, none of the parent's
        self.cache = BlobCache(cache_bytes)
        self.large: set[str] = set()
        self.listener = listener

    def serve_forever(self) -> None:
        while True:
            conn, _ = self.listener.accept()
            threading.Thread(target=self._serve, args=(conn,), name="artiflow-s3-task", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        """Answer one task's requests, one at a time, until it hangs up (it ended, or was killed)."""
        with conn, contextlib.suppress(EOFError, OSError):  # a task killed mid-request: nothing to answer
            while True:
                operation, key_length, body_length = REQUEST.unpack(_receive(conn, REQUEST.size))
                key = _receive(conn, key_length).decode()
                body = _receive(conn, body_length) if body_length else b""
                status, payload = self._answer(operation, key, body)
                conn.sendall(REPLY.pack(status, len(payload)))
                if payload:
                    conn.sendall(payload)

    def _answer(self, operation: int, key: str, body: bytes) -> tuple[int, bytes]:
        try:
            if operation == PUT:
                self.storage.put(key, [body])
                self.cache.keep(key, body)
                return OK, b""
            return self._read(key)
        except FileNotFoundError:
            return MISSING, b""
        except Exception as exc:  # noqa: BLE001 - the task raises it as its own error (see BrokerClient)
            return FAILED, _describe_failure(exc)

    def _read(self, key: str) -> tuple[int, bytes]:
        cached = self.cache.get(key)
        if cached is not None:
            return OK, cached
        if key in self.large:
            return LARGE, b""
        data = self.storage.get(key, at_most=BROKER_BYTES)
        if data is None:
            if len(self.large) < KNOWN_LARGE:
                self.large.add(key)
            return LARGE, b""
        found = bytes(data)
        self.cache.keep(key, found)
        return OK, found


def start_broker(storage: S3Storage) -> tuple[str, Callable[[], None]]:
    """Fork the broker process for `storage`; (its socket's path, what stops it)."""
    from .._process import name_this_process, parent_death_signal

    folder = tempfile.mkdtemp(prefix="artiflow-s3-")
    path = os.path.join(folder, "broker")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(128)
    except OSError:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    die_with_parent = parent_death_signal()
    pid = os.fork()
    if pid == 0:
        name_this_process(BROKER_PROCESS_NAME)
        _broker_process(storage, listener, die_with_parent)  # never returns
    listener.close()

    def stop() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # it holds nothing to finish: every request it answered is done
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        shutil.rmtree(folder, ignore_errors=True)

    return path, stop


def _broker_process(storage: S3Storage, listener: socket.socket, die_with_parent: Callable[[], None]) -> None:
    code = 0
    try:
        os.setpgid(0, 0)  # the terminal's Ctrl-C goes to the runner, which stops us
        die_with_parent()
        with contextlib.suppress(ValueError):  # not the main thread: nothing was set here
            signal.set_wakeup_fd(-1)  # the parent's wake-up pipe is not ours to write to
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        BlobBroker(storage, listener).serve_forever()
    except BaseException:  # noqa: BLE001 - never fall back into the parent's code
        code = 70
    finally:
        os._exit(code)


class BrokerGone(Exception):
    """The broker did not answer (its process was killed, or its socket is gone): the task goes on alone."""


class BrokerClient:
    """A forked task's side: one connection to its parent's broker, requests one at a time."""

    def __init__(self, path: str) -> None:
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.conn.connect(path)
        except OSError as exc:
            self.conn.close()
            raise BrokerGone(str(exc)) from exc

    def put(self, key: str, views: list[memoryview]) -> None:
        self._request(PUT, key, views)

    def get(self, key: str) -> memoryview | None:
        """The blob's bytes (a writable buffer); None if it is too large for the broker; FileNotFoundError if absent."""
        return self._request(GET, key, [])

    def _request(self, operation: int, key: str, views: list[memoryview]) -> memoryview | None:
        try:
            status, payload = self._exchange(operation, key, views)
        except (OSError, EOFError) as exc:
            raise BrokerGone(str(exc)) from exc
        if status == OK:
            return payload
        if status == MISSING:
            raise FileNotFoundError(2, "The blob is not stored", key)
        if status == LARGE:
            return None
        raise _failure(bytes(payload))

    def _exchange(self, operation: int, key: str, views: list[memoryview]) -> tuple[int, memoryview]:
        name = key.encode()
        self.conn.sendall(REQUEST.pack(operation, len(name), sum(v.nbytes for v in views)) + name)
        for view in views:
            self.conn.sendall(view)
        status, length = REPLY.unpack(_receive(self.conn, REPLY.size))
        payload = memoryview(bytearray(length))
        _receive_into(self.conn, payload)
        return status, payload


def _receive(conn: socket.socket, size: int) -> bytes:
    buffer = memoryview(bytearray(size))
    _receive_into(conn, buffer)
    return buffer.tobytes()


def _receive_into(conn: socket.socket, buffer: memoryview) -> None:
    done = 0
    while done < buffer.nbytes:
        got = conn.recv_into(buffer[done:])
        if not got:
            raise EOFError("the other side hung up")
        done += got


def _describe_failure(exc: Exception) -> bytes:
    from ..exceptions import ArtiflowException

    message = exc.message if isinstance(exc, ArtiflowException) else f"{type(exc).__name__}: {exc}"
    return json.dumps({"kind": type(exc).__name__, "message": message}).encode()


def _failure(payload: bytes) -> Exception:
    """The error the broker met, as the same kind of artiflow error in the task."""
    from ..exceptions import ConfigError
    from .s3errors import S3Error

    failure = json.loads(payload)
    kind: Callable[[str], Exception] = ConfigError if failure["kind"] == "ConfigError" else S3Error
    return kind(failure["message"])
