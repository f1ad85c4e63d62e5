"""What subscribers are told: `OrderCreated` and `OrderStatusChanged`, derived from the table's stream
images. Pure: no boto3, no env. The JSON Schemas in docs/events/ describe these details."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orders.storage.images import is_order, order_image, status_of

EVENT_SOURCE = "com.orderservice.orders"
SPEC_VERSION = "1.0"
ORDER_CREATED = "OrderCreated"
ORDER_STATUS_CHANGED = "OrderStatusChanged"


@dataclass(frozen=True, slots=True)
class OrderEvent:
    detail_type: str
    order_id: str
    detail: dict[str, Any]


def event_for(
    event_name: str, old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None
) -> OrderEvent | None:
    """The event a stream record stands for, or None (not an order, or no status change).

    `eventId` is `<orderId>:<version>`, the same on every redelivery, so subscribers can drop duplicates;
    `version` orders a single order's events (EventBridge itself guarantees no delivery order).
    """
    if not is_order(new_image):
        return None
    if event_name == "INSERT":
        detail_type, previous_status = ORDER_CREATED, None
    elif event_name == "MODIFY" and old_image and status_of(old_image) != status_of(new_image):
        detail_type, previous_status = ORDER_STATUS_CHANGED, status_of(old_image)
    else:
        return None
    order = order_image(new_image)
    detail: dict[str, Any] = {
        "specVersion": SPEC_VERSION,
        "eventId": f"{order.id}:{order.version}",
        "orderId": order.id,
        "userId": order.user_id,
        "previousStatus": previous_status,
        "status": order.status,
        "version": order.version,
        "total": order.total,
        "currency": order.currency,
        "occurredAt": order.occurred_at,
        "changedBy": order.changed_by,
    }
    if order.correlation_id:
        detail["correlationId"] = order.correlation_id
    if order.trace_id:
        detail["traceId"] = order.trace_id
    return OrderEvent(detail_type=detail_type, order_id=order.id, detail=detail)
