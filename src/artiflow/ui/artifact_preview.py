"""Artifacts as the UI shows them: from their stored previews (made when the task saved them), never unpickled.

A preview is JSON keyed by the blob's content key (datastore/preview.py makes it; the metadata store
keeps it). An artifact saved before previews existed has none: the UI says so, and offers the raw bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..datastore import ArtifactRef
    from .task_lookup import FoundTask

# what the bytes of a blob are, by the serializer that wrote them (shown next to the download link)
FORMATS = {
    "pickle": ("pkl", "a Python pickle (protocol 5; large buffers such as numpy arrays' data framed out-of-band, "
                      "see docs/serializers.md). Only unpickle it if you trust the flow that wrote it."),
    "json": ("json", "JSON text (UTF-8), readable by any tool."),
    "arrow": ("arrow", "an Apache Arrow IPC stream of a table (pyarrow.ipc.open_stream reads it)."),
    "arrow_batch": ("arrow", "an Apache Arrow IPC stream of one record batch (pyarrow.ipc.open_stream reads it)."),
}
NO_PREVIEW = "no preview: saved before artiflow stored previews"


def blob_format(serializer: str) -> tuple[str, str]:
    """(file extension, what the bytes are) for a serializer's blobs."""
    return FORMATS.get(serializer, ("bin", f"bytes written by the serializer plug-in {serializer!r}."))


def previews_of(found: FoundTask, refs: list[ArtifactRef]) -> dict[str, dict[str, Any]]:
    """The stored previews of these artifacts' values, by content key (a value saved before previews: absent)."""
    keys = sorted({ref.key for ref in refs})
    return found.ctx.meta.previews(keys) if keys else {}


def preview_rows(found: FoundTask, artifacts: dict[str, ArtifactRef]) -> list[dict[str, Any]]:
    """One row per artifact for the task page's table: name, type, size, one-line preview, links."""
    previews = previews_of(found, list(artifacts.values()))
    base = "/".join(map(str, found.key))
    rows = []
    for name, ref in sorted(artifacts.items()):
        preview = previews.get(ref.key)
        rows.append({"name": name, "type": ref.type, "size": ref.size, "serializer": ref.serializer,
                     "summary": preview.get("summary", "") if preview else NO_PREVIEW, "has_preview": bool(preview),
                     "url": f"/artifact/{base}/{name}", "raw_url": f"/raw/{base}/{name}"})
    return rows
