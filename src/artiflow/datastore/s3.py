"""The S3 storage backend: blobs as objects `<prefix>/blobs/ab/cdef...` of one bucket, moved with boto3.

Written against the public `Storage` interface (docs/storage.md) and registered like a plug-in, under `s3://`.
S3 makes an object visible only once it is whole (a PutObject, or a completed multipart upload), which gives
the atomic writes the interface asks for; ContentStore verifies every read against the blob's key.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..exceptions import ConfigError
from . import s3gc
from .chunks import byte_view
from .s3errors import BOTO3_MISSING, error_code, is_missing, translate
from .s3broker import BROKER_BYTES, BrokerGone
from .s3parts import ObjectChanged, download, stream, upload_multipart
from .storage import KEY_PATTERN, BlobInfo

if TYPE_CHECKING:
    from ..config import Config

DEFAULT_MULTIPART_BYTES = 64 << 20  # blobs this big or bigger go as multipart uploads
# blobs smaller than this are PUT without a HEAD first: a PUT of bytes already stored is harmless (the same key
# has the same content), and costs one request, as the HEAD would; bigger ones are worth not re-sending
UNASKED_PUT_BYTES = 256 << 10
PART_BYTES = 8 << 20  # the size of an upload part (at most; as boto3's transfers use)
RANGE_BYTES = 16 << 20  # the size of a ranged read (at most): fewer requests, each still quick
MIN_PART_BYTES = 5 << 20  # S3's smallest part (but the last)
MAX_PARTS = 10_000  # S3's most parts in one upload
DEFAULT_MAX_ATTEMPTS = 8
# gc deletes only what went unused (or to the trash) this long before it started: S3's clock and this machine's may
# differ by up to 15 minutes (AWS refuses requests signed further off), and S3 times are whole seconds (so at
# least 1 s, which ARTIFLOW_S3_GC_MARGIN_SECONDS may set, e.g. in tests)
DEFAULT_GC_MARGIN_SECONDS = 1200
DEFAULT_CONCURRENCY = 10
READ_ATTEMPTS_ON_CHANGE = 3  # whole re-reads of an object replaced while it was being read


@dataclass(frozen=True)
class S3Settings:
    """How the backend talks to S3: endpoint (None: AWS), multipart threshold, attempts per request, threads."""

    endpoint_url: str | None = None
    multipart_bytes: int = DEFAULT_MULTIPART_BYTES
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    concurrency: int = DEFAULT_CONCURRENCY
    gc_margin_seconds: int = DEFAULT_GC_MARGIN_SECONDS

    @classmethod
    def from_env(cls, endpoint_url: str | None) -> S3Settings:
        """The settings of this process: ARTIFLOW_S3_MULTIPART_BYTES, _MAX_ATTEMPTS, _CONCURRENCY,
        _GC_MARGIN_SECONDS (+ the endpoint)."""
        return cls(endpoint_url=endpoint_url,
                   multipart_bytes=_positive_int("ARTIFLOW_S3_MULTIPART_BYTES", DEFAULT_MULTIPART_BYTES),
                   max_attempts=_positive_int("ARTIFLOW_S3_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS),
                   concurrency=_positive_int("ARTIFLOW_S3_CONCURRENCY", DEFAULT_CONCURRENCY),
                   gc_margin_seconds=_positive_int("ARTIFLOW_S3_GC_MARGIN_SECONDS", DEFAULT_GC_MARGIN_SECONDS))

    def part_bytes(self, size: int) -> int:
        """The upload part size for a blob of `size` bytes: PART_BYTES (no more than the threshold, no less than
        S3's minimum), grown so the blob needs no more than S3's 10,000 parts."""
        part = max(MIN_PART_BYTES, min(PART_BYTES, self.multipart_bytes))
        return max(part, -(-size // MAX_PARTS))

    def range_bytes(self) -> int:
        """The size of one ranged GET of a large blob (and of the first GET of any blob)."""
        return max(MIN_PART_BYTES, min(RANGE_BYTES, self.multipart_bytes))


def _positive_int(name: str, default: int) -> int:
    """A positive whole number from the environment variable `name` (unset or empty: `default`)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name}={raw!r} is not a positive whole number; unset it for the default ({default}).")
    return value


