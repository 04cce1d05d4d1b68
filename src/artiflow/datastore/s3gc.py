"""Garbage collection on S3, the deferred way: a gc moves unused blobs to a trash, a later gc deletes them.

S3 has no atomic rename and no delete conditioned on a last-use time, so the local store's "rename into the
trash, then re-check" cannot be done in one step. Instead (datastore/gc.py decides what is unused):
- `set_aside` copies each unreferenced blob last written before the cutoff to `<prefix>/trash/<key>.<stamp>-<id>`
  (a server-side copy), then deletes the originals in batches (DeleteObjects). A run that relied on one meanwhile
  still has it: its readers find it in the trash (`read_from_trash`, which puts it back), and the next gc puts
  back every trash entry a record names by then;
- `settle_trash` (the next gc) puts back the entries some record names, and deletes, in batches, those no
  record names that went to the trash before that gc's cutoff, which is before the start of every run that may
  still write: a run that relied on a blob before it went to the trash has recorded it by then, or bounds the
  cutoff. Only this step frees space.
Every trash entry has its own name, so two gcs at once never delete each other's: they need no lock.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .s3errors import error_code, is_missing
from .s3parts import in_parallel
from .storage import KEY_PATTERN, BlobInfo

if TYPE_CHECKING:
    from .s3 import S3Storage

DELETE_BATCH = 1000  # the most keys one DeleteObjects takes
COPY_OBJECT_MAX = 5 << 30  # a bigger object is copied in parts (boto3's managed copy)


@dataclass
class TrashSettled:
    """What `settle_trash` did (or would do): entries put back, entries deleted and their bytes, entries left."""

    restored: int = 0
    deleted: int = 0
    freed: int = 0
    waiting: int = 0


@dataclass(frozen=True)
class TrashEntry:
    """A blob in the trash: its object name, key, size and when it went there (epoch seconds)."""

    name: str
    key: str
    size: int
    moved_at: float


def set_aside(storage: S3Storage, blobs: Iterable[BlobInfo]) -> tuple[int, int]:
    """Move the blobs to the trash, a batch at a time: copy each, then delete the copied originals together.

    Returns (blobs moved, their bytes). A blob gone meanwhile (another gc) is skipped.
    """
    moved = size = 0
    for batch in _batches(blobs, DELETE_BATCH):
        stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(4).hex()}"
        copied = [blob for blob, ok in zip(batch, in_parallel(lambda b: _copy_to_trash(storage, b, stamp), batch,
                                                             storage.settings.concurrency)) if ok]
        delete_objects(storage, [storage.object_name(blob.key) for blob in copied])
        moved += len(copied)
        size += sum(blob.size for blob in copied)
    return moved, size


def _copy_to_trash(storage: S3Storage, blob: BlobInfo, stamp: str) -> bool:
    """Copy a blob to its own trash entry; False if it is gone already."""
    target = storage.trash_name(blob.key, stamp)
    return copy_object(storage, storage.object_name(blob.key), target, blob.size)


def settle_trash(storage: S3Storage, refs: set[str], cutoff: float, dry_run: bool) -> TrashSettled:
    """Put back the trash entries a record names; delete those no record names that went there before `cutoff`."""
    settled = TrashSettled()
    doomed: list[TrashEntry] = []
    for entry in trash_entries(storage):
        if entry.key in refs:
            settled.restored += 1
            if not dry_run:
                restore(storage, entry)
        elif entry.moved_at < cutoff:
            doomed.append(entry)
        else:
            settled.waiting += 1
    settled.deleted, settled.freed = len(doomed), sum(entry.size for entry in doomed)
    if not dry_run:
        delete_objects(storage, [entry.name for entry in doomed])
    return settled


def restore(storage: S3Storage, entry: TrashEntry) -> bool:
    """Copy a trash entry back to its blob's place, then drop the entry; False if the entry is gone."""
    if not copy_object(storage, entry.name, storage.object_name(entry.key), entry.size):
        return False
    delete_objects(storage, [entry.name])
    return True


