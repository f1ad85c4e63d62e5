"""One page of the cross-user listing (GET /api/orders, admins; issue 21), beside a single-key Query of the
same page size (a user's page, GET /api/users/{userId}/orders), on one table holding orders across many users
in every status: DynamoDB calls and read units per page, through the real functions, recorded in this process
as the calls row records everything (`bench.calls`: read units computed from the items read, moto's are canned).

GSI3 holds each status in `StatusIndexShards` partitions (default 48): a page of one status is a merge of one
Query per shard, a page of every status one per shard of each of the 6 statuses, each reading only about its
share of the page (`orders.storage.repository._ShardMerge`). A user's page is one Query on GSI1.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any
from unittest import mock

from bench import events
from bench.calls import InProcess, _load
from bench.data import OrderFactory, write
from bench.infra import ROOT

TABLE = "bench-cross-user"
PAGE_SIZE = 20
# Orders per user: a user's page holds PAGE_SIZE orders and there is a next one.
ORDERS_PER_USER = 25
# The orders' creation times: OrderFactory's clock starts on 2026-01-01, 1 ms apart.
WINDOW = {"createdFrom": "2026-01-01T00:00:00.000Z", "createdTo": "2026-01-02T00:00:00.000Z"}
SEED = 21


def _query(status: str | None, cursor: str | None = None) -> dict[str, str]:
    query = {**({"status": status} if status else {}), **WINDOW, "limit": str(PAGE_SIZE)}
    if cursor:
        query["cursor"] = cursor
    return query


def _page(summary: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """What one page cost: calls, read units, items read (what the Queries returned) and items answered."""
    calls = summary["_calls"]
    body = json.loads(response.get("body") or "{}")
    return {
        "status": int(response.get("statusCode", 0)),
        "dynamodb_calls": summary["dynamodb_calls"],
        "operations": sorted(set(summary["dynamodb_ops"])),
        "rru": summary["rru"],
        "items_read": sum(len(call.read_sizes) for call in calls if call.is_dynamodb),
        "bytes_read": sum(sum(call.read_sizes) for call in calls if call.is_dynamodb),
        "items_answered": len(body.get("items") or []),
        "next_cursor": bool(body.get("nextCursor")),
        "_cursor": body.get("nextCursor"),
    }


def run(runner: InProcess, template_item: dict[str, Any], orders: int) -> dict[str, Any]:
    """Load `orders` orders (ORDERS_PER_USER per user, statuses drawn evenly at random) into a table of their
    own, then record: the first page of status=confirmed and its next page, the first page of every status,
    and a user's first page; each limit PAGE_SIZE."""
    from orders import wiring
    from orders.domain.status import OrderStatus

    infra = runner.infra
    env = infra.function_env("list_orders", TABLE)
    for name in ("PATH", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_LAMBDA_FUNCTION_NAME", "LANG", "TZ"):
        env.pop(name, None)  # as InProcess: this process's own
    env["OTEL_SDK_DISABLED"] = "true"
    shards = int(env.get("STATUS_INDEX_SHARDS") or 0) or None
    factory = OrderFactory(template_item)
    pick = random.Random(SEED)
    statuses = [str(status) for status in OrderStatus]
    users = [f"bench-cross-{number:04d}" for number in range(max(1, orders // ORDERS_PER_USER))]
    items, per_status = [], dict.fromkeys(statuses, 0)
    for number in range(orders):
        status = pick.choice(statuses)
        per_status[status] += 1
        items.append(factory.item(users[number % len(users)], status, shards)[1])
    write(infra, TABLE, items)

    environment = mock.patch.dict(os.environ, env)
    environment.start()
    wiring.reset()  # the repository is built for one table: build it again for this one
    try:
        if "list_orders" not in runner.real:
            with runner.quiet():
                runner.real["list_orders"] = _load(
                    "bench_real_list_orders", ROOT / "functions" / "list_orders" / "app.py"
                )

        def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
            response, summary = runner.invoke("real", function, event)
            return _page(summary, response)

        def listing(status: str | None, cursor: str | None = None) -> dict[str, Any]:
            return invoke(
                "list_orders",
                events.api_event("list_orders", user=events.ADMIN, admin=True, query=_query(status, cursor)),
            )

        status_page = listing("confirmed")
        status_next = listing("confirmed", status_page["_cursor"])
        all_page = listing(None)
        single = invoke("list_user_orders", events.list_user_orders(users[0], PAGE_SIZE))
    finally:
        environment.stop()
        wiring.reset()
    pages = {
        "status_page": status_page,
        "status_next_page": status_next,
        "all_status_page": all_page,
        "single_key_page": single,
    }
    for page in pages.values():
        page.pop("_cursor", None)

    def ratio(page: str, name: str) -> float | None:
        return pages[page][name] / single[name] if single[name] else None

    return {
        "orders": orders,
        "users": len(users),
        "orders_per_status": per_status,
        "status_index_shards": shards,
        "page_size": PAGE_SIZE,
        "window": WINDOW,
        **pages,
        "ratio": {
            "status_page_calls": ratio("status_page", "dynamodb_calls"),
            "status_page_rru": ratio("status_page", "rru"),
            "all_status_page_calls": ratio("all_status_page", "dynamodb_calls"),
            "all_status_page_rru": ratio("all_status_page", "rru"),
        },
    }
