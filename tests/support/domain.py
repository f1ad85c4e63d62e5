"""Building the domain's objects for unit tests: the service with in-memory collaborators.

The upstream user and inventory services are collaborators of `OrderService.create` (DESIGN.md:
"Prices are the inventory's unitPrice"). The fakes below keep that contract: the user directory
knows every user as active unless told otherwise, and the inventory prices products from a catalog.
`make_service` and `price` pass them only where the domain's signatures take them, so these tests
run against the domain layer with or without its upstream clients.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from orders.domain import models
from orders.domain.cursor import CursorCodec
from orders.service import OrderService

from tests.support.catalog import catalog_price

TEST_SECRET = b"unit-test-cursor-secret-0123456789abcdef"


@dataclass
class FakeUsers:
    inactive: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)

    def ensure_active(self, user_id: str, *, deadline: float | None = None) -> None:
        self.calls.append(user_id)
        if user_id in self.inactive:
            from orders.domain.errors import BuyerNotEligible  # only exists with the upstream clients

            raise BuyerNotEligible("is not active")


@dataclass(frozen=True)
class FakeReservation:
    reservation_id: str
    unit_prices: dict[str, Decimal]
    expires_at: str | None = None


@dataclass
class FakeInventory:
    reserved: dict[str, FakeReservation] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)

    def reserve(
        self, reservation_id: str, quantities: Mapping[str, int], *, deadline: float | None = None
    ) -> FakeReservation:
        prices = {product_id: catalog_price(product_id) for product_id in quantities}
        unknown = sorted(product_id for product_id, price in prices.items() if price is None)
        if unknown:
            from orders.domain.errors import UnknownProducts  # only exists with the upstream clients

            raise UnknownProducts(unknown)
        reservation = self.reserved.setdefault(
            reservation_id,
            FakeReservation(
                reservation_id, {key: value for key, value in prices.items() if value is not None}
            ),
        )
        return reservation

    def release(self, reservation_id: str, *, deadline: float | None = None) -> None:
        self.released.append(reservation_id)

    def commit(self, reservation_id: str, *, deadline: float | None = None) -> None:
        pass


def make_service(repository: Any, **options: Any) -> OrderService:
    """`OrderService(repository, ...)` with a cursor codec, and fake upstreams where it takes them."""
    accepted = inspect.signature(OrderService).parameters
    options.setdefault("cursors", CursorCodec(TEST_SECRET))
    if "users" in accepted:
        options.setdefault("users", FakeUsers())
    else:
        options.pop("users", None)
    if "inventory" in accepted:
        options.setdefault("inventory", FakeInventory())
    else:
        options.pop("inventory", None)
    return OrderService(repository, **options)


def price(items: Iterable[models.OrderItemRequest]) -> tuple[list[models.OrderLine], Decimal]:
    """`price_lines` of the request's items at their catalog prices (which tests make equal to the
    prices the request carries)."""
    items = list(items)
    if len(inspect.signature(models.price_lines).parameters) == 1:
        return models.price_lines(items)
    return models.price_lines(items, {item.product_id: catalog_price(item.product_id) for item in items})
