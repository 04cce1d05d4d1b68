"""The components a step adds to its card with `current.card.append(...)`; each renders to HTML.

PIL and matplotlib are never imported here: an image given as such an object is recognised by its
methods (`save`, `savefig`), so only flows that pass them have those libraries loaded.
"""

from __future__ import annotations

import base64
import io
import reprlib
import traceback as tb
from typing import Any

from . import markdown, vega
from .base import MetaflowCardComponent
from .page import esc, table_html

MAX_TABLE_ROWS = 1000
MAX_REPR = 2000


class _Short(reprlib.Repr):
    """reprlib, also cutting bytes before they are repr'd (a 1 GB bytes value is not copied to preview it)."""

    def repr_bytes(self, value: bytes, level: int) -> str:
        keep = min(self.maxstring, 40)
        head = repr(bytes(value[:keep]))
        return head if len(value) <= keep else f"{head[:-1]}...' ({len(value)} bytes)"

    repr_bytearray = repr_bytes


def preview(value: Any, limit: int = MAX_REPR) -> str:
    """A bounded repr of a value (reprlib cuts long containers, strings and bytes)."""
    shortener = _Short()
    shortener.maxstring, shortener.maxother, shortener.maxlist, shortener.maxdict = 200, 200, 30, 30
    try:
        text = shortener.repr(value)
    except Exception as exc:  # a broken __repr__ must not break the card
        text = f"<{type(value).__name__}: repr failed with {type(exc).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cell_html(value: Any) -> str:
    """One table cell: a component renders itself, anything else is shown as text."""
    if isinstance(value, MetaflowCardComponent):
        rendered = value.render()
        return rendered if isinstance(rendered, str) else f"<code>{esc(preview(rendered))}</code>"
    if isinstance(value, str):
        return esc(value)
    return esc(preview(value, 300))


class UserComponent(MetaflowCardComponent):
    """The base of the built-in components (anything with a render() that returns HTML works too)."""

    def __str__(self) -> str:
        return self.render()


class Markdown(UserComponent):
    """Markdown text (raw HTML in it is shown as text)."""

    REALTIME_UPDATABLE = True

    def __init__(self, text: str = "") -> None:
        self.text = str(text)

    def update(self, text: str | None = None) -> None:
        """Replace the text."""
        self.text = str(text or "")

    def render(self) -> str:
        return f'<div class="af-markdown">{markdown.to_html(self.text)}</div>'


class Table(UserComponent):
    """A table of rows (lists of cells; a cell may be a component), with optional headers."""

    REALTIME_UPDATABLE = True

    def __init__(self, data: list[list[Any]] | None = None, headers: list[str] | None = None,
                 disable_updates: bool = False) -> None:
        self.data = [list(row) for row in (data or [])]
        self.headers = [str(h) for h in headers] if headers else None

    @classmethod
    def from_dataframe(cls, dataframe: Any, truncate: bool = True) -> Table:
        """A table from a pandas DataFrame (the first 1,000 rows unless truncate=False)."""
        frame = dataframe.head(MAX_TABLE_ROWS) if truncate else dataframe
        headers = [str(c) for c in frame.columns]
        return cls([list(row) for row in frame.itertuples(index=False, name=None)], headers)

    def update(self, data: list[list[Any]] | None = None) -> None:
        """Replace the rows."""
        self.data = [list(row) for row in (data or [])]

    def render(self) -> str:
        rows = self.data[:MAX_TABLE_ROWS]
        note = (f'<p class="af-muted">{len(self.data) - MAX_TABLE_ROWS} more rows not shown.</p>'
                if len(self.data) > MAX_TABLE_ROWS else "")
        return table_html(self.headers and [esc(h) for h in self.headers],
                          ([cell_html(c) for c in row] for row in rows)) + note


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.lstrip()[:5] in (b"<?xml", b"<svg ") or b"<svg" in data[:256]:
        return "image/svg+xml"
    raise ValueError("the bytes are not a PNG, JPEG, GIF, WebP or SVG image")


