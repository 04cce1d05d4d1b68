"""A real PostgreSQL server for tests: Debian's binaries (the `postgresql` package) on 127.0.0.1 and a free port,
its data and unix socket in a temporary folder, run as the `postgres` system user when we are root (PostgreSQL
refuses to run as root). Tests get an empty database each: a schema of their own (`new_schema()`, the
cheap way), or a whole database (`new_database()`).

Tests connect as the role `artiflow` with a password over TCP (so URLs carry a password, as in production); the
admin connection is the superuser over the unix socket (trust). Durability is off (fsync, synchronous_commit):
the data is thrown away at the end of the session anyway.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

SERVER_GLOB = "/usr/lib/postgresql/*/bin/postgres"
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
ROLE, PASSWORD = "artiflow", "test pass/@:1"  # characters a URL must quote, so quoting is tested too
START_TIMEOUT = 60.0
INSTALL_HINT = ("`apt-get install postgresql` (Debian's package), or run `make test` as root, which installs it "
                "(tests/services/ensure_postgres.sh)")
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",  # test data: no durability needed
    "wal_level": "minimal", "max_wal_senders": "0",  # and no replicas: the least WAL
    "max_connections": "300",  # 32 runners at once, each with its scheduler and task processes' clients
    "shared_buffers": "32MB",
    "log_min_messages": "warning", "log_min_error_statement": "panic",  # the log keeps only what explains a failure
}


def bin_dir() -> Path | None:
    """The bin folder of the newest PostgreSQL installed the Debian way, or None."""
    found = sorted(glob.glob(SERVER_GLOB), key=_major_version)
    return Path(found[-1]).parent if found else None


def _major_version(server: str) -> int:
    """15 for /usr/lib/postgresql/15/bin/postgres (0 for a folder name that is not a number)."""
    name = Path(server).parents[1].name
    return int(name) if name.isdigit() else 0


def unavailable_reason() -> str | None:
    """Why a test server cannot be started here (None when it can)."""
    if bin_dir() is None:
        return f"PostgreSQL's server is not installed (no {SERVER_GLOB}): {INSTALL_HINT}."
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed: pip install 'artiflow[postgres]' (the test extra has it)."
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return (f"we run as root, which PostgreSQL refuses, and there is no {SYSTEM_USER!r} system user to run "
                    f"it as: {INSTALL_HINT} creates it.")
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster made by initdb in `base` and served by a `postgres` process until `stop()`."""

    def __init__(self, base: Path) -> None:
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError(unavailable_reason())
        self.base = base
        self.data, self.sockets, self.log = base / "data", base / "sockets", base / "server.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._names = itertools.count(1)
        self._admins: dict = {}  # database -> the admin connection new_database() and new_schema() use
        self._shared: str | None = None  # the URL of the database new_schema() makes schemas in

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        self.sockets.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.base, self.sockets)
        self._as_server_user([str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8",
                              "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
                              "--no-instructions"])
        for _ in range(3):  # the free port can be taken by someone else before the server binds it
            self.port = free_port()
            if self._launch():
                break
        else:
            raise RuntimeError(f"PostgreSQL did not start; its log {self.log}:\n{self._log_tail()}")
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: abort sessions, exit cleanly), killed if it hangs; the folder is removed."""
        for conn in self._admins.values():
            conn.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)

    def _launch(self) -> bool:
        """Start `postgres` on self.port; True once it answers, False if it exited (e.g. the port was taken)."""
        options = [arg for name, value in {**SETTINGS, "port": str(self.port),
                                           "unix_socket_directories": str(self.sockets)}.items()
                   for arg in ("-c", f"{name}={value}")]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(self.bin / "postgres"), "-D", str(self.data), *options],
                                         stdout=log, stderr=subprocess.STDOUT, **self._server_user())
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(Exception):
                self.admin().close()
                return True
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"PostgreSQL did not answer within {START_TIMEOUT:g} s; its log:\n{self._log_tail()}")

    # -- running as the server's user ----------------------------------------------------------------
    @staticmethod
    def _server_user() -> dict:
        """Popen arguments that run a program as the postgres system user when we are root (else as ourselves)."""
        if os.geteuid() != 0:
            return {}
        return {"user": SYSTEM_USER, "group": pwd.getpwnam(SYSTEM_USER).pw_gid, "extra_groups": [],
                "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": "/tmp"}}

    def _hand_over(self, *paths: Path) -> None:
        """Give the folders to the server's user (root only: otherwise they are ours already)."""
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            for path in paths:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _as_server_user(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.base, **self._server_user())
        if done.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"

    # -- connections and databases -----------------------------------------------------------------
    def admin(self, dbname: str = "postgres"):
        """An autocommit superuser connection over the unix socket (close it, or use it in `with`)."""
        import psycopg

        return psycopg.connect(host=str(self.sockets), port=self.port, user=SUPERUSER, dbname=dbname,
                               autocommit=True, connect_timeout=5)

    def url(self, dbname: str, user: str = ROLE, password: str | None = PASSWORD, scheme: str = "postgresql") -> str:
        """The URL a user gives artiflow for `dbname` on this server (TCP, password authentication)."""
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
        return f"{scheme}://{auth}@127.0.0.1:{self.port}/{dbname}"

    def new_schema(self) -> str:
        """A URL whose tables live in a new, empty schema of the shared test database (a few ms; nothing to
        copy, nothing left on disk): `?options=-csearch_path=...` puts artiflow's tables in it."""
        name = f"s_{os.getpid()}_{next(self._names)}"
        if self._shared is None:
            self._shared = self.new_database("shared")
        self._admin_connection(self._shared.rsplit("/", 1)[1]).execute(f"CREATE SCHEMA {name} AUTHORIZATION {ROLE}")
        return f"{self._shared}?options=-csearch_path%3D{name}"

    def _admin_connection(self, dbname: str):
        """The admin connection to `dbname` kept for making databases and schemas."""
        conn = self._admins.get(dbname)
        if conn is None or conn.closed:
            conn = self._admins[dbname] = self.admin(dbname)
        return conn

    def new_database(self, prefix: str = "t", owner: str = ROLE) -> str:
        """Create an empty database (owned by the test role, unless told) and give the test role's URL of it.

        A copy of template0 (~8 MB of files: 20-500 ms, depending on the disk); new_schema() is cheaper."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self._admin_connection("postgres").execute(f"CREATE DATABASE {name} OWNER {owner} TEMPLATE template0")
        return self.url(name)


def _scratch_dir() -> str | None:
    """Where the cluster goes: shared memory when there is some (making tables per test is file work), else
    /tmp; either way a short path (unix socket paths are limited to ~100 bytes)."""
    for folder in ("/dev/shm", "/tmp"):
        if os.path.isdir(folder) and os.access(folder, os.W_OK):
            return folder
    return None


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started server in a fresh folder (removed when it stops)."""
    base = Path(tempfile.mkdtemp(prefix="af-pg-", dir=_scratch_dir()))
    server = PostgresServer(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
