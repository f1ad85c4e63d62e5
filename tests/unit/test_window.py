"""The cross-user listing's creation window (orders.domain.window): what a bound may be."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from orders.domain.errors import InvalidWindow
from orders.domain.window import Window, creation_window

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def test_bounds_are_read_into_key_form():
    window = creation_window("2026-12-05T09:00:00+01:00", "2026-12-05T08:30:00Z", now=NOW)
    assert window == Window("2026-12-05T08:00:00.000Z", "2026-12-05T08:30:00.000Z")
    assert creation_window(None, None, now=NOW) == Window(
        "2026-12-04T08:00:00.000Z", "2026-12-05T08:00:00.000Z"
    )


# CPython's datetime.fromisoformat stops at a NUL: these parsed as 2026-12-05T07:00:00Z before.
@pytest.mark.parametrize(
    "bound",
    [
        "2026-12-05T07:00:00Z\x00",
        "2026-12-05T07:00:00Z\x00junk",
        "2026-12-05T07:00:00\x00Z",
        "2026-12-05T07:00:00Z\n",
    ],
)
def test_a_bound_with_a_control_character_is_invalid(bound):
    with pytest.raises(InvalidWindow):
        creation_window(bound, None, now=NOW)
    with pytest.raises(InvalidWindow):
        creation_window(None, bound, now=NOW)
