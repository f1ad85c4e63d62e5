"""Order ids and timestamps. Generated per request, never at import (snapshot-safe)."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, e.g. `2026-11-25T20:39:08.123Z`: sorts as text in time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_order_id(moment: datetime) -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered so that `<status>#<id>` keys sort by creation; 74 bits from `secrets` keep it unguessable.
    (`uuid.uuid7` arrives in Python 3.14; Lambda's python3.13 does not have it.)
    """
    milliseconds = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    random_bits = secrets.randbits(74)
    value = (
        (milliseconds << 80)
        | (0x7 << 76)
        | ((random_bits >> 62) << 64)
        | (0b10 << 62)
        | (random_bits & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


ORDER_ID_LENGTH = 36  # a UUID's canonical text
_ORDER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def is_order_id(value: str) -> bool:
    """Only ids this service could have issued reach the table (an odd id is simply not found)."""
    return len(value) == ORDER_ID_LENGTH and _ORDER_ID.fullmatch(value) is not None
