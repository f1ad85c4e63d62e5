"""Keeping the inventory reservation in step with the order, driven by the table's stream:
cancelled -> release, shipped (or delivered without shipped) -> commit, and release intents left by
failed creates.

Each action is idempotent at the inventory and recorded beside the order (`ORDER#<id>`/`RESERVATION`), so a
redelivered stream record does not repeat it. A failed call raises: the record is retried under the
stream's rules (partial batch failure, retries, on-failure destination)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from orders.domain.status import OrderStatus
from orders.storage.images import is_order, order_image, released_reservation, status_of
from orders.storage.repository import OrderRepository

RELEASED = "released"
COMMITTED = "committed"


# What the inventory is told when an order reaches a status, keyed by the image's status text (OrderStatus
# is a StrEnum). An admin may skip `shipped` (straight to delivered): the stock has left either way.
SETTLEMENT_OF_STATUS: dict[str, str] = {
    OrderStatus.CANCELLED: RELEASED,
    OrderStatus.SHIPPED: COMMITTED,
    OrderStatus.DELIVERED: COMMITTED,
}


class Inventory(Protocol):
    def release(self, reservation_id: str, *, deadline: float | None = None) -> None: ...

    def commit(self, reservation_id: str, *, deadline: float | None = None) -> None: ...


class ReservationKeeper:
    def __init__(self, repository: OrderRepository, inventory: Inventory) -> None:
        self._repository = repository
        self._inventory = inventory

    def settle(
        self, event_name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> str | None:
        """Do what the record asks of the inventory; returns the action taken (or None)."""
        if event_name == "INSERT" and (reservation_id := released_reservation(new)) is not None:
            self._inventory.release(reservation_id)
            self._repository.delete_release_intent(reservation_id)
            return RELEASED
        if event_name != "MODIFY" or not new or not old or not is_order(new):
            return None
        if status_of(old) == status_of(new):
            return None
        order = order_image(new)
        if not order.reservation_id:
            return None
        action = SETTLEMENT_OF_STATUS.get(order.status)
        if action is None or self._repository.reservation_state(order.id) == action:
            return None
        if action == RELEASED:
            self._inventory.release(order.reservation_id)
        else:
            self._inventory.commit(order.reservation_id)
        self._repository.set_reservation_state(order.id, action)
        return action
