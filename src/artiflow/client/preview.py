"""How a loaded artifact value looks in a notebook: bounded, HTML-escaped, a DataFrame as a table of its first rows.

Every function here is cheap whatever the value's size: a DataFrame shows `head()`, an array numpy's
summarised print, anything else a bounded repr (reprlib). pandas and numpy are never imported here: a
value can only be one of theirs when its library is already loaded.
"""

from __future__ import annotations

from typing import Any

from ..cards.components import preview as bounded_repr
from ..datastore.preview_base import cut, library_type as _library_type  # shared with the stored previews
from ..cards.page import esc

FRAME_ROWS = 10  # rows of a DataFrame shown
FRAME_COLS = 20  # columns of a DataFrame shown (the first and last half of them)
CELL_CHARS = 50  # characters of one DataFrame cell
TEXT_CHARS = 2000  # characters of a value's text shown in full view
SHORT_CHARS = 120  # characters of a one-line preview (a task's artifact table)
ARRAY_ITEMS = 50  # past this many items numpy prints a summary (first and last few)

PRE = "margin:2px 0;white-space:pre-wrap;word-break:break-word;font-family:monospace;font-size:0.95em"
MUTED = "opacity:0.7"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# -- one line, for a table cell ----------------------------------------------------------------------
def short_text(value: Any) -> str:
    """A one-line description of a value, at most SHORT_CHARS long: shape for frames and arrays."""
    kind = _library_type(value, "pandas", "DataFrame", "Series")
    if kind == "DataFrame":
        rows, cols = value.shape
        names = ", ".join(str(c) for c in list(value.columns[:8]))
        more = ", …" if cols > 8 else ""
        return cut(f"DataFrame {rows:,} × {cols}: {names}{more}", SHORT_CHARS)
    if kind == "Series":
        return cut(f"Series of {_plural(len(value), 'value')} ({value.dtype}): "
                    f"{' '.join(map(str, value.head(5).tolist()))}", SHORT_CHARS)
    if _library_type(value, "numpy", "ndarray"):
        return cut(f"array {value.shape} {value.dtype}: {_array_text(value, 6)}", SHORT_CHARS)
    text = value if isinstance(value, str) else bounded_repr(value, SHORT_CHARS * 3)
    return cut(" ".join(text.split()), SHORT_CHARS)


def _array_text(array: Any, items: int) -> str:
    """numpy's own print of an array, summarised past `items` items (first and last few)."""
    import numpy as np  # the value is an ndarray: numpy is loaded already

    edge = max(1, min(3, items // 2))
    return np.array2string(array, threshold=items, edgeitems=edge, max_line_width=100)


# -- a full view, for one artifact ----------------------------------------------------------------------
def value_html(value: Any) -> str:
    """A value as HTML: a DataFrame or Series as a table of its first rows, an array with shape and dtype, text cut."""
    kind = _library_type(value, "pandas", "DataFrame", "Series")
    if kind is not None:
        return frame_html(value if kind == "DataFrame" else value.to_frame())
    if _library_type(value, "numpy", "ndarray"):
        return array_html(value)
    if isinstance(value, str):
        return text_html(value)
    return f'<pre style="{PRE}">{esc(bounded_repr(value, TEXT_CHARS))}</pre>'


def frame_html(frame: Any) -> str:
    """The first FRAME_ROWS rows of a DataFrame as a table (pandas escapes the cells), with its shape."""
    rows, cols = frame.shape
    note = f"DataFrame: {_plural(rows, 'row')} × {_plural(cols, 'column')}"
    if rows > FRAME_ROWS:
        note += f"; the first {FRAME_ROWS} rows"
    if cols > FRAME_COLS:
        note += f"; the first and last {FRAME_COLS // 2} columns"
    table = _frame_head(frame).to_html(border=0, escape=True)
    return f'<div style="{MUTED}">{esc(note)}</div><div style="overflow-x:auto">{table}</div>'


def _frame_head(frame: Any) -> Any:
    """The rows and columns of a DataFrame that are shown, long text cells cut to CELL_CHARS."""
    head = frame.head(FRAME_ROWS)
    if head.shape[1] > FRAME_COLS:
        import pandas as pd  # the value is a DataFrame: pandas is loaded already

        half = FRAME_COLS // 2
        head = pd.concat([head.iloc[:, :half], head.iloc[:, -half:]], axis=1)
    return head.map(lambda cell: cut(cell, CELL_CHARS) if isinstance(cell, str) else cell)


def array_html(array: Any) -> str:
    """An array's shape and dtype, and numpy's summarised print of its values."""
    note = f"ndarray: shape {array.shape}, dtype {array.dtype}, {_plural(array.size, 'item')}"
    return f'<div style="{MUTED}">{esc(note)}</div><pre style="{PRE}">{esc(_array_text(array, ARRAY_ITEMS))}</pre>'


def text_html(text: str) -> str:
    """A string as preformatted text, its first TEXT_CHARS characters."""
    note = "" if len(text) <= TEXT_CHARS else (
        f'<div style="{MUTED}">the first {TEXT_CHARS:,} of {len(text):,} characters</div>')
    return f'<pre style="{PRE}">{esc(text[:TEXT_CHARS])}</pre>{note}'
