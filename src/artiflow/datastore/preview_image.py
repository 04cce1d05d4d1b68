"""Image previews: a PNG thumbnail (at most THUMB_SIDE px a side, MAX_IMAGE_BYTES) of a PIL image or image bytes.

Pillow is used only when it is already loaded (the value is a PIL image, or the flow imported it). Without
it, image bytes are kept as they are when they are a small PNG or JPEG (their size read from the header),
and are otherwise described as binary, with their size.
"""

from __future__ import annotations

import base64
import io
import sys
from typing import Any

from .preview_base import preview_of

THUMB_SIDE = 256
MAX_IMAGE_BYTES = 64 * 1024
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
         (b"GIF89a", "image/gif"))
SAMPLE_ABOVE = 4_000_000  # pixels of an image sampled before it is filtered down
NEAREST = 0  # PIL.Image.Resampling.NEAREST
PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"})


def image_mime(head: bytes) -> str | None:
    """The image type bytes start with (PNG, JPEG, GIF, WebP), or None."""
    for magic, mime in MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def pillow_loaded() -> bool:
    return "PIL.Image" in sys.modules


def prepare_pillow() -> None:
    """Load Pillow's common format plugins (once), outside the time limit: their import is not the value's cost."""
    sys.modules["PIL.Image"].preinit()


def _label(mime: str) -> str:
    return mime.split("/")[1].upper()


def image_preview(image: Any, what: str = "") -> dict[str, Any]:
    """A PIL image as a PNG thumbnail (halved until it fits MAX_IMAGE_BYTES)."""
    width, height = image.size
    side = THUMB_SIDE
    while True:
        data = _png_thumbnail(image, side)
        if len(data) <= MAX_IMAGE_BYTES or side <= 16:
            break
        side //= 2
    if len(data) > MAX_IMAGE_BYTES:
        return _binary(what or f"{image.mode} image", width * height * len(image.getbands()), "image/png")
    label = what or f"{image.mode} image"
    return preview_of("image", f"{label} {width} × {height}", mime="image/png", width=width, height=height,
                      data=base64.b64encode(data).decode("ascii"))


def _png_thumbnail(image: Any, side: int) -> bytes:
    """The image scaled to fit `side` px (never up), in a mode PNG holds, as PNG bytes.

    A large image is first sampled (nearest pixel) to twice the size: that reads only the pixels kept,
    so a huge image costs what a small one does; the last step filters (reducing by boxes, then bicubic).
    """
    width, height = image.size
    scale = min(1.0, side / max(width, height, 1))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    thumb = image
    if width * height > SAMPLE_ABOVE and size != (width, height):
        thumb = image.resize((size[0] * 2, size[1] * 2), NEAREST)
    if thumb.size != size:
        thumb = thumb.resize(size, reducing_gap=2.0)
    if thumb.mode not in PNG_MODES:
        thumb = thumb.convert("RGBA" if "A" in thumb.getbands() else "RGB")
    out = io.BytesIO()
    thumb.save(out, format="PNG")
    return out.getvalue()


def bytes_preview(data: bytes, mime: str) -> dict[str, Any]:
    """Image bytes: a thumbnail with Pillow (when loaded), the bytes themselves if a small PNG/JPEG, else binary."""
    if pillow_loaded():
        image_module = sys.modules["PIL.Image"]
        try:
            with image_module.open(io.BytesIO(data), formats=[_label(mime)]) as image:
                image.load()
                return image_preview(image, f"{_label(mime)} image")
        except Exception:  # noqa: BLE001 - bytes that only look like an image: described as binary
            return _binary(f"{_label(mime)} image (unreadable)", len(data), mime)
    size = _png_size(data) if mime == "image/png" else _jpeg_size(data) if mime == "image/jpeg" else None
    if size is None or len(data) > MAX_IMAGE_BYTES:
        return _binary(f"{_label(mime)} image", len(data), mime)
    width, height = size
    return preview_of("image", f"{_label(mime)} image {width} × {height}", mime=mime, width=width, height=height,
                      data=base64.b64encode(data).decode("ascii"))


def _binary(what: str, size: int, mime: str) -> dict[str, Any]:
    return preview_of("binary", f"{what}, {size:,} bytes (no thumbnail)", mime=mime, size=size)


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame segment (the segments before it are skipped)."""
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in SOF_MARKERS:
            return int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
        if marker == 0x01 or 0xD0 <= marker <= 0xD9:  # markers without a length
            at += 2
            continue
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return None
