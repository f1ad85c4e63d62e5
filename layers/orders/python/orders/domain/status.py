"""The order status machine: pure rules, no I/O."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# The forward path; an order may skip ahead (an admin may mark a pending order shipped) but never go back.
FORWARD_PATH: tuple[OrderStatus, ...] = (
    OrderStatus.PENDING,
    OrderStatus.CONFIRMED,
    OrderStatus.PROCESSING,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
)
CANCELLABLE: frozenset[OrderStatus] = frozenset(
    {OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.PROCESSING}
)
FINAL: frozenset[OrderStatus] = frozenset({OrderStatus.DELIVERED, OrderStatus.CANCELLED})


def _build_transitions() -> dict[OrderStatus, frozenset[OrderStatus]]:
    table: dict[OrderStatus, frozenset[OrderStatus]] = {}
    for position, status in enumerate(FORWARD_PATH):
        targets = set(FORWARD_PATH[position + 1 :])
        if status in CANCELLABLE:
            targets.add(OrderStatus.CANCELLED)
        table[status] = frozenset(targets)
    table[OrderStatus.CANCELLED] = frozenset()
    return table


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = _build_transitions()


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """True when `current -> target` is allowed. Moving to the current status is never allowed."""
    return target in TRANSITIONS[current]


def sources_of(target: OrderStatus) -> frozenset[OrderStatus]:
    """Every status from which `target` may be reached: the condition of the conditional update."""
    return frozenset(source for source, targets in TRANSITIONS.items() if target in targets)