def parse_root(root: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix"); a ConfigError for a root with no bucket."""
    rest = root.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"The datastore root {root!r} names no bucket; write it s3://bucket or s3://bucket/prefix "
                          f"(ARTIFLOW_DATASTORE_ROOT, or METAFLOW_DATATOOLS_S3ROOT).")
    return bucket, prefix.strip("/")


class S3Storage:
    """Blobs in an S3 bucket under a prefix. One boto3 client per process: a task forked from the runner never
    uses the parent's client, whose connections it would share, but a spare one the parent made and never used
    (so it has no connection yet), which saves each task the ~10 ms of making a client. Once the parent serves
    its forked tasks (`serve_forked_tasks`), their small blobs go through its broker instead (s3broker.py)."""

    supports_gc = True
    defers_deletes = True  # gc moves unused blobs to a trash and deletes them at a later gc: see s3gc.py
    stale_temp_noun = "unfinished multipart upload"  # what stale_temp_files finds

    def __init__(self, bucket: str, prefix: str = "", settings: S3Settings | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.settings = settings or S3Settings()
        self._boto3 = _import_boto3(self.describe())
        self._session: Any = None
        self._client_of: tuple[int, Any] | None = None  # (pid, client)
        self._spare: tuple[int, Any] | None = None  # (pid of its maker, which never uses it; a client)
        self._broker: tuple[int, str] | None = None  # (pid of the process serving its forked tasks; its socket)
        self._broker_client: tuple[int, Any] | None = None  # (pid, BrokerClient) in a task forked from it
        self.gc_margin_seconds = float(self.settings.gc_margin_seconds)

    @classmethod
    def from_root(cls, root: str, config: Config) -> S3Storage:
        """The storage a `s3://bucket/prefix` root names, with the endpoint from `config` and settings from the env."""
        bucket, prefix = parse_root(root)
        return cls(bucket, prefix, S3Settings.from_env(config.s3_endpoint_url))

    def describe(self) -> str:
        """The datastore's address, for messages: `s3://bucket/prefix`."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def endpoint_description(self) -> str:
        """The endpoint requests go to, and where that came from, for messages."""
        if self.settings.endpoint_url:
            return f"{self.settings.endpoint_url} (ARTIFLOW_S3_ENDPOINT_URL)"
        return "AWS S3 (no ARTIFLOW_S3_ENDPOINT_URL set)"

    def cli_endpoint_flag(self) -> str:
        """` --endpoint-url URL` for an aws CLI command a message suggests, when not on AWS."""
        return f" --endpoint-url {self.settings.endpoint_url}" if self.settings.endpoint_url else ""

    def object_name(self, key: str) -> str:
        """The S3 key of a blob: two-character fan-out, as locally (`<prefix>/blobs/ab/cdef...`)."""
        return self._under("blobs", key[:2], key[2:])

    def _under(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts) if self.prefix else parts)

    def blobs_prefix(self) -> str:
        """The S3 key prefix of every blob: `<prefix>/blobs/`."""
        return self._under("blobs", "")

    def trash_prefix(self) -> str:
        """The S3 key prefix of the blobs a gc moved aside: `<prefix>/trash/`."""
        return self._under("trash", "")

    def trash_name(self, key: str, stamp: str) -> str:
        """The S3 key of one trash entry of a blob: `<prefix>/trash/<key>.<stamp>` (each gc stamps its own)."""
        return self._under("trash", f"{key}.{stamp}")

    # -- the client -------------------------------------------------------------------------------
    def client(self) -> Any:
        """This process's boto3 client (another after a fork: sockets must not be shared with the parent)."""
        pid = os.getpid()
        if self._client_of is None or self._client_of[0] != pid:
            self._client_of = (pid, self._spare_for(pid) or self._new_client())
        return self._client_of[1]

    def _spare_for(self, pid: int) -> Any:
        """The spare client, taken by a process forked from its maker (the first to make a client makes it:
        it is the runner whose tasks are forked); None in the maker itself and once taken."""
        if self._spare is None:
            if self._client_of is None:  # the first client of this storage: the one that forks tasks
                self._spare = (pid, self._new_client())
            return None
        maker, spare = self._spare
        if maker == pid:
            return None
        self._spare = None  # used from now on: a process forked from this one must not take it too
        return spare

    def _new_client(self) -> Any:
        """A client with botocore's standard retries (throttling, 5xx, dropped connections, with backoff)."""
        from botocore.config import Config as BotoConfig

        if self._session is None:
            self._session = self._boto3.session.Session()  # credentials and region: the boto3 way
        config = BotoConfig(
            retries={"mode": "standard", "max_attempts": self.settings.max_attempts},
            max_pool_connections=self.settings.concurrency + 2,
            connect_timeout=10, read_timeout=60,
            # botocore's default CRC32 checksums stay on: with them it sends bodies unsigned over plain HTTP
            # (an S3-compatible endpoint), where it would otherwise SHA-256 every byte (2x slower uploads)
            s3={"addressing_style": "path"} if self.settings.endpoint_url else None)
        return self._session.client("s3", endpoint_url=self.settings.endpoint_url, config=config)

    # -- the broker: small blobs of forked tasks go through their parent (s3broker.py says why) -------------
    def serve_forked_tasks(self) -> Callable[[], None]:
        """Serve the small-blob requests of the tasks this process forks from now on; returns the closer."""
        from .s3broker import start_broker

        path, stop = start_broker(self)
        self._broker = (os.getpid(), path)

        def close() -> None:
            self._broker = None
            stop()

        return close

    def for_broker(self) -> S3Storage:
        """A copy with its own session and client, for the broker process (nothing of this one's is reused)."""
        return S3Storage(self.bucket, self.prefix, self.settings)

    def _through_broker(self, operation: str, key: str, *args: Any) -> Any:
        """Ask the parent's broker (None/False: no broker here, the blob is too large for it, or it is gone).

        A broker that stopped answering (its process was killed) is forgotten: this task goes on alone.
        """
        try:
            broker = self._broker_for_task()
            if broker is None:
                return None
            found = getattr(broker, operation)(key, *args)
        except BrokerGone:
            self._broker = None
            return None
        return True if operation == "put" else found

    def _broker_for_task(self) -> Any:
        """This forked task's connection to its parent's broker, or None (no broker, or this is its process)."""
        if self._broker is None:
            return None
        pid = os.getpid()
        maker, path = self._broker
        if maker == pid:
            return None
        if self._broker_client is None or self._broker_client[0] != pid:
            from .s3broker import BrokerClient

            self._broker_client = (pid, BrokerClient(path))
        return self._broker_client[1]

    @contextlib.contextmanager
    def _calling(self, operation: str, what: str) -> Iterator[None]:
        """Turn a botocore error into the artiflow error that says what went wrong and what to do."""
        import botocore.exceptions as bce

        try:
            yield
        except (bce.BotoCoreError, bce.ClientError, ConnectionError) as exc:
            raise translate(exc, operation, what, self) from exc

    # -- Storage ----------------------------------------------------------------------------------
    def cheaper_to_put(self, size: int) -> bool:
        """Whether a blob of `size` bytes is better PUT again than asked about first (one request, not two)."""
        return size < UNASKED_PUT_BYTES

    def exists(self, key: str, size: int | None = None) -> bool:
        """Whether the blob is stored whole (HeadObject; with the given size). S3 keeps no last-use time to mark."""
        with self._calling("HeadObject", f"blob {key}"):
            try:
                found = self.client().head_object(Bucket=self.bucket, Key=self.object_name(key))
            except Exception as exc:
                if is_missing(exc):
                    return False
                raise
        return size is None or found["ContentLength"] == size

    def put(self, key: str, chunks: Iterable[bytes | memoryview]) -> None:
        """Store the blob: one PutObject when small, else a parallel multipart upload straight from the chunks.

        Either way the object appears whole or not at all; a failed multipart upload is aborted.
        """
        views = [byte_view(chunk) for chunk in chunks]
        size = sum(view.nbytes for view in views)
        if size <= BROKER_BYTES and self._through_broker("put", key, views):
            return
        name = self.object_name(key)
        with self._calling("upload", f"blob {key} ({size} bytes)"):
            if size < self.settings.multipart_bytes:
                self.client().put_object(Bucket=self.bucket, Key=name, Body=b"".join(views))
            else:
                upload_multipart(self.client(), self.bucket, name, views, self.settings.part_bytes(size),
                                 self.settings.concurrency)

    def get(self, key: str, at_most: int | None = None) -> memoryview | None:
        """The blob's bytes in a writable buffer (large: ranged GETs in parallel); FileNotFoundError if absent.

        A blob a gc moved to the trash while a run still relied on it is read from there (and put back).
        With `at_most`, None for a blob larger than that (after one request; what a broker asks).
        """
        found = self._through_broker("get", key)
        if found is not None:
            return found
        try:
            return self.download(self.object_name(key), at_most)
        except FileNotFoundError:
            with self._calling("read from the trash", f"blob {key}"):
                found = s3gc.read_from_trash(self, key)
            if found is None:
                raise
            return found

    def download(self, name: str, at_most: int | None = None) -> memoryview | None:
        """An object's bytes; one replaced while being read (a rewrite after quarantine) is read again whole.

        None if `at_most` is given and the object is larger."""
        what = f"object {name}"
        for _ in range(READ_ATTEMPTS_ON_CHANGE):
            with self._calling("download", what):
                try:
                    return download(self.client(), self.bucket, name, self.settings.range_bytes(),
                                    self.settings.concurrency, self.settings.max_attempts, at_most)
                except ObjectChanged:
                    continue
                except Exception as exc:
                    if is_missing(exc):
                        raise FileNotFoundError(2, "The blob is not stored", f"s3://{self.bucket}/{name}") from None
                    raise
        raise ConfigError(f"The object s3://{self.bucket}/{name} kept changing while it was read "
                          f"({READ_ATTEMPTS_ON_CHANGE} times): something other than artiflow is writing it.")

    def stream(self, key: str) -> tuple[int, Iterator[memoryview]]:
        """The blob's size and its bytes in ranged pieces, in order (a download to a browser: memory stays at one
        range); FileNotFoundError if absent. Not verified here: the caller checks the key as the bytes go by."""
        name, what = self.object_name(key), f"blob {key}"
        with self._calling("download", what):
            try:
                total, pieces = stream(self.client(), self.bucket, name, self.settings.range_bytes(),
                                       self.settings.max_attempts)
            except Exception as exc:
                if not is_missing(exc):
                    raise
                found = self.get(key)   # gone from its place: perhaps in the trash (get puts it back)
                return found.nbytes, iter([found])

        def translated() -> Iterator[memoryview]:
            with self._calling("download", what):
                try:
                    yield from pieces
                except ObjectChanged:
                    raise ConfigError(f"The object s3://{self.bucket}/{name} was replaced while it was read; "
                                      f"read it again.") from None

        return total, translated()

    def quarantine(self, key: str, is_bad: Callable[[memoryview], bool]) -> str | None:
        """Copy the blob to `<prefix>/quarantine/<key>.<stamp>` and delete it, if what is stored now is still bad.

        Copy and delete are conditional on the ETag of the bytes judged bad, so a good copy a writer has just
        stored is left alone (None is returned then, as when the blob is gone).
        """
        name = self.object_name(key)
        client = self.client()
        with self._calling("quarantine", f"blob {key}"):
            try:
                found = client.get_object(Bucket=self.bucket, Key=name)
            except Exception as exc:
                if is_missing(exc):
                    return None
                raise
            data, etag = memoryview(found["Body"].read()), found["ETag"]
            if not is_bad(data):
                return None
            aside = self._under("quarantine", f"{key}.{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(3).hex()}")
            if not self._copy_if_unchanged(name, aside, etag) or not self._delete_if_unchanged(name, etag):
                return None
        return f"s3://{self.bucket}/{aside}"

    def _copy_if_unchanged(self, name: str, target: str, etag: str) -> bool:
        """Server-side copy of the object, only if it still has `etag`; whether it was copied."""
        try:
            self.client().copy_object(Bucket=self.bucket, Key=target, CopySourceIfMatch=etag,
                                      CopySource={"Bucket": self.bucket, "Key": name})
        except Exception as exc:
            if error_code(exc) in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                return False
            raise
        return True

    def _delete_if_unchanged(self, name: str, etag: str) -> bool:
        """Delete the object if it still has `etag` (unconditionally where the server cannot say); whether it went."""
        client = self.client()
        try:
            client.delete_object(Bucket=self.bucket, Key=name, IfMatch=etag)
        except Exception as exc:
            code = error_code(exc)
            if code in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                return False
            if code not in ("NotImplemented", "501", "InvalidArgument"):
                raise
            client.delete_object(Bucket=self.bucket, Key=name)
        return True

    def quarantined_copies(self, key: str) -> list[str]:
        """Where the bad copies of a blob moved aside so far are (`s3://...`), oldest first."""
        names = [item["Key"] for item in self.listing(self._under("quarantine", f"{key}."))]
        return [f"s3://{self.bucket}/{name}" for name in sorted(names)]

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to group: an S3 write is durable when its request returns."""
        return contextlib.nullcontext()

    # -- gc: iter_blobs lists, gc.py decides, s3gc moves aside and deletes (its docstring says why it is safe) --
    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob with its size and upload time (objects not named by a key are skipped)."""
        start = len(self.blobs_prefix())
        for item in self.listing(self.blobs_prefix()):
            key = item["Key"][start:].replace("/", "", 1)
            if KEY_PATTERN.fullmatch(key):
                yield BlobInfo(key, item["Size"], item["LastModified"].timestamp())

    def set_aside(self, blobs: Iterable[BlobInfo]) -> tuple[int, int]:
        """Move unused blobs to the trash (copies, then batched deletes); (blobs moved, bytes)."""
        with self._calling("move to the trash", "unused blobs"):
            return s3gc.set_aside(self, blobs)

    def settle_trash(self, refs: set[str], cutoff: float, dry_run: bool = False) -> s3gc.TrashSettled:
        """Put back the trash entries a record names; delete the others that went there before `cutoff`."""
        with self._calling("empty the trash", f"{self.describe()}/trash/"):
            return s3gc.settle_trash(self, refs, cutoff, dry_run)

    def restore_trash(self) -> int:
        """Nothing at a gc's start: on S3 the trash is judged once the references are read (settle_trash)."""
        return 0

    def stale_temp_files(self, grace: float, remove: bool) -> list[tuple[str, int]]:
        """Multipart uploads never completed, begun over `grace` seconds ago (aborted when `remove`)."""
        with self._calling("clean up", "unfinished multipart uploads"):
            return s3gc.abandoned_uploads(self, grace, remove)

    def failure(self, operation: str, what: str, code: str, message: str) -> Exception:
        """The artiflow error of a request that S3 answered with an error inside a 200 (DeleteObjects' Errors)."""
        from botocore.exceptions import ClientError

        return translate(ClientError({"Error": {"Code": code, "Message": message}}, operation), operation, what, self)

    def listing(self, prefix: str) -> Iterator[dict]:
        """The objects under `prefix`, page by page (ListObjectsV2)."""
        with self._calling("ListObjectsV2", f"prefix {prefix}"):
            for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", [])


def _import_boto3(root: str) -> Any:
    """boto3, or a ConfigError saying how to install it."""
    try:
        import boto3
    except ImportError:
        raise ConfigError(BOTO3_MISSING.format(root=root, python=sys.executable)) from None
    return boto3
