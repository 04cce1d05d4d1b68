"""Previews of library values: pandas DataFrames and Series, pyarrow Tables, numpy arrays and scalars, PIL images.

A library's module is never imported here: a value is recognised only when its library is loaded already.
Only a numeric numpy array is described inline (its cost is bounded: stats over at most STATS_EXACT
elements, or a sample of STATS_SAMPLE); everything else runs under the time limit (datastore/preview.py).
"""

from __future__ import annotations

import math
import sys
from typing import Any

from .preview_base import (ANY_ITEM, TEXT_CHARS, cut, item_text, library_type, preview_of, qualified_name)
from .preview_image import image_preview

FRAME_ROWS = 10        # rows of a frame shown
FRAME_COLS = 20        # columns of a frame shown (the first ones)
CELL_CHARS = 50        # characters of one cell
ARRAY_ITEMS = 50       # past this many items numpy prints a summary (first and last few)
STATS_EXACT = 4_000_000  # elements of an array whose stats are exact; above, from an evenly spaced sample
STATS_SAMPLE = 1_000_000  # elements of that sample
SAMPLE_RUNS = 100        # in runs of consecutive elements (a stride would cost a memory fetch per element)
NUMERIC_KINDS = "iuf"  # signed, unsigned, float (bool, complex, dates and strings get no stats)


def _cell(value: Any) -> str:
    """One cell as text: a string cut, a number or a library scalar as str() says it, anything else bounded."""
    if isinstance(value, str):
        return cut(value, CELL_CHARS)
    if isinstance(value, (int, float)) or type(value).__module__.split(".")[0] in ("numpy", "pandas", "pyarrow"):
        return cut(str(value), CELL_CHARS)
    return cut(item_text(value, ANY_ITEM), CELL_CHARS)


def _json_number(value: Any) -> Any:
    """A stat as JSON holds it: an int or float, or "nan" / "inf" / "-inf" (JSON has no such numbers)."""
    number = float(value) if not isinstance(value, int) else value
    if isinstance(number, float) and not math.isfinite(number):
        return "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")
    return number