def trash_entries(storage: S3Storage, key: str = "") -> Iterator[TrashEntry]:
    """The entries in the trash (of one blob, with `key`), from a listing."""
    start = len(storage.trash_prefix())
    for item in storage.listing(storage.trash_prefix() + (f"{key}." if key else "")):
        found, _, _ = item["Key"][start:].partition(".")
        if KEY_PATTERN.fullmatch(found):
            yield TrashEntry(item["Key"], found, item["Size"], item["LastModified"].timestamp())


def read_from_trash(storage: S3Storage, key: str) -> memoryview | None:
    """A blob that a gc moved to the trash while a run still relied on it: put back (best effort), then read.

    None when the trash has no entry for it either.
    """
    entries = sorted(trash_entries(storage, key), key=lambda entry: entry.moved_at)
    for entry in reversed(entries):
        try:
            restore(storage, entry)  # read-only credentials: it is still read from the trash below
        except Exception:  # noqa: BLE001 - putting it back only saves the next reader a listing
            pass
        for name in (storage.object_name(key), entry.name):
            try:
                return storage.download(name)
            except FileNotFoundError:
                continue
    return None


def copy_object(storage: S3Storage, source: str, target: str, size: int) -> bool:
    """Server-side copy within the bucket (in parts past 5 GiB); False if the source is gone."""
    client = storage.client()
    copy_source = {"Bucket": storage.bucket, "Key": source}
    try:
        if size < COPY_OBJECT_MAX:
            client.copy_object(Bucket=storage.bucket, Key=target, CopySource=copy_source)
        else:
            client.copy(copy_source, storage.bucket, target)
    except Exception as exc:
        if is_missing(exc) or error_code(exc) == "NoSuchKey":
            return False
        raise
    return True


def delete_objects(storage: S3Storage, names: list[str]) -> None:
    """Delete the objects, up to 1000 a request (DeleteObjects); one that is gone already counts as deleted."""
    client = storage.client()
    for batch in _batches(names, DELETE_BATCH):
        answer = client.delete_objects(Bucket=storage.bucket,
                                       Delete={"Objects": [{"Key": name} for name in batch], "Quiet": True})
        failed = [error for error in answer.get("Errors", []) if error.get("Code") != "NoSuchKey"]
        if failed:
            first = failed[0]
            raise storage.failure("DeleteObjects", f"{len(failed)} of {len(batch)} objects (first: {first['Key']})",
                                  first.get("Code", "?"), first.get("Message", ""))


def abandoned_uploads(storage: S3Storage, grace: float, remove: bool) -> list[tuple[str, int]]:
    """Multipart uploads begun over `grace` seconds ago that never completed, with the bytes their parts hold:
    aborted when `remove`. (S3's counterpart of a dead writer's temp file; with no pid to ask, their age alone
    says they are abandoned, so `grace` must be longer than the longest upload.)"""
    client = storage.client()
    before = time.time() - grace
    found = []
    for prefix in (storage.blobs_prefix(), storage.trash_prefix()):  # artiflow's own uploads (and copies) only
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=storage.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() < before:
                    found.append((upload, _parts_size(client, storage.bucket, upload)))
    if remove:
        for upload, _ in found:
            try:
                client.abort_multipart_upload(Bucket=storage.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            except Exception as exc:
                if error_code(exc) != "NoSuchUpload":  # completed or aborted meanwhile
                    raise
    return [(f"s3://{storage.bucket}/{upload['Key']} (upload {upload['UploadId'][:12]}...)", size)
            for upload, size in found]


def _parts_size(client: Any, bucket: str, upload: dict) -> int:
    """The bytes the uploaded parts of an unfinished multipart upload hold."""
    total = 0
    pages = client.get_paginator("list_parts").paginate(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    try:
        for page in pages:
            total += sum(part["Size"] for part in page.get("Parts", []))
    except Exception as exc:
        if error_code(exc) != "NoSuchUpload":
            raise
    return total


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """The items in lists of at most `size`."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
