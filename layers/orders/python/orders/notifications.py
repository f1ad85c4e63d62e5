"""What subscribers are told: `OrderCreated` and `OrderStatusChanged`, derived from the table's stream
images. Pure: no boto3, no env. The JSON Schemas in docs/events/ describe these details."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EVENT_SOURCE = "com.orderservice.orders"
SPEC_VERSION = "1.0"
ORDER_CREATED = "OrderCreated"
ORDER_STATUS_CHANGED = "OrderStatusChanged"
ORDER_ENTITY = "order"


@dataclass(frozen=True, slots=True)
class OrderEvent:
    detail_type: str
    order_id: str
    detail: dict[str, Any]


def _latest_change(image: Mapping[str, Any]) -> Mapping[str, Any]:
    history = image.get("statusHistory") or []
    return history[-1] if history else {}


def event_for(event_name: str, old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None):
    """The event a stream record stands for, or None (not an order, or no status change).

    `eventId` is `<orderId>:<version>`, the same on every redelivery, so subscribers can drop duplicates;
    `version` orders a single order's events (EventBridge itself guarantees no delivery order).
    """
    if not new_image or new_image.get("entityType") != ORDER_ENTITY:
        return None
    if event_name == "INSERT":
        detail_type, previous_status = ORDER_CREATED, None
    elif event_name == "MODIFY" and old_image and old_image.get("status") != new_image.get("status"):
        detail_type, previous_status = ORDER_STATUS_CHANGED, old_image.get("status")
    else:
        return None
    change = _latest_change(new_image)
    version = int(new_image["version"])
    detail: dict[str, Any] = {
        "specVersion": SPEC_VERSION,
        "eventId": f"{new_image['id']}:{version}",
        "orderId": new_image["id"],
        "userId": new_image["userId"],
        "previousStatus": previous_status,
        "status": new_image["status"],
        "version": version,
        "total": new_image["total"],
        "currency": new_image["currency"],
        "occurredAt": change.get("at", new_image.get("updatedAt")),
        "changedBy": change.get("by"),
    }
    if correlation_id := new_image.get("correlationId"):
        detail["correlationId"] = correlation_id
    return OrderEvent(detail_type=detail_type, order_id=new_image["id"], detail=detail)
