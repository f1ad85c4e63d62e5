"""Keeping the inventory reservation in step with the order, driven by the table's stream:
cancelled -> release, shipped (or delivered without shipped) -> commit, and release intents left by
failed creates.

Each action is idempotent at the inventory and recorded beside the order (`ORDER#<id>`/`RESERVATION`), so a
redelivered stream record does not repeat it. A failed call raises: the record is retried under the
stream's rules (partial batch failure, retries, on-failure destination)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from orders.notifications import ORDER_ENTITY
from orders.repository import RELEASE_ENTITY, OrderRepository

RELEASED = "released"
COMMITTED = "committed"


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
        if event_name == "INSERT" and new and new.get("entityType") == RELEASE_ENTITY:
            self._inventory.release(new["reservationId"])
            self._repository.delete_release_intent(new["reservationId"])
            return RELEASED
        if event_name != "MODIFY" or not new or not old or new.get("entityType") != ORDER_ENTITY:
            return None
        if old.get("status") == new.get("status") or not new.get("reservationId"):
            return None
        # An admin may skip `shipped` (straight to delivered): the stock has left either way.
        action = {"cancelled": RELEASED, "shipped": COMMITTED, "delivered": COMMITTED}.get(new["status"])
        if action is None or self._repository.reservation_state(new["id"]) == action:
            return None
        if action == RELEASED:
            self._inventory.release(new["reservationId"])
        else:
            self._inventory.commit(new["reservationId"])
        self._repository.set_reservation_state(new["id"], action)
        return action
