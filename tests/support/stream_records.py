"""DynamoDB stream records (NEW_AND_OLD_IMAGES) as Lambda receives them, built from item dicts."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

_serializer = TypeSerializer()
_sequence = itertools.count(1_000_000_000_000_000_000)


def _image(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def stream_record(event_name: str, new: dict | None, old: dict | None = None) -> dict[str, Any]:
    keys = new or old or {}
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": 1795639148,
        "Keys": _image({"PK": keys.get("PK", "ORDER#x"), "SK": keys.get("SK", "ORDER")}),
        "SequenceNumber": str(next(_sequence)),
        "SizeBytes": 512,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        dynamodb["NewImage"] = _image(new)
    if old is not None:
        dynamodb["OldImage"] = _image(old)
    return {
        "eventID": f"evt-{dynamodb['SequenceNumber']}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/orders-test/stream/2026-11-25T00:00:00.000",
    }


def order_item(
    order_id: str,
    *,
    user_id: str = "user-123",
    status: str = "pending",
    version: int = 1,
    history: list[dict] | None = None,
    total: Decimal = Decimal("59.98"),
) -> dict[str, Any]:
    at = f"2026-11-25T20:00:{version:02d}.000Z"
    return {
        "PK": f"ORDER#{order_id}",
        "SK": "ORDER",
        "GSI1PK": f"USER#{user_id}",
        "GSI1SK": f"{at}#{order_id}",
        "GSI2SK": f"{status}#{order_id}",
        "entityType": "order",
        "id": order_id,
        "userId": user_id,
        "status": status,
        "version": version,
        "total": total,
        "currency": "USD",
        "items": [
            {"productId": "prod-456", "quantity": 2, "unitPrice": Decimal("29.99"), "lineTotal": total}
        ],
        "shippingAddress": {"street": "123 Main St", "city": "New York", "zipCode": "10001"},
        "createdAt": "2026-11-25T20:00:01.000Z",
        "updatedAt": at,
        "statusHistory": (history or []) + [{"status": status, "at": at, "by": user_id}],
    }
