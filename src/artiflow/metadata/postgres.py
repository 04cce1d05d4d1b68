"""The metadata store on PostgreSQL (`ARTIFLOW_METADATA_URL=postgresql://USER:PASSWORD@HOST:PORT/DATABASE`).

The SQL is the core's (metadata.sql); here: its dialect (types, placeholders, row locks, an advisory
lock around migrations), one psycopg 3 connection per store and process in autocommit mode (the core
sends BEGIN/COMMIT: a batch is one transaction; the core opens it again after a fork or when the
server dropped it), the server's clock for every timestamp, and psycopg's errors as messages that
say what to do. psycopg is imported only when such a store is opened.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..exceptions import ConfigError, MetadataError
from .dialect import Dialect
from .sql import SQLMetadata
from .sqlite import busy_timeout

SCHEMA_LOCK_KEY = 0x61727469666C6F77  # b"artiflow" as a number: the advisory lock a migration holds
POSTGRES = Dialect(
    name="postgresql",
    placeholder="%s",
    begin_write="BEGIN",
    # REAL is 4 bytes in PostgreSQL: epoch seconds need DOUBLE PRECISION; ids and sizes may pass 2**31
    types=(("INTEGER", "BIGINT"), ("REAL", "DOUBLE PRECISION"), ("BLOB", "BYTEA")),
    order_column="seq",
    order_column_ddl="seq BIGINT GENERATED ALWAYS AS IDENTITY, ",
    greatest="GREATEST",
    lock_row=" FOR UPDATE",  # a tag change holds its run's row: concurrent changes apply one after the other
    schema_lock=f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})",
    # TOAST would compress each large bytea (pglz: 0.4 s for 100,000 metric points) for nothing gained
    uncompressed="ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL",
    lock_table="LOCK TABLE {table} IN EXCLUSIVE MODE",  # readers go on; writers wait (gc's preview sweep)
)
CLOCK = "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8"
CLOCK_RESYNC_SECONDS = 60.0  # how long the server's time is extrapolated from this machine's monotonic clock
CONNECT_TIMEOUT = 10  # seconds, unless the URL says (connect_timeout=...)
URL_FORM = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def redact(url: str) -> str:
    """The URL without its password (`postgresql://alice:***@db:5432/flows`), for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        auth, _, host = netloc.rpartition("@")
        if ":" in auth:
            netloc = f"{auth.split(':', 1)[0]}:***@{host}"
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _import_psycopg(where: str) -> Any:
    """psycopg 3, or a ConfigError saying how to install it."""
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError(f"The metadata URL {where} is a PostgreSQL database, which needs psycopg 3: "
                          f"pip install 'artiflow[postgres]'.") from exc
    return psycopg


# what a failure means, told by libpq's words (a failed connection has no SQLSTATE) or the error's SQLSTATE;
# {where} is the URL without its password, {detail} the server's or libpq's own words, {name} the database
UNREACHABLE = ("Connection refused", "could not connect", "failed to resolve host", "timeout expired",
               "server closed the connection", "connection is closed", "Is the server running", "No route to host",
               "Network is unreachable", "consuming input failed", "the connection is lost", "terminating connection",
               "the database system is starting up", "the database system is shutting down")
ADVICE = (
    (("authentication failed", "no password supplied"), ("28P01", "28000"),
     "The PostgreSQL server refused the login to the metadata database {where} ({detail}). Check the user and "
     "password in ARTIFLOW_METADATA_URL (" + URL_FORM + "; a special character in the password is written %XX, "
     "e.g. @ as %40)."),
    (('role "',), (),
     "The PostgreSQL server of the metadata database {where} has no such user ({detail}). Check the user in "
     "ARTIFLOW_METADATA_URL (" + URL_FORM + "), or create it (`createuser --pwprompt NAME`)."),
    (("does not exist",), ("3D000",),
     "The metadata database {name!r} does not exist on the PostgreSQL server of {where}. Create it once, e.g. "
     "`createdb {name}` or `CREATE DATABASE \"{name}\";` in psql (artiflow makes its tables itself), or fix "
     "ARTIFLOW_METADATA_URL."),
    (("too many clients",), ("53300",),
     "The PostgreSQL server of {where} has no free connection ({detail}). Raise its max_connections, or run fewer "
     "runs and tasks at once."),
    (UNREACHABLE, ("57P01", "57P02", "57P03", "08000", "08001", "08003", "08006"),
     "The PostgreSQL server of the metadata database {where} cannot be reached ({detail}). Check that it is "
     "running and accepts TCP connections, and that ARTIFLOW_METADATA_URL names its host and port."),
    (("invalid dsn", "invalid URI", "invalid integer value", "invalid connection option"), (),
     "ARTIFLOW_METADATA_URL={where} is not a valid PostgreSQL URL ({detail}); the form is " + URL_FORM + "."),
    ((), ("55P03",),  # lock_not_available: lock_timeout passed
     "A row of the metadata database {where} stayed locked by another session for longer than {busy:g} s "
     "(ARTIFLOW_METADATA_BUSY_TIMEOUT). Find it in pg_stat_activity (state 'idle in transaction'), let it finish "
     "or end it, then try again."),
    ((), ("42501",),
     "The PostgreSQL user of {where} may not do what artiflow needs ({detail}). The user must own the database "
     "(or its public schema) so artiflow can make and update its tables."),
    ((), ("53100", "53200"),
     "The PostgreSQL server of {where} is out of disk or memory ({detail}). Free some, then try again (a failed "
     "run continues with: resume)."),
    ((), ("25006",),
     "The PostgreSQL server of {where} is read-only ({detail}): point ARTIFLOW_METADATA_URL at the primary, not a "
     "standby."),
)