# -- frames -------------------------------------------------------------------------------------------
def frame_preview(frame: Any, label: str) -> dict[str, Any]:
    """A pandas DataFrame: shape, the first columns' names and dtypes, the first rows' cells and index."""
    rows, cols = frame.shape
    shown = frame.iloc[:FRAME_ROWS, :FRAME_COLS]
    columns = [_cell(c) for c in shown.columns]
    body = [[_cell(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    return _frame(label, [rows, cols], columns, [str(d) for d in shown.dtypes], body, [_cell(i) for i in shown.index])


def series_preview(series: Any) -> dict[str, Any]:
    """A pandas Series, as a frame of one column."""
    shown = series.iloc[:FRAME_ROWS]
    name = "" if series.name is None else _cell(series.name)
    return _frame("Series", [len(series), 1], [name], [str(series.dtype)], [[_cell(v)] for v in shown],
                  [_cell(i) for i in shown.index])


def arrow_preview(table: Any) -> dict[str, Any]:
    """A pyarrow Table: shape, the first columns' names and types, the first rows."""
    shown = table.slice(0, FRAME_ROWS).select(list(range(min(FRAME_COLS, table.num_columns))))
    cells = [column.to_pylist() for column in shown.columns]
    body = [[_cell(column[i]) for column in cells] for i in range(shown.num_rows)]
    return _frame("pyarrow.Table", [table.num_rows, table.num_columns], [_cell(n) for n in shown.column_names],
                  [str(field.type) for field in shown.schema], body, [str(i) for i in range(shown.num_rows)])


def _frame(label: str, shape: list[int], columns: list[str], dtypes: list[str], rows: list[list[str]],
           index: list[str]) -> dict[str, Any]:
    more = ", …" if shape[1] > len(columns) else ""
    return preview_of("frame", f"{label} {shape[0]:,} × {shape[1]:,}: {', '.join(columns[:8])}{more}", type=label,
                      shape=shape, columns=columns, dtypes=dtypes, rows=rows, index=index)


# -- arrays -------------------------------------------------------------------------------------------
def array_preview(array: Any) -> dict[str, Any]:
    """A numpy array: shape, dtype, stats when numeric, and numpy's summarised print."""
    import numpy as np  # the value is an ndarray: numpy is loaded already

    head = cut(np.array2string(array, threshold=ARRAY_ITEMS, edgeitems=3, max_line_width=100), TEXT_CHARS)
    stats = _stats(np, array)
    mean = f", mean {stats['mean']:.6g}" if isinstance(stats.get("mean"), float) else ""
    return preview_of("array", f"ndarray {tuple(array.shape)} {array.dtype}{mean}: {head[:200]}", shape=list(array.shape),
                      dtype=str(array.dtype), size=int(array.size), head=head, **stats)


def _stats(np: Any, array: Any) -> dict[str, Any]:
    """min, max, mean and nan_count, exact up to STATS_EXACT elements, else over an evenly spaced sample."""
    none = {"min": None, "max": None, "mean": None, "nan_count": None}
    if array.dtype.kind not in NUMERIC_KINDS or array.size == 0:
        return {**none, "stats": "none: not a numeric array" if array.size else "none: empty"}
    data, how = array, "exact"
    if array.size > STATS_EXACT:
        if not array.flags.c_contiguous:
            return {**none, "stats": f"skipped: a non-contiguous array of more than {STATS_EXACT:,} elements"}
        flat, run = array.reshape(-1), STATS_SAMPLE // SAMPLE_RUNS
        starts = np.linspace(0, array.size - run, SAMPLE_RUNS).astype(np.int64)
        data = np.concatenate([flat[start:start + run] for start in starts])  # runs: read at memory speed
        how = f"sample: {SAMPLE_RUNS} evenly spaced runs of {run:,} of the {array.size:,} elements"
    low, high, mean = data.min(), data.max(), data.mean(dtype=np.float64)
    nans = 0
    if array.dtype.kind == "f" and math.isnan(float(low)):
        nans = int(np.count_nonzero(np.isnan(data)))
        if nans < data.size:
            low, high, mean = np.nanmin(data), np.nanmax(data), np.nanmean(data, dtype=np.float64)
    result = {"min": _json_number(low), "max": _json_number(high), "mean": _json_number(mean), "nan_count": nans}
    return {**result, "stats": how}


def _numpy_scalar(value: Any) -> dict[str, Any]:
    text = repr(value)
    kind = "bool" if value.dtype.kind == "b" else "number"
    return preview_of(kind, f"{qualified_name(type(value))}: {text}", text=text)


# -- dispatch -----------------------------------------------------------------------------------------
def bounded_library_preview(value: Any) -> dict[str, Any] | None:
    """The preview of a library value whose cost is bounded (a numeric ndarray, exactly), made inline; else None."""
    numpy = sys.modules.get("numpy") if type(value).__name__ == "ndarray" else None
    if numpy is not None and type(value) is numpy.ndarray and value.dtype.kind in NUMERIC_KINDS + "bc":
        return array_preview(value)
    return None


def library_preview(value: Any) -> dict[str, Any] | None:
    """The preview of a pandas, pyarrow, numpy or PIL value (run under the time limit); None for other values."""
    kind = library_type(value, "pandas", "DataFrame", "Series")
    if kind == "DataFrame":
        return frame_preview(value, "DataFrame")
    if kind == "Series":
        return series_preview(value)
    if library_type(value, "pyarrow", "Table"):
        return arrow_preview(value)
    kind = library_type(value, "numpy", "ndarray", "generic")
    if kind == "ndarray":
        return array_preview(value)
    if kind == "generic":
        return _numpy_scalar(value)
    if library_type(value, "PIL.Image", "Image"):
        return image_preview(value)
    return None
