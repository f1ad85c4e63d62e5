"""Stream images decoded into typed values, so that the stream consumer never reads an item's raw
attributes (nor knows which attribute says what an item is).

An image is a deserialised item as Powertools' `DynamoDBRecord` gives it (`old_image`/`new_image`).
Standard library only: the consumer loads no pydantic. Decoding an order is strict: an image that
cannot be read raises KeyError, TypeError or ValueError (a poison record for the consumer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeGuard

from orders.domain.money import to_money
from orders.storage.repository import ENTITY_TYPE, RELEASE_ENTITY

Image = Mapping[str, Any] | None


class OrderImage(NamedTuple):
    """What the consumer reads of an order's image.

    A NamedTuple rather than a frozen dataclass: as immutable, and built at tuple speed. A frozen
    dataclass sets each of its fields through `object.__setattr__`, which made building one about five
    times dearer, on every stream record, in the consumer's warm path."""

    id: str
    user_id: str
    status: str
    version: int
    total: Any
    currency: str
    occurred_at: str | None  # when its latest status change happened
    changed_by: str | None  # who made it
    correlation_id: str | None
    trace_id: str | None  # the X-Ray trace of the request that made this version
    reservation_id: str | None


def is_order(image: Image) -> TypeGuard[Mapping[str, Any]]:
    """True when the image is an order (not a release intent, a reservation state or an idempotency record)."""
    return image is not None and image.get("entityType") == ENTITY_TYPE


def status_of(image: Image) -> str | None:
    """The order status the image holds, None when it holds none (or there is no image)."""
    return image.get("status") if image else None


def order_image(image: Mapping[str, Any]) -> OrderImage:
    history = image.get("statusHistory") or []
    change = history[-1] if history else {}
    return OrderImage(
        version=int(image["version"]),
        id=image["id"],
        user_id=image["userId"],
        status=image["status"],
        # DynamoDB keeps numbers without trailing zeros (30.00 comes back as 30): money again, as the API's.
        total=to_money(image["total"]),
        currency=image["currency"],
        occurred_at=change.get("at", image.get("updatedAt")),
        changed_by=change.get("by"),
        correlation_id=image.get("correlationId"),
        trace_id=image.get("traceId"),
        reservation_id=image.get("reservationId"),
    )


def released_reservation(image: Image) -> str | None:
    """The reservation a release intent (left by a failed create) asks to release; None for other items."""
    if not image or image.get("entityType") != RELEASE_ENTITY:
        return None
    reservation_id = image["reservationId"]
    return reservation_id if isinstance(reservation_id, str) else None
