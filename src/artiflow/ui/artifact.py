"""The artifact page (`/artifact/...`: its full preview by kind) and the raw download (`/raw/...`: its stored bytes).

Neither ever unpickles: the page shows the preview stored when the task saved the value; the
download streams the blob as stored, after the content store has checked it against its key (as
every read does), in CHUNK_BYTES pieces. A large local blob is memory-mapped by the store, so the
server holds pages of it, not a copy; an S3 blob is read by the store's ranged GETs first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..client.context import listing
from ..datastore.store import BlobError
from ..exceptions import NotFound
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
    """The artifact's stored bytes as an attachment, streamed (verified against its key first)."""
    name = request.path_params["name"]
    with reader(request)() as ctx:
        found, ref = _artifact(ctx, request)
        try:
            data = found.ctx.store.get_bytes(ref.key, name, found.pathspec)
        except BlobError as exc:  # missing: 404; corrupt (moved aside by the store, never served): 500
            if exc.problem == "missing":
                raise NotFound(exc.message) from None
            raise HTTPException(500, exc.message) from None
    extension, _ = blob_format(ref.serializer)
    headers = {"content-disposition": f'attachment; filename="{name}.{extension}"',
               "content-length": str(data.nbytes), "x-artiflow-serializer": ref.serializer,
               "x-artiflow-key": ref.key}
    return StreamingResponse(_pieces(data), media_type="application/octet-stream", headers=headers)


def _pieces(data: memoryview) -> Iterator[bytes]:
    """The blob in CHUNK_BYTES pieces (a memory-mapped blob is paged in as it is sent)."""
    for start in range(0, data.nbytes, CHUNK_BYTES):
        yield bytes(data[start:start + CHUNK_BYTES])


def routes() -> list[Route]:
    return [Route("/artifact/{flow}/{run_id}/{step}/{task_id}/{name}", artifact_page),
            Route("/raw/{flow}/{run_id}/{step}/{task_id}/{name}", raw_download)]
