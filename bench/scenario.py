"""The data and events each function is measured with, prepared once per run.

Tables (each function's `TABLE_NAME`): `bench-get` (orders to read), `bench-list` (one customer's 50
orders), `bench-status` (pending orders, one per status change, so each cancel succeeds), `bench-create`
(grows), and the lifecycle's table for the stream consumer (its records name orders that exist there).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import events
from bench.data import OrderFactory, load
from bench.infra import Infra

GET_TABLE, LIST_TABLE, STATUS_TABLE, CREATE_TABLE = "bench-get", "bench-list", "bench-status", "bench-create"
GET_ORDERS, LIST_ORDERS = 100, 50
EXPECTED = {"create_order": 201}


class PoolExhausted(RuntimeError):
    pass


@dataclass
class Scenario:
    infra: Infra
    factory: OrderFactory
    stream_records: list[dict[str, Any]]
    calls_table: str
    get_ids: list[str] = field(default_factory=list)
    pending: dict[str, list[str]] = field(default_factory=dict)  # variant -> pending orders to cancel
    _cycle: Any = None

    def table(self, function: str) -> str:
        return {
            "health": GET_TABLE,
            "get_order": GET_TABLE,
            "list_user_orders": LIST_TABLE,
            "create_order": CREATE_TABLE,
            "update_order_status": STATUS_TABLE,
            "order_events": self.calls_table,
        }[function]

    def prepare(self, status_changes_per_variant: dict[str, int]) -> None:
        self.get_ids = load(self.infra, GET_TABLE, self.factory, {events.CUSTOMER: GET_ORDERS})[
            events.CUSTOMER
        ]
        load(self.infra, LIST_TABLE, self.factory, {events.CUSTOMER: LIST_ORDERS})
        self.infra.ensure_table(CREATE_TABLE)
        for variant, count in status_changes_per_variant.items():
            self.pending[variant] = load(self.infra, STATUS_TABLE, self.factory, {events.CUSTOMER: count})[
                events.CUSTOMER
            ]
        self._cycle = itertools.count()

    def _next_pending(self, variant: str) -> str:
        pool = self.pending.get(variant) or []
        if not pool:
            raise PoolExhausted(f"no pending order left for {variant} (raise the pool size)")
        return pool.pop()

    def event(self, function: str, variant: str) -> dict[str, Any]:
        """One invocation's event: fresh each time (ids, keys, request ids)."""
        n = next(self._cycle)
        if function == "health":
            return events.health()
        if function == "get_order":
            return events.get_order(self.get_ids[n % len(self.get_ids)])
        if function == "list_user_orders":
            return events.list_user_orders()
        if function == "create_order":
            return events.create_order()
        if function == "update_order_status":
            return events.change_status(self._next_pending(variant))
        if function == "order_events":
            return events.stream_event([self.stream_records[n % len(self.stream_records)]])
        raise KeyError(function)

    def events(self, function: str, variant: str, count: int) -> list[dict[str, Any]]:
        return [self.event(function, variant) for _ in range(count)]

    @staticmethod
    def expected(function: str) -> int:
        return EXPECTED.get(function, 200)


def ok(function: str) -> Callable[[int], bool]:
    expected = Scenario.expected(function)
    return lambda status: status == expected
