"""An in-memory stand-in for `orders.storage.repository.OrderRepository`, for service unit tests.

It keeps the repository's contract, written here from DESIGN.md rather than copied from the real
class: `put_new` never overwrites; `get` returns None for an absent order; `list_by_user` is newest
first with an opaque "position after the last item" (None on the last page); `change_status` is one
atomic conditional update (allowed sources, owner for customers, version for If-Match) of a history entry
given as plain data, that answers the changed order in its wire form and raises `TransitionRejected(current)`
with the order as it stood, in its wire form too (None when there is none).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from orders.domain.models import Order, StatusChange
from orders.domain.status import OrderStatus
from orders.storage.repository import TransitionRejected


class DuplicateOrderId(Exception):
    pass


@dataclass
class FakeOrderRepository:
    orders: dict[str, Order] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    # ------------------------------------------------------------------ contract
    def put_new(self, order: Order, correlation_id: str | None = None, **extra: Any) -> None:
        self.calls.append(("put_new", {"order": order, "correlation_id": correlation_id, **extra}))
        if order.id in self.orders:
            raise DuplicateOrderId(order.id)
        self.orders[order.id] = order

    def get_wire(self, order_id: str) -> dict[str, Any] | None:
        self.calls.append(("get_wire", {"order_id": order_id}))
        order = self.orders.get(order_id)
        return None if order is None else order.to_wire()

    def list_by_user(
        self, user_id: str, *, status: OrderStatus | None, limit: int, after: str | None
    ) -> tuple[list[Order], str | None]:
        self.calls.append(
            ("list_by_user", {"user_id": user_id, "status": status, "limit": limit, "after": after})
        )
        mine = [
            order
            for order in self.orders.values()
            if order.user_id == user_id and (status is None or order.status == status)
        ]
        mine.sort(key=lambda order: (order.created_at, order.id), reverse=True)
        start = 0
        if after is not None:
            start = next(index for index, order in enumerate(mine) if order.id == after) + 1
        page = mine[start : start + limit]
        more = len(mine) > start + limit
        return page, (page[-1].id if more and page else None)

    def list_wire_by_user(
        self, user_id: str, *, status: OrderStatus | None, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        orders, next_position = self.list_by_user(user_id, status=status, limit=limit, after=after)
        return [order.to_wire() for order in orders], next_position

    def change_status(
        self,
        order_id: str,
        *,
        target: OrderStatus,
        allowed_sources: Collection[OrderStatus],
        change: Mapping[str, str],
        owner: str | None = None,
        expected_versions: Collection[int] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        self.calls.append(
            (
                "change_status",
                {
                    "order_id": order_id,
                    "target": target,
                    "allowed_sources": frozenset(allowed_sources),
                    "change": change,
                    "owner": owner,
                    "expected_versions": expected_versions,
                    **extra,
                },
            )
        )
        current = self.orders.get(order_id)
        if (
            current is None
            or current.status not in allowed_sources
            or (owner is not None and current.user_id != owner)
            or (expected_versions is not None and current.version not in expected_versions)
        ):
            raise TransitionRejected(None if current is None else current.to_wire())
        updated = current.model_copy(
            update={
                "status": target,
                "updated_at": change["at"],
                "version": current.version + 1,
                "status_history": [*current.status_history, StatusChange.model_validate(change)],
            }
        )
        self.orders[order_id] = updated
        return updated.to_wire()

    # ------------------------------------------------------------------ test helpers
    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def last(self, operation: str) -> dict[str, Any]:
        return next(arguments for name, arguments in reversed(self.calls) if name == operation)

    def force_status(self, order_id: str, status: OrderStatus) -> Order:
        """Put an order in any status directly (as an earlier history of moves would have)."""
        order = self.orders[order_id].model_copy(update={"status": status})
        self.orders[order_id] = order
        return order