def image_bytes(src: Any) -> bytes:
    """PNG (or other image) bytes from bytes, a PIL image or a matplotlib figure/axes."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    if hasattr(src, "savefig") or hasattr(src, "get_figure"):  # matplotlib Figure, or Axes
        figure = src if hasattr(src, "savefig") else src.get_figure()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    if type(src).__module__.startswith("PIL.") and hasattr(src, "save"):
        buffer = io.BytesIO()
        src.save(buffer, format="PNG")
        return buffer.getvalue()
    raise TypeError(f"Image needs bytes, a PIL image or a matplotlib figure, not {type(src).__name__}.")


class Image(UserComponent):
    """An image embedded in the card (bytes, a PIL image or a matplotlib figure), with a label."""

    REALTIME_UPDATABLE = True

    def __init__(self, src: Any = None, label: str | None = None, disable_updates: bool = False) -> None:
        self.label = label
        self._error: str | None = None
        self._data: bytes | None = None
        if src is not None:
            self.update(src)

    @classmethod
    def from_pil_image(cls, pilimage: Any, label: str | None = None, disable_updates: bool = False) -> Image:
        """An image from a PIL image."""
        return cls(pilimage, label)

    @classmethod
    def from_matplotlib(cls, plot: Any, label: str | None = None, disable_updates: bool = False) -> Image:
        """An image from a matplotlib figure (or axes)."""
        return cls(plot, label)

    def update(self, image: Any, label: str | None = None) -> None:
        """Replace the image (and the label, if given)."""
        if label is not None:
            self.label = label
        try:
            self._data = image_bytes(image)
            self._mime = _sniff(self._data)
            self._error = None
        except (TypeError, ValueError) as exc:
            self._data, self._error = None, str(exc)

    def render(self) -> str:
        caption = f"<figcaption>{esc(self.label)}</figcaption>" if self.label else ""
        if self._data is None:
            return Error(self._error or "no image was given", "Image").render()
        encoded = base64.b64encode(self._data).decode("ascii")
        alt = esc(self.label or "image")
        return f'<figure><img alt="{alt}" src="data:{self._mime};base64,{encoded}">{caption}</figure>'


class Artifact(UserComponent):
    """Any Python value, shown as a bounded repr (long values are cut)."""

    REALTIME_UPDATABLE = True

    def __init__(self, artifact: Any = None, name: str | None = None, compressed: bool = True) -> None:
        self.artifact, self.name, self.compressed = artifact, name, compressed

    def update(self, artifact: Any) -> None:
        """Replace the value."""
        self.artifact = artifact

    def render(self) -> str:
        text = preview(self.artifact, MAX_REPR if self.compressed else 100_000)
        name = f"<h3>{esc(self.name)}</h3>" if self.name else ""
        return f'<div class="af-artifact">{name}<pre>{esc(text)}</pre></div>'


class VegaChart(UserComponent):
    """A Vega-Lite chart (a spec dict or an Altair chart), drawn as inline SVG."""

    REALTIME_UPDATABLE = True

    def __init__(self, spec: Any = None, show_controls: bool = False) -> None:
        self.spec = spec

    @classmethod
    def from_altair_chart(cls, altair_chart: Any) -> VegaChart:
        """A chart from an Altair chart object."""
        return cls(altair_chart)

    def update(self, spec: Any = None) -> None:
        """Replace the spec."""
        self.spec = spec

    def render(self) -> str:
        return vega.chart_html(self.spec)


class ProgressBar(UserComponent):
    """A progress bar from 0 to `max`, with a label and a unit."""

    REALTIME_UPDATABLE = True

    def __init__(self, max: float = 100, label: str | None = None, value: float = 0, unit: str | None = None,
                 metadata: str | None = None) -> None:
        self.max, self.label, self.value, self.unit, self.metadata = max, label, value, unit, metadata

    def update(self, new_value: float, metadata: str | None = None) -> None:
        """Move the bar to a new value."""
        self.value = new_value
        if metadata is not None:
            self.metadata = metadata

    def render(self) -> str:
        unit = f" {esc(self.unit)}" if self.unit else ""
        label = f'<span class="label">{esc(self.label)}</span>' if self.label else ""
        extra = f' <span class="af-muted">{esc(self.metadata)}</span>' if self.metadata else ""
        return (f'<div class="af-progress">{label}<progress max="{esc(self.max)}" value="{esc(self.value)}">'
                f'</progress><span class="value">{esc(self.value)} / {esc(self.max)}{unit}</span>{extra}</div>')


class Error(UserComponent):
    """An error box: an exception (its traceback is shown) or a message, with a title."""

    def __init__(self, exception: Any = None, title: str | None = None) -> None:
        self.exception, self.title = exception, title

    def render(self) -> str:
        exc = self.exception
        if isinstance(exc, BaseException):
            text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        else:
            text = str(exc if exc is not None else "")
        title = esc(self.title or (type(exc).__name__ if isinstance(exc, BaseException) else "Error"))
        return f'<div class="af-error"><h3>{title}</h3><pre>{esc(text)}</pre></div>'
