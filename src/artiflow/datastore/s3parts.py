"""Large S3 transfers in parallel parts: multipart uploads from a blob's chunks, ranged reads into one buffer.

Nothing here builds the whole blob in memory twice: an upload streams each part from views of the chunks,
a download fills a single preallocated buffer. An upload that fails
is aborted, so S3 never shows a half-written object; a read cut off mid-stream resumes where it stopped.
"""

from __future__ import annotations

import bisect
import io
import itertools
import random
import time
from typing import Any, Callable, Iterator, TypeVar

from .chunks import fixed_pieces
from .s3errors import error_code

T = TypeVar("T")
RETRY_BASE_SECONDS = 0.05
RETRY_MAX_SECONDS = 2.0
READ_BYTES = 1 << 20  # one read from a response body (urllib3 fills it whole or loses it, if the stream breaks)


class ObjectChanged(Exception):
    """The object was replaced between two ranged reads of it (its ETag changed): read it again whole."""


def upload_multipart(client: Any, bucket: str, name: str, views: list[memoryview], part_bytes: int,
                     concurrency: int) -> None:
    """Upload the views as one object in parts of `part_bytes`, `concurrency` at a time; abort on any failure."""
    # CRC32 per part, as boto3's own transfers ask: the server checks each part (and some complete faster)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=name, ChecksumAlgorithm="CRC32")["UploadId"]
    try:
        pieces = list(fixed_pieces(views, part_bytes))

        def send(number: int) -> dict:
            sent = client.upload_part(Bucket=bucket, Key=name, UploadId=upload_id, PartNumber=number,
                                      ChecksumAlgorithm="CRC32", Body=ViewReader(pieces[number - 1]))
            return {"PartNumber": number, "ETag": sent["ETag"],
                    **({"ChecksumCRC32": sent["ChecksumCRC32"]} if sent.get("ChecksumCRC32") else {})}

        parts = in_parallel(send, range(1, len(pieces) + 1), concurrency)
        _complete(client, bucket, name, upload_id, parts, sum(view.nbytes for view in views))
    except BaseException:
        _abort_quietly(client, bucket, name, upload_id)
        raise


class ViewReader(io.RawIOBase):
    """A seekable file over a list of byte views, read without joining them: a request body botocore streams
    (with a CRC32 trailer, unsigned: no SHA-256 pass over plain HTTP) and rewinds for a retry."""

    def __init__(self, views: list[memoryview]) -> None:
        super().__init__()
        self._views = views
        self._ends = list(itertools.accumulate(view.nbytes for view in views))
        self._size = self._ends[-1] if views else 0
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(0, base + offset), self._size)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the current position on, across views; 0 at the end."""
        target = memoryview(buffer).cast("B")
        done = 0
        while done < target.nbytes and self._pos < self._size:
            index = bisect.bisect_right(self._ends, self._pos)
            view = self._views[index]
            offset = self._pos - (self._ends[index] - view.nbytes)
            n = min(target.nbytes - done, view.nbytes - offset)
            target[done : done + n] = view[offset : offset + n]
            done += n
            self._pos += n
        return done


def _complete(client: Any, bucket: str, name: str, upload_id: str, parts: list[dict], size: int) -> None:
    """Complete the upload; a retry that finds it gone (the first try succeeded, its answer was lost) is fine."""
    try:
        client.complete_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    except Exception as exc:
        if error_code(exc) != "NoSuchUpload" or _size_of(client, bucket, name) != size:
            raise


def _size_of(client: Any, bucket: str, name: str) -> int | None:
    """The stored object's size, or None if it is not there."""
    try:
        return client.head_object(Bucket=bucket, Key=name)["ContentLength"]
    except Exception:
        return None


