"""The creation-time window of the cross-user listing (`GET /api/orders`): read, checked and written in the
form order keys hold (`orders.domain.ids.iso_timestamp`), so that it bounds a key range. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from orders.domain.errors import InvalidWindow
from orders.domain.ids import iso_timestamp

# One page reads every shard of the window's statuses; a month bounds how far back one listing may reach
# (older orders: narrow the window, or page a month at a time).
MAX_WINDOW = timedelta(days=31)
DEFAULT_WINDOW = timedelta(days=1)
MAX_TIMESTAMP_LENGTH = 40


class ListOrder(StrEnum):
    """Creation time, oldest first (`asc`) or newest first (`desc`)."""

    ASC = "asc"
    DESC = "desc"


class Window(NamedTuple):
    """[created_from, created_to): both in `iso_timestamp` form."""

    created_from: str
    created_to: str


def _moment(name: str, text: str) -> datetime:
    # Printable ASCII only: CPython's fromisoformat stops reading at a NUL, so `...Z<NUL>junk` would pass.
    if len(text) > MAX_TIMESTAMP_LENGTH or not (text.isascii() and text.isprintable()):
        raise InvalidWindow(f"`{name}` is not an ISO 8601 date-time.")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidWindow(f"`{name}` is not an ISO 8601 date-time (e.g. 2026-12-05T08:00:00Z).") from None
    if moment.tzinfo is None:
        raise InvalidWindow(f"`{name}` has no time zone: end it with Z or an offset such as +01:00.")
    return moment


def _whole_millisecond(moment: datetime) -> datetime:
    """The first whole millisecond at or after `moment`: order keys hold whole milliseconds, so
    `createdAt >= moment` (and `createdAt < moment`) is the same test against this bound, which can be
    written in their form without losing what the caller asked."""
    extra = moment.microsecond % 1000
    return moment + timedelta(microseconds=1000 - extra) if extra else moment


def creation_window(created_from: str | None, created_to: str | None, *, now: datetime) -> Window:
    """`createdFrom` (inclusive) and `createdTo` (exclusive), ISO 8601 with a time zone. `createdTo` defaults
    to now, `createdFrom` to a day before `createdTo`. Raises `InvalidWindow` for a malformed bound, an empty
    or inverted window, or one longer than `MAX_WINDOW`."""
    end = _moment("createdTo", created_to) if created_to is not None else now
    if created_from is not None:
        start = _moment("createdFrom", created_from)
    else:
        try:
            start = end - DEFAULT_WINDOW
        except OverflowError:
            raise InvalidWindow("The window is outside the dates orders can have.") from None
    if start >= end:
        raise InvalidWindow("`createdFrom` must be before `createdTo`.")
    if end - start > MAX_WINDOW:
        raise InvalidWindow(f"The window is longer than {MAX_WINDOW.days} days: narrow it, or page by month.")
    try:
        return Window(iso_timestamp(_whole_millisecond(start)), iso_timestamp(_whole_millisecond(end)))
    except (OverflowError, ValueError):  # a bound at the edge of datetime's range, moved into UTC
        raise InvalidWindow("The window is outside the dates orders can have.") from None
