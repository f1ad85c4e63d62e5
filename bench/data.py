"""Orders loaded straight into moto with BatchWriteItem, in the repository's own item format.

Every order is a copy of one the real `POST /api/orders` created (so whatever an order carries, these
carry too), with its own UUIDv7 id, owner and creation time, written through `orders.storage.repository._to_item`
so that keys and index attributes are exactly what the repository writes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.infra import Infra

BATCH = 25  # BatchWriteItem's limit


class OrderFactory:
    def __init__(self, template_item: dict[str, Any]) -> None:
        from orders.storage.repository import _from_item

        self.template = _from_item(template_item)
        self._lock = threading.Lock()
        self._last = datetime(2026, 1, 1, tzinfo=UTC)

    def _moment(self) -> datetime:
        with self._lock:
            self._last += timedelta(milliseconds=1)
            return self._last

    def item(self, user_id: str) -> tuple[str, dict[str, Any]]:
        """(order id, table item) of a fresh pending order of `user_id`."""
        from orders.domain.ids import iso_timestamp, new_order_id
        from orders.storage.repository import _to_item

        moment = self._moment()
        at = iso_timestamp(moment)
        first = self.template.status_history[0].model_copy(update={"at": at, "by": user_id})
        order_id = new_order_id(moment)
        update: dict[str, Any] = {}
        if getattr(self.template, "reservation_id", None) == self.template.id:
            update["reservation_id"] = order_id  # the reservation is named after its order
        order = self.template.model_copy(
            update={
                **update,
                "id": order_id,
                "user_id": user_id,
                "created_at": at,
                "updated_at": at,
                "version": 1,
                "status": first.status,
                "status_history": [first],
            }
        )
        return order.id, _to_item(order, None)


def load(
    infra: Infra, table: str, factory: OrderFactory, users: dict[str, int], threads: int = 4
) -> dict[str, list[str]]:
    """Write `count` orders for each user into `table`; their ids per user, oldest first."""
    infra.ensure_table(table)
    ids: dict[str, list[str]] = {user: [] for user in users}
    items: list[dict[str, Any]] = []
    for user, count in users.items():
        for _ in range(count):
            order_id, item = factory.item(user)
            ids[user].append(order_id)
            items.append(item)
    batches = [items[start : start + BATCH] for start in range(0, len(items), BATCH)]
    local = threading.local()

    def write(batch: list[dict[str, Any]]) -> None:
        client = getattr(local, "client", None) or infra.dynamodb()
        local.client = client
        pending = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, batches))
    return ids
