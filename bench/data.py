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
ADMIN = "ops-1"  # who moved the loaded orders past pending (bench.events.ADMIN)


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

    def item(
        self, user_id: str, status: str = "pending", status_shards: int | None = None
    ) -> tuple[str, dict[str, Any]]:
        """(order id, table item) of a fresh order of `user_id`: pending, or moved to `status` along the
        forward path (cancelled: from pending) by an admin; `status_shards`: the status index's shard count
        (the repository's default if None)."""
        from orders.domain.ids import iso_timestamp, new_order_id
        from orders.domain.status import FORWARD_PATH, OrderStatus
        from orders.storage.repository import DEFAULT_STATUS_SHARDS, _to_item

        moment = self._moment()
        at = iso_timestamp(moment)
        first = self.template.status_history[0].model_copy(update={"at": at, "by": user_id})
        target = OrderStatus(status)
        path = (
            [target] if target not in FORWARD_PATH else list(FORWARD_PATH[: FORWARD_PATH.index(target) + 1])
        )
        history = [first] + [
            first.model_copy(update={"status": step, "by": ADMIN}) for step in path if step != first.status
        ]
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
                "version": len(history),
                "status": history[-1].status,
                "status_history": history,
            }
        )
        return order.id, _to_item(order, None, status_shards or DEFAULT_STATUS_SHARDS)


def load(
    infra: Infra, table: str, factory: OrderFactory, users: dict[str, int], threads: int = 4
) -> dict[str, list[str]]:
    """Write `count` orders for each user into `table`; their ids per user, oldest first."""
    ids: dict[str, list[str]] = {user: [] for user in users}
    items: list[dict[str, Any]] = []
    for user, count in users.items():
        for _ in range(count):
            order_id, item = factory.item(user)
            ids[user].append(order_id)
            items.append(item)
    write(infra, table, items, threads)
    return ids


def write(infra: Infra, table: str, items: list[dict[str, Any]], threads: int = 4) -> None:
    """Write table items into `table` with BatchWriteItem, `threads` batches at a time."""
    infra.ensure_table(table)
    batches = [items[start : start + BATCH] for start in range(0, len(items), BATCH)]
    local = threading.local()

    def put(batch: list[dict[str, Any]]) -> None:
        client = getattr(local, "client", None) or infra.dynamodb()
        local.client = client
        pending = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(put, batches))
