"""Reading a page's query string: page numbers and dates, refused with a 400 that says what is accepted."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Mapping

from ..exceptions import ArtiflowException


class BadQuery(ArtiflowException):
    """A query value the UI cannot use (shown as a 400 page naming the parameter and what it accepts)."""

    headline = "Bad request"


def text(query: Mapping[str, str], name: str) -> str | None:
    """A text parameter, stripped; None when absent or empty."""
    value = (query.get(name) or "").strip()
    return value or None


def page_number(query: Mapping[str, str], name: str = "page") -> int:
    """A 1-based page number (1 when absent)."""
    value = text(query, name)
    if value is None:
        return 1
    if not value.isdigit() or int(value) < 1:
        raise BadQuery(f"{name}={value!r} is not a page number: give a whole number, 1 or more (1 is the first page).")
    return int(value)


def day(query: Mapping[str, str], name: str) -> date | None:
    """A date written YYYY-MM-DD (None when absent)."""
    value = text(query, name)
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise BadQuery(f"{name}={value!r} is not a date: write it YYYY-MM-DD, e.g. {date.today():%Y-%m-%d}.") from None


def day_start(when: date) -> float:
    """Epoch seconds of the start of a local day."""
    return datetime(when.year, when.month, when.day).timestamp()


def day_end(when: date) -> float:
    """Epoch seconds of the start of the local day after `when` (an `until` date includes its whole day)."""
    return day_start(when + timedelta(days=1))


def one_of(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    """A parameter that must be one of `allowed` (None when absent)."""
    value = text(query, name)
    if value is not None and value not in allowed:
        raise BadQuery(f"{name}={value!r} is not accepted: give one of {', '.join(allowed)}.")
    return value
