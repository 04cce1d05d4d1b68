"""A real S3-compatible server for tests: `moto_server` (from moto[server]) on 127.0.0.1, in a subprocess.

Also a fault-injecting TCP proxy to put between a client and it: per connection it passes, resets, answers
503, delays, or cuts the response off mid-stream, following a fixed cycle so tests are repeatable.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Iterator

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def moto_server_command() -> list[str]:
    """The moto_server console script of this Python's environment."""
    script = Path(sys.executable).with_name("moto_server")
    found = str(script) if script.exists() else shutil.which("moto_server")
    if not found:
        raise RuntimeError("moto_server is not installed: pip install 'moto[server]>=5' (the test extra has it)")
    return [found]


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start moto_server on a free port, wait until it answers, yield its endpoint URL, stop it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # its log (a line per request) goes to a file: a pipe nobody reads would fill up and stall the server
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([*moto_server_command(), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(endpoint, proc, log)
            yield endpoint
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_up(endpoint: str, proc: subprocess.Popen, log: IO[bytes]) -> None:
    """Poll the server until it answers HTTP (or fail with its output if it died)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"moto_server exited with {proc.returncode}: {log.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto_server did not answer on {endpoint} within {START_TIMEOUT} s")


def s3_client(endpoint: str):
    """A plain boto3 client of the test server (for setting up buckets and tampering with objects)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


SERVICE_UNAVAILABLE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                       b"Content-Length: %d\r\nConnection: close\r\n\r\n%s")
UNAVAILABLE_BODY = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>ServiceUnavailable</Code>"
                    b"<Message>injected by the test proxy</Message></Error>")


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of `upstream`, one request per connection (it adds Connection: close),
    applying the faults of `cycle` in turn: pass, reset, 503, delay, cut (response reset after some bytes: what
    the client had not read yet is lost too), short (response ended after some bytes, which all arrive).
    With `only`, faults go only to requests whose request line contains it; the others pass."""

    def __init__(self, upstream: str, cycle: list[str], delay: float = 0.3, cut_after: int = 2048,
                 only: str | None = None) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.faults = itertools.cycle(cycle)
        self.only = only.encode() if only else None
        self.delay, self.cut_after = delay, cut_after
        self.seen: list[str] = []  # the faults applied, in order
        self.heads: list[bytes] = []  # the header blocks of all requests, in order
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _fault_for(self, head: bytes) -> str:
        """The next fault of the cycle for this request (or pass, if `only` rules it out); recorded in `seen`."""
        with self._lock:
            self.heads.append(head)
        if self.only is not None and self.only not in head.split(b"\r\n", 1)[0]:
            return "pass"
        with self._lock:
            fault = next(self.faults)
            self.seen.append(fault)
        return fault

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            head, rest = _read_head(conn)
            if head is None:
                return
            fault = self._fault_for(head)
            if fault == "reset":
                _reset(conn)
                return
            body = _read_body(conn, head, rest)
            if fault == "503":
                conn.sendall(SERVICE_UNAVAILABLE % (len(UNAVAILABLE_BODY), UNAVAILABLE_BODY))
                return
            if fault == "delay":
                time.sleep(self.delay)
            with socket.create_connection(self.upstream) as up:
                up.sendall(_closing(head) + body)
                self._relay_response(up, conn, cut=fault if fault in ("cut", "short") else None)

    def _relay_response(self, up: socket.socket, conn: socket.socket, cut: str | None) -> None:
        """Copy the server's answer to the client; with `cut`, end it after `cut_after` bytes: reset the connection
        ("cut"), or close it in order ("short": the client reads every byte sent, then the end of the stream)."""
        sent = 0
        while data := up.recv(1 << 16):
            if cut and sent + len(data) > self.cut_after:
                conn.sendall(data[: max(0, self.cut_after - sent)])
                if cut == "cut":
                    _reset(conn)
                else:
                    conn.shutdown(socket.SHUT_WR)
                return
            conn.sendall(data)
            sent += len(data)


def range_starts(heads: list[bytes]) -> list[int]:
    """The first byte of each ranged GET among the requests' header blocks."""
    starts = []
    for head in heads:
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"range: bytes="):
                starts.append(int(line.split(b"=", 1)[1].split(b"-", 1)[0]))
    return starts


def _read_head(conn: socket.socket) -> tuple[bytes | None, bytes]:
    """A request's header block and whatever of its body came with it (None: the client went away)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(1 << 16)
        if not more:
            return None, b""
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _closing(head: bytes) -> bytes:
    """The header block with `Connection: close`, so the server answers one request and closes (and without
    `Expect`: the proxy has the body already, having answered 100 Continue itself)."""
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith((b"connection:", b"expect:"))]
    return b"\r\n".join(lines + [b"Connection: close"]) + b"\r\n\r\n"


def _read_body(conn: socket.socket, head: bytes, rest: bytes) -> bytes:
    """The whole request body (botocore sends a Content-Length; a chunked body would be a surprise here)."""
    headers = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
    headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
    assert b"transfer-encoding" not in headers, "the test proxy only relays requests with a Content-Length"
    if headers.get(b"expect", b"").lower() == b"100-continue":  # botocore waits (1 s) for this before the body
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    length = int(headers.get(b"content-length", b"0"))
    chunks, have = [rest], len(rest)
    while have < length:
        more = conn.recv(min(1 << 20, length - have))
        if not more:
            break
        chunks.append(more)
        have += len(more)
    return b"".join(chunks)


def _reset(conn: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a dropped connection looks to the client."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def s3_env(endpoint: str, root: str, **extra: str) -> dict[str, str]:
    """The environment of a flow run on an S3 datastore at `root` of the server at `endpoint`."""
    return {**CREDENTIALS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "ARTIFLOW_DATASTORE_ROOT": root, "ARTIFLOW_S3_ENDPOINT_URL": endpoint, **extra}
