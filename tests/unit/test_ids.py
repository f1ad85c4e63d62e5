"""Order ids are UUIDv7 (RFC 9562): version 7, RFC variant, Unix-millisecond prefix, time-ordered, unique."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from orders.domain.ids import is_order_id, iso_timestamp, new_order_id

MOMENT = datetime(2026, 11, 25, 20, 39, 8, 123000, tzinfo=UTC)


def test_version_and_variant():
    value = uuid.UUID(new_order_id(MOMENT))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_the_first_48_bits_are_the_unix_milliseconds():
    value = uuid.UUID(new_order_id(MOMENT))
    assert value.int >> 80 == int(MOMENT.timestamp() * 1000)


def test_ids_from_later_milliseconds_sort_later_as_text():
    moments = [MOMENT + timedelta(milliseconds=step) for step in (0, 1, 2, 10, 1000, 86_400_000)]
    ids = [new_order_id(moment) for moment in moments]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_are_unique_even_within_one_millisecond():
    ids = {new_order_id(MOMENT) for _ in range(20_000)}
    assert len(ids) == 20_000


def test_the_random_part_varies():
    values = [uuid.UUID(new_order_id(MOMENT)).int & ((1 << 62) - 1) for _ in range(64)]
    assert len(set(values)) == 64
    rand_a = {(uuid.UUID(new_order_id(MOMENT)).int >> 64) & 0xFFF for _ in range(256)}
    assert len(rand_a) > 100


def test_canonical_lowercase_text_form():
    text = new_order_id(MOMENT)
    assert text == text.lower() and len(text) == 36 and text[14] == "7"
    assert is_order_id(text)


def test_is_order_id_rejects_anything_else():
    good = new_order_id(MOMENT)
    for bad in [
        good.upper(),
        str(uuid.uuid4()),
        good[:-1],
        good + "0",
        "",
        "ORDER#" + good,
        good.replace("-", ""),
    ]:
        assert not is_order_id(bad), bad


def test_iso_timestamp_is_utc_with_milliseconds():
    assert iso_timestamp(MOMENT) == "2026-11-25T20:39:08.123Z"
    assert iso_timestamp(MOMENT.astimezone(ZoneInfo("Asia/Tokyo"))) == "2026-11-25T20:39:08.123Z"
