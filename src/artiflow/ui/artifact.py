"""The artifact page (`/artifact/...`: its full preview by kind) and the raw download (`/raw/...`: its stored bytes).

Neither ever unpickles: the page shows the preview stored when the task saved the value; the
download streams the blob as stored, in CHUNK_BYTES pieces. A local blob is checked against its key
first (as every read is) and memory-mapped, so the server holds pages of it, not a copy; an S3 blob
goes out range by range as the store reads it, its key checked as it passes: a corrupt one is cut
off before its end (the browser sees a failed download, never a complete-looking file) and moved aside.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Iterator

from starlette.exceptions import HTTPException
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Send

from ..client.context import listing
from ..datastore.store import BlobError
from ..exceptions import ArtiflowException, NotFound
from .app import page, reader
from .artifact_preview import blob_format, previews_of
from .task_lookup import find_task

if TYPE_CHECKING:
    from ..datastore import ArtifactRef
    from .task_lookup import FoundTask

CHUNK_BYTES = 1 << 20


def _artifact(ctx: object, request: Request) -> tuple[FoundTask, ArtifactRef]:
    """The task and the ref of the artifact the URL names, or NotFound listing the task's artifacts."""
    params = request.path_params
    found = find_task(ctx, params["flow"], params["run_id"], params["step"], params["task_id"])
    name = params["name"]
    refs = found.ctx.meta.artifacts(*found.key)
    if name not in refs:
        status = "" if found.task.status != "failed" else " The task failed: artifacts are stored only when a task succeeds."
        raise NotFound(f"Artifact {name} does not exist in task {found.pathspec}; its artifacts: "
                       f"{listing(sorted(refs))}.{status}")
    return found, refs[name]


def artifact_page(request: Request) -> Response:
    """One artifact: type, size, where its value was first produced, the full preview, the download."""
    name = request.path_params["name"]
    with reader(request)() as ctx:
        found, ref = _artifact(ctx, request)
        preview = previews_of(found, [ref]).get(ref.key)
        producers = found.ctx.meta.artifact_producers(*found.key).get(name, ())
    extension, described = blob_format(ref.serializer)
    base = "/".join(map(str, found.key))
    return page(request, "artifact.html", found=found, task=found.task, name=name, ref=ref, preview=preview,
                producers=producers, blob_format=described, raw_url=f"/raw/{base}/{name}",
                filename=f"{name}.{extension}")


def raw_download(request: Request) -> Response:
    """The artifact's stored bytes as an attachment, streamed (their key checked: see the module's docstring)."""
    name = request.path_params["name"]
    with reader(request)() as ctx:
        found, ref = _artifact(ctx, request)
        try:
            size, pieces = found.ctx.store.stream_bytes(ref.key, name, found.pathspec)
        except BlobError as exc:  # missing: 404; corrupt (moved aside by the store, never served): 500
            if exc.problem == "missing":
                raise NotFound(exc.message) from None
            raise HTTPException(500, exc.message) from None
    extension, _ = blob_format(ref.serializer)
    headers = {"content-disposition": f'attachment; filename="{name}.{extension}"',
               "content-length": str(size), "x-artiflow-serializer": ref.serializer,
               "x-artiflow-key": ref.key}
    download = BlobDownload(media_type="application/octet-stream", headers=headers)
    download.send_pieces(pieces, f"{found.pathspec}/{name}")
    return download


class BlobDownload(StreamingResponse):
    """A blob's bytes streamed in CHUNK_BYTES pieces (a memory-mapped blob is paged in as it is sent). One found
    corrupt or unreadable mid-way is said on the server's stderr and left unfinished: the server closes the
    connection short of the length it announced, so the browser sees a failed download, never a whole file."""

    def __init__(self, media_type: str, headers: dict[str, str]) -> None:
        super().__init__(iter(()), media_type=media_type, headers=headers)
        self.cut_off = False

    def send_pieces(self, pieces: Iterator[memoryview], what: str) -> None:
        def sent() -> Iterator[bytes]:
            try:
                for piece in pieces:
                    for start in range(0, piece.nbytes, CHUNK_BYTES):
                        yield bytes(piece[start:start + CHUNK_BYTES])
            except ArtiflowException as exc:
                self.cut_off = True
                print(f"artiflow ui: the download of {what} was cut off: {exc}", file=sys.stderr, flush=True)

        self.body_iterator = iterate_in_threadpool(sent())

    async def stream_response(self, send: Send) -> None:
        async def unfinished_if_cut_off(message: Message) -> None:
            if not (self.cut_off and message["type"] == "http.response.body" and not message.get("more_body")):
                await send(message)

        await super().stream_response(unfinished_if_cut_off)


def routes() -> list[Route]:
    return [Route("/artifact/{flow}/{run_id}/{step}/{task_id}/{name}", artifact_page),
            Route("/raw/{flow}/{run_id}/{step}/{task_id}/{name}", raw_download)]