def _abort_quietly(client: Any, bucket: str, name: str, upload_id: str) -> None:
    """Abort a multipart upload so its parts are dropped; the original error matters more than this one."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id)
    except Exception:
        pass  # an upload left behind is invisible (never an object) and an S3 lifecycle rule reaps it


def download(client: Any, bucket: str, name: str, range_bytes: int, concurrency: int, attempts: int,
             at_most: int | None = None) -> memoryview | None:
    """The object's bytes in one writable buffer: the first part with one GET, the rest as parallel ranged GETs.

    Raises the ClientError NoSuchKey if it is absent, ObjectChanged if it was replaced while being read.
    None, after the first GET's headers, if `at_most` is given and the object is larger.
    """
    first = _first_get(client, bucket, name, range_bytes)
    total = _total_size(first)
    if at_most is not None and total > at_most:
        first["Body"].close()
        return None
    view = memoryview(bytearray(total))
    head = min(total, first["ContentLength"])
    starts = list(range(head, total, range_bytes))

    def read_rest(start: int) -> None:
        fill(client, bucket, name, view[start : min(start + range_bytes, total)], start, attempts, first["ETag"])

    def read_first() -> None:
        fill(client, bucket, name, view[:head], 0, attempts, first["ETag"], response=first)

    in_parallel(lambda task: task(), [read_first] + [lambda s=s: read_rest(s) for s in starts], concurrency)
    return view


def stream(client: Any, bucket: str, name: str, range_bytes: int, attempts: int) -> tuple[int, Iterator[memoryview]]:
    """The object's size and its bytes in order, one ranged GET of `range_bytes` at a time (what a download to a
    person's browser needs: bounded memory, bytes out as they come). The first GET is made now (NoSuchKey raises
    here); a later one finding the object replaced raises ObjectChanged from the iterator."""
    first = _first_get(client, bucket, name, range_bytes)
    total = _total_size(first)

    def pieces() -> Iterator[memoryview]:
        response: dict | None = first
        try:
            for start in range(0, total, range_bytes):
                view = memoryview(bytearray(min(range_bytes, total - start)))
                taken, response = response, None
                fill(client, bucket, name, view, start, attempts, first["ETag"], response=taken)
                yield view
        finally:
            if response is not None:
                response["Body"].close()

    return total, pieces()


def _first_get(client: Any, bucket: str, name: str, range_bytes: int) -> dict:
    """The GET of the object's first `range_bytes` (the whole of an empty object: it has no range)."""
    try:
        return client.get_object(Bucket=bucket, Key=name, Range=f"bytes=0-{range_bytes - 1}")
    except Exception as exc:
        if error_code(exc) != "InvalidRange":
            raise
        return client.get_object(Bucket=bucket, Key=name)


def _total_size(response: dict) -> int:
    """The whole object's size from a ranged GET's Content-Range (`bytes 0-99/1234`), else its length."""
    content_range = response.get("ContentRange")
    if content_range and "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(response["ContentLength"])


def fill(client: Any, bucket: str, name: str, view: memoryview, start: int, attempts: int, etag: str,
         response: dict | None = None) -> None:
    """Read bytes `start...` of the object into `view`; a stream cut off is resumed from where it stopped."""
    done, failures = 0, 0
    while done < view.nbytes:
        if response is None:
            response = _ranged_get(client, bucket, name, start + done, start + view.nbytes - 1, etag)
        try:
            for n in _reads_into(response["Body"], view[done:]):
                done += n  # counted as it comes: a retry asks only for what is still missing
        except stream_errors() as exc:
            failures += 1
            if failures >= attempts:
                raise ConnectionError(f"reading {name} broke off {failures} times; last: {exc}") from exc
            time.sleep(backoff_seconds(failures))
        finally:
            response["Body"].close()
            response = None


def _ranged_get(client: Any, bucket: str, name: str, first: int, last: int, etag: str) -> dict:
    """GET bytes first..last of the object, provided it is still the one whose ETag is `etag`."""
    try:
        return client.get_object(Bucket=bucket, Key=name, Range=f"bytes={first}-{last}", IfMatch=etag)
    except Exception as exc:
        if error_code(exc) in ("PreconditionFailed", "412"):
            raise ObjectChanged(name) from exc
        raise


def _reads_into(body: Any, view: memoryview) -> Iterator[int]:
    """Fill `view` from the response body, yielding each read's byte count; a body that ends early raises
    IncompleteRead."""
    import http.client

    done = 0
    while done < view.nbytes:
        n = body.readinto(view[done : done + READ_BYTES])
        if not n:
            raise http.client.IncompleteRead(b"", view.nbytes - done)
        done += n
        yield n


def stream_errors() -> tuple[type[BaseException], ...]:
    """The errors of a response body cut off mid-stream (a reset, a timeout, a short body): worth a retry."""
    import http.client

    import botocore.exceptions as bce
    import urllib3.exceptions

    return (bce.ResponseStreamingError, bce.IncompleteReadError, bce.ReadTimeoutError, bce.ConnectionClosedError,
            urllib3.exceptions.HTTPError, http.client.IncompleteRead, ConnectionError, TimeoutError)


def backoff_seconds(failures: int) -> float:
    """Exponential backoff with full jitter, as botocore's standard retry mode does for transient errors."""
    return random.random() * min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** failures)


def in_parallel(work: Callable[[Any], T], items: Any, concurrency: int) -> list[T]:
    """`work(item)` for every item on up to `concurrency` threads, results in order; the first failure is raised
    and the work not yet started is cancelled."""
    items = list(items)
    if len(items) <= 1 or concurrency <= 1:
        return [work(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(items)), thread_name_prefix="artiflow-s3")
    try:
        futures = [pool.submit(work, item) for item in items]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
