"""The cross-user listing's creation window (orders.domain.window.creation_window), pure: defaults, the
bounds written in key form (UTC, milliseconds, `Z`), the 31-day limit to the millisecond, and every bad
bound an `InvalidWindow`, never a crash (tests/unit/test_window.py: control characters)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from orders.domain.errors import InvalidWindow
from orders.domain.ids import iso_timestamp
from orders.domain.window import DEFAULT_WINDOW, MAX_TIMESTAMP_LENGTH, MAX_WINDOW, Window, creation_window

NOW = datetime(2026, 12, 5, 8, 0, 0, 123000, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def z(moment: datetime) -> str:
    return iso_timestamp(moment)


def test_the_limits_are_a_day_by_default_and_31_days_at_most():
    assert timedelta(days=1) == DEFAULT_WINDOW
    assert timedelta(days=31) == MAX_WINDOW


def test_no_bounds_is_the_day_before_now():
    assert creation_window(None, None, now=NOW) == Window(z(NOW - timedelta(days=1)), z(NOW))
    assert creation_window(None, None, now=NOW) == Window(
        "2026-12-04T08:00:00.123Z", "2026-12-05T08:00:00.123Z"
    )


def test_created_to_alone_is_the_day_before_it():
    assert creation_window(None, "2026-11-20T10:00:00Z", now=NOW) == Window(
        "2026-11-19T10:00:00.000Z", "2026-11-20T10:00:00.000Z"
    )


def test_created_to_alone_may_be_in_the_future():
    assert creation_window(None, "2027-01-01T00:00:00Z", now=NOW) == Window(
        "2026-12-31T00:00:00.000Z", "2027-01-01T00:00:00.000Z"
    )


def test_created_from_alone_ends_now():
    assert creation_window("2026-12-01T00:00:00Z", None, now=NOW) == Window(
        "2026-12-01T00:00:00.000Z", "2026-12-05T08:00:00.123Z"
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2026-12-05T13:30:00+05:30", "2026-12-05T08:00:00.000Z"),
        ("2026-12-05T02:00:00-06:00", "2026-12-05T08:00:00.000Z"),
        ("2026-12-05T08:00:00+00:00", "2026-12-05T08:00:00.000Z"),
        ("2026-12-05T08:00:00Z", "2026-12-05T08:00:00.000Z"),
        ("2026-12-05T08:00:00.5Z", "2026-12-05T08:00:00.500Z"),
        ("2026-12-05T08:00Z", "2026-12-05T08:00:00.000Z"),
        ("20261205T080000Z", "2026-12-05T08:00:00.000Z"),
        ("2026-12-05 08:00:00Z", "2026-12-05T08:00:00.000Z"),
        ("2026-12-06T05:29:59.999+21:30", "2026-12-05T07:59:59.999Z"),
        ("2026-12-05T00:00:00+05:30", "2026-12-04T18:30:00.000Z"),  # the day before in UTC
    ],
)
def test_bounds_are_written_in_utc_key_form(text, key):
    assert creation_window(text, "2026-12-05T12:00:00Z", now=NOW).created_from == key
    assert creation_window("2026-12-04T18:00:00Z", text, now=NOW).created_to == key


def test_the_key_form_sorts_as_the_instants_do():
    window = creation_window("2026-12-05T09:00:00+01:00", "2026-12-05T08:30:00Z", now=NOW)
    assert window == Window("2026-12-05T08:00:00.000Z", "2026-12-05T08:30:00.000Z")
    assert window.created_from < window.created_to


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2026-12-05T08:00:00.000001Z", "2026-12-05T08:00:00.001Z"),
        ("2026-12-05T08:00:00.000999Z", "2026-12-05T08:00:00.001Z"),
        ("2026-12-05T08:00:00.001000Z", "2026-12-05T08:00:00.001Z"),
        ("2026-12-05T08:00:00.999500Z", "2026-12-05T08:00:01.000Z"),
        ("2026-12-05T08:59:59.9995+01:00", "2026-12-05T08:00:00.000Z"),
    ],
)
def test_a_bound_between_milliseconds_is_the_next_whole_one(text, key):
    """createdAt holds whole milliseconds: `createdAt >= t` and `createdAt < t` are the same tests against
    the next whole millisecond (truncating instead would admit an order created before createdFrom and drop
    one created before createdTo)."""
    assert creation_window(text, "2026-12-05T12:00:00Z", now=NOW).created_from == key
    assert creation_window("2026-12-05T07:00:00Z", text, now=NOW).created_to == key


def test_a_default_window_ends_at_the_next_whole_millisecond_after_now():
    now = datetime(2026, 12, 5, 8, 0, 0, 123456, tzinfo=UTC)
    assert creation_window(None, None, now=now) == Window(
        "2026-12-04T08:00:00.124Z", "2026-12-05T08:00:00.124Z"
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (NOW, NOW + MAX_WINDOW),
        (NOW, NOW + MS),
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)),  # 31 days over February
    ],
)
def test_windows_up_to_31_days_are_allowed(start, end):
    assert creation_window(start.isoformat(), end.isoformat(), now=NOW) == Window(z(start), z(end))


def test_exactly_31_days_with_offsets_counts_the_instants():
    start = "2026-11-01T05:30:00+05:30"  # 2026-11-01T00:00Z
    end = "2026-12-01T19:00:00-05:00"  # 2026-12-02T00:00Z
    assert creation_window(start, end, now=NOW) == Window(
        "2026-11-01T00:00:00.000Z", "2026-12-02T00:00:00.000Z"
    )
    with pytest.raises(InvalidWindow, match="31 days"):
        creation_window(start, "2026-12-01T19:00:00.001-05:00", now=NOW)


@pytest.mark.parametrize(
    "end",
    [NOW + MAX_WINDOW + MS, NOW + MAX_WINDOW + timedelta(microseconds=1), NOW + timedelta(days=365)],
)
def test_longer_than_31_days_is_refused(end):
    with pytest.raises(InvalidWindow, match="31 days"):
        creation_window(NOW.isoformat(), end.isoformat(), now=NOW)


def test_created_from_alone_more_than_31_days_before_now_is_refused():
    assert creation_window(z(NOW - MAX_WINDOW), None, now=NOW).created_to == z(NOW)
    with pytest.raises(InvalidWindow):
        creation_window(z(NOW - MAX_WINDOW - MS), None, now=NOW)


@pytest.mark.parametrize(
    ("created_from", "created_to"),
    [
        ("2026-12-05T09:00:00Z", "2026-12-05T08:00:00Z"),
        ("2026-12-05T08:00:00Z", "2026-12-05T08:00:00Z"),
        ("2026-12-05T08:00:00Z", "2026-12-05T09:00:00+01:00"),  # the same instant
        ("2026-12-05T08:00:00.001Z", "2026-12-05T08:00:00Z"),
        ("2026-12-06T00:00:00Z", None),  # after now
    ],
)
def test_empty_or_inverted_windows_are_refused(created_from, created_to):
    with pytest.raises(InvalidWindow, match="before"):
        creation_window(created_from, created_to, now=NOW)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-05T08:00:00",  # no time zone
        "2026-12-05",  # a date has none either
        "2026-12-05T08:00:00.000",
        "yesterday",
        "",
        " ",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-12-05T24:00:01Z",
        "2026-12-05T23:59:60Z",
        "2026-12-05T08:00:00+25:00",
        "2026-12-05T08:00:00Z[Europe/Paris]",
        "1733385600",
        "2026-12-05T08:00:00.000000000000000000000000Z",  # too long (41 characters)
        "2" * (MAX_TIMESTAMP_LENGTH + 1),
        "2026-12-05T08:00:00Z" + " " * 30,
    ],
)
def test_malformed_bounds_are_refused(text):
    with pytest.raises(InvalidWindow):
        creation_window(text, None, now=NOW)
    with pytest.raises(InvalidWindow):
        creation_window(None, text, now=NOW)


def test_no_time_zone_says_so():
    with pytest.raises(InvalidWindow, match="time zone"):
        creation_window("2026-12-05T08:00:00", "2026-12-05T09:00:00Z", now=NOW)


@pytest.mark.parametrize(
    ("created_from", "created_to", "now"),
    [
        (None, "0001-01-01T00:00:00Z", NOW),  # its default createdFrom is before year 1
        (None, "0001-01-01T12:00:00+00:00", NOW),
        (None, None, datetime.min.replace(tzinfo=UTC)),
        (None, None, datetime(1, 1, 1, 12, tzinfo=UTC)),
        ("0001-01-01T00:30:00+01:00", "0001-01-01T12:00:00Z", NOW),  # year 0 in UTC
        ("9999-12-31T22:00:00Z", "9999-12-31T23:30:00-01:00", NOW),  # year 10000 in UTC
        ("9999-12-31T23:00:00Z", "9999-12-31T23:59:59.999999Z", NOW),  # rounds up into year 10000
        ("0001-01-01T00:00:00+23:59", "0001-01-01T00:00:01+23:59", NOW),
        ("9999-12-31T23:59:59-23:59", None, datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_bounds_at_the_edges_of_datetime_are_refused_not_crashed(created_from, created_to, now):
    with pytest.raises(InvalidWindow):
        creation_window(created_from, created_to, now=now)


def test_the_last_representable_window_is_fine():
    assert creation_window("9999-12-31T00:00:00Z", "9999-12-31T23:59:59.999Z", now=NOW) == Window(
        "9999-12-31T00:00:00.000Z", "9999-12-31T23:59:59.999Z"
    )
    assert creation_window("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z", now=NOW) == Window(
        "0001-01-01T00:00:00.000Z", "0001-01-02T00:00:00.000Z"
    )
