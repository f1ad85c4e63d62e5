"""An order's past, rebuilt from its item: the image the table's stream carried at each of its versions.

Every status change is one UpdateItem that adds 1 to `version` and appends one `statusHistory` entry (and
one `changeCorrelationIds` and one `changeTraceIds` entry), and nothing else of an order changes after its
creation but `status`, `updatedAt`, `GSI2SK`, `GSI3PK`, `correlationId` and `traceId`. So version k is statusHistory[k-1], and the image at version k
is the item with those fields set back to what they were then. `make backfill` turns these images into
events with the live path's own `orders.events.notifications.event_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

from orders.storage.repository import (
    CHANGE_CORRELATION_IDS,
    CHANGE_TRACE_IDS,
    TRACE_ID,
    by_status_sk,
    with_status,
)

# Powertools' own deserialiser (the one `DynamoDBRecord.new_image` uses), so that a rebuilt image holds the
# very values a stream image held (numbers as Decimal with DynamoDB's context), and `total` is identical.
_stream_deserializer = TypeDeserializer()


def stream_image(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as read from the table (typed attribute values), decoded as a stream image is."""
    return {name: _stream_deserializer.deserialize(value) for name, value in item.items()}


# (the attribute holding the latest version's value, the list holding every version's, aligned from its end)
RECORDED_PER_VERSION = (("correlationId", CHANGE_CORRELATION_IDS), (TRACE_ID, CHANGE_TRACE_IDS))


def recorded_at(image: Mapping[str, Any], version: int, latest_name: str, list_name: str) -> str | None:
    """What the item held in `latest_name` (the correlation id, the trace id) right after the change that
    made `version`.

    The list `list_name` is aligned with the end of `statusHistory`. Orders written before it existed
    lack it, or hold it only for the changes made since: for their earlier versions the value is lost (it
    was overwritten in place), so those versions get none, except the latest, whose value is still the
    item's `latest_name`. A backfilled event of such a version then carries no `correlationId` (or
    `traceId`) where the live one did."""
    latest = int(image["version"])
    recorded = image.get(list_name)
    if recorded is not None:
        first_recorded = latest - len(recorded) + 1
        if version >= first_recorded:
            value = recorded[version - first_recorded]
            return value if isinstance(value, str) else None
    if version == latest:
        value = image.get(latest_name)
        return value if isinstance(value, str) else None
    return None


def images_by_version(image: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The order's image at versions 1..version, oldest first (the last equals `image` in every attribute
    an event reads). Raises ValueError when its history does not hold one entry per version."""
    latest = int(image["version"])
    history = list(image["statusHistory"])
    if latest < 1 or len(history) != latest:
        raise ValueError(f"order {image.get('id')}: version {latest} but {len(history)} status changes")
    images = []
    for version in range(1, latest + 1):
        change = history[version - 1]
        past = dict(image)
        past.update(
            status=change["status"],
            version=Decimal(version),
            statusHistory=history[:version],
            updatedAt=change["at"],
            GSI2SK=by_status_sk(change["status"], image["id"]),
        )
        if isinstance(shard_key := image.get("GSI3PK"), str):  # orders written before GSI3 have none
            past["GSI3PK"] = with_status(shard_key, change["status"])
        for latest_name, list_name in RECORDED_PER_VERSION:
            value = recorded_at(image, version, latest_name, list_name)
            if value is None:
                past.pop(latest_name, None)
            else:
                past[latest_name] = value
            if (recorded := image.get(list_name)) is not None:
                past[list_name] = list(recorded[: max(0, len(recorded) - (latest - version))])
        images.append(past)
    return images
