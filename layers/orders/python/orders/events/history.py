"""The events an order has had, regenerated from its item (`make backfill`): `OrderCreated` and one
`OrderStatusChanged` per later version, built by the live path's own `event_for` from the images the
stream carried (rebuilt by `orders.storage.history`), so the same `eventId`s and the same details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orders.events.notifications import OrderEvent, event_for
from orders.storage.history import images_by_version


def past_events(image: Mapping[str, Any]) -> list[OrderEvent]:
    """Every event of the order up to its current version, in version order. Raises ValueError for an item
    whose history cannot be read (see `images_by_version`)."""
    events: list[OrderEvent] = []
    previous: Mapping[str, Any] | None = None
    for current in images_by_version(image):
        event = event_for("MODIFY" if previous else "INSERT", previous, current)
        if event is not None:
            events.append(event)
        previous = current
    return events