def explain(exc: BaseException, url: str) -> MetadataError:
    """A psycopg error as a person reads it: what happened to which database (password hidden), what to do."""
    text = str(exc).strip()
    state = getattr(exc, "sqlstate", None)
    facts = {"where": redact(url), "detail": " ".join(text.rsplit("FATAL:", 1)[-1].split()),  # on one line
             "name": unquote(urlsplit(url).path.lstrip("/")) or "(the user's default database)"}
    for signs, states, advice in ADVICE:
        if state in states or (state is None and any(sign in text for sign in signs)):
            return MetadataError(advice.format(**facts, busy=busy_timeout() if "{busy" in advice else 0))
    return MetadataError(f"The metadata database {facts['where']} failed: {type(exc).__name__}: {facts['detail']}.")


class PostgresMetadata(SQLMetadata):
    """Metadata in a PostgreSQL database that many runners, on many machines, share."""

    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._psycopg = _import_psycopg(redact(url))
        self._errors = (self._psycopg.Error,)
        self._clock: tuple[float, float] | None = None  # (monotonic time, server epoch seconds) of the last sync

    # -- connection -----------------------------------------------------------------------------------
    def _connect(self) -> Any:
        settings = self._psycopg.conninfo.conninfo_to_dict(self.url)
        settings.setdefault("connect_timeout", CONNECT_TIMEOUT)
        settings.setdefault("application_name", "artiflow")
        conn = self._psycopg.connect(**settings, autocommit=True)
        try:
            # a write waits this long for a row another session holds (0 would mean forever: at least 1 ms)
            conn.execute(f"SET lock_timeout = {max(1, int(busy_timeout() * 1000))}")
            self._sync_clock(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _is_disconnect(self, exc: BaseException) -> bool:
        """The server dropped the connection (a restart, an idle timeout, pg_terminate_backend): open it again."""
        conn = self._conn
        return isinstance(exc, self._psycopg.OperationalError) and (conn is None or conn.broken or conn.closed)

    def _explain(self, exc: BaseException) -> MetadataError:
        return explain(exc, self.url)

    def describe(self) -> str:
        return redact(self.url)

    def exists(self) -> bool:
        """A server's database is there to ask (whether it holds runs, queries say); nothing is opened here."""
        return True

    # -- the server's clock ----------------------------------------------------------------------------
    def now(self) -> float:
        """The server's time (epoch seconds): runners and readers on every machine judge heartbeats by it.

        Read from the server on connecting and every CLOCK_RESYNC_SECONDS, extrapolated in between with
        this machine's monotonic clock (which no clock change moves), so a write costs no extra round trip.
        """
        if self._clock_is_stale():
            self._again_if_lost(self._resync_clock)
        synced_at, server = self._clock
        return server + (time.monotonic() - synced_at)

    def _clock_is_stale(self) -> bool:
        return self._clock is None or time.monotonic() - self._clock[0] > CLOCK_RESYNC_SECONDS

    def _resync_clock(self) -> None:
        conn = self.conn  # a new connection reads the clock as it opens
        if self._clock_is_stale():
            self._sync_clock(conn)

    def _sync_clock(self, conn: Any) -> None:
        """Read the server's clock, stamped with this machine's monotonic time halfway through the round trip."""
        before = time.monotonic()
        (server,) = conn.execute(CLOCK).fetchone()
        self._clock = ((before + time.monotonic()) / 2, float(server))


__all__ = ["POSTGRES", "PostgresMetadata", "explain", "redact"]
