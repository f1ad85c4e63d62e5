"""Keeping the inventory reservation in step with the order, driven by the table's stream:
cancelled -> release, shipped (or delivered without shipped) -> commit, and release intents left by
failed creates.

Each action is idempotent at the inventory and recorded beside the order (`ORDER#<id>`/`RESERVATION`), so a
redelivered stream record does not repeat it. A failed call raises: the record is retried under the
stream's rules (partial batch failure, retries, on-failure destination)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

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


class Settlement(NamedTuple):
    """What a stream record asks of the inventory: `action` (released/committed) on `reservation_id`, for
    `order_id` (None for a release intent, which belongs to no order)."""

    action: str
    reservation_id: str
    order_id: str | None


def settlement_for(
    event_name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> Settlement | None:
    """The inventory action a record stands for, or None. Pure: whether it was already done is the
    keeper's to find out."""
    if event_name == "INSERT" and (reservation_id := released_reservation(new)) is not None:
        return Settlement(RELEASED, reservation_id, None)
    if event_name != "MODIFY" or not new or not old or not is_order(new):
        return None
    if status_of(old) == status_of(new):
        return None
    order = order_image(new)
    action = SETTLEMENT_OF_STATUS.get(order.status)
    if not order.reservation_id or action is None:
        return None
    return Settlement(action, order.reservation_id, order.id)


class ReservationKeeper:
    def __init__(self, repository: OrderRepository, inventory: Inventory) -> None:
        self._repository = repository
        self._inventory = inventory

    def settle(
        self, event_name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> str | None:
        """Do what the record asks of the inventory; returns the action taken (or None)."""
        settlement = settlement_for(event_name, old, new)
        if settlement is None:
            return None
        if settlement.order_id is None:  # a release intent left by a failed create
            if not self._repository.release_intent_exists(settlement.reservation_id):
                return None  # carried out already: this record is a redelivery
            # Released first, deleted second: an intent whose delete fails is released again, harmlessly.
            self._inventory.release(settlement.reservation_id)
            self._repository.delete_release_intent(settlement.reservation_id)
            return RELEASED
        if self._repository.reservation_state(settlement.order_id) == settlement.action:
            return None
        if settlement.action == RELEASED:
            self._inventory.release(settlement.reservation_id)
        else:
            self._inventory.commit(settlement.reservation_id)
        self._repository.set_reservation_state(settlement.order_id, settlement.action)
        return settlement.action
