"""GET /api/orders over HTTP against the local stack: an admin pages through orders that several customers
created through the API, by creation time and by status, and sees each exactly once."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

import pytest

from tests.e2e.attacks import order_body

pytestmark = pytest.mark.e2e


def pages(stack, token: str, query: dict) -> tuple[list[dict], int]:
    """Every page of `query`, following `nextCursor` with the same query: (the orders, the pages read)."""
    orders: list[dict] = []
    cursor = None
    for count in range(1, 100):
        suffix = f"&cursor={quote(cursor, safe='')}" if cursor else ""
        reply = stack.request("GET", f"/api/orders?{urlencode(query)}{suffix}", token=token)
        assert reply.status == 200, reply.text
        page = reply.json()
        assert len(page["items"]) <= query["limit"]
        orders += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            return orders, count
    raise AssertionError("more than 99 pages")


def test_an_admin_pages_through_every_users_orders_once(stack, mint):
    run = uuid.uuid4().hex[:8]
    users = [f"across-{run}-{index}" for index in range(3)]
    created: list[dict] = []
    for _ in range(3):
        for user in users:
            reply = stack.request("POST", "/api/orders", token=mint(user), body=order_body())
            assert reply.status == 201, reply.text
            created.append(reply.json())
    cancelled = {created[1]["id"], created[5]["id"]}
    for order in created:
        if order["id"] in cancelled:
            reply = stack.request(
                "PATCH", f"/api/orders/{order['id']}/status", token=mint(order["userId"]),
                body=json.dumps({"status": "cancelled"}),
            )  # fmt: skip
            assert reply.status == 200, reply.text
    mine = {order["id"] for order in created}
    last = datetime.fromisoformat(created[-1]["createdAt"])
    window = {
        "createdFrom": created[0]["createdAt"],
        "createdTo": (last + timedelta(milliseconds=1)).isoformat(),
    }
    admin = mint(f"ops-{run}", admin=True)

    for order in ("desc", "asc"):
        listed, read = pages(stack, admin, {**window, "order": order, "limit": 2})
        ids = [item["id"] for item in listed]
        assert len(ids) == len(set(ids)), f"an order listed twice ({order})"
        # Orders other tests created meanwhile may be in the window too; ours are there, each once.
        assert mine <= set(ids), (order, mine - set(ids))
        assert read >= len(mine) // 2
        keys = [(item["createdAt"], item["id"]) for item in listed]
        assert keys == sorted(keys, reverse=order == "desc")
        ours = [item for item in listed if item["id"] in mine]
        assert {item["userId"] for item in ours} == set(users)
        # Each as GET /api/orders/{id} returns it to the admin: the listing shows the current state.
        for item in ours:
            assert item == stack.request("GET", f"/api/orders/{item['id']}", token=admin).json()

    listed, _ = pages(stack, admin, {**window, "status": "cancelled", "limit": 1})
    assert {item["id"] for item in listed} & mine == cancelled
    assert {item["status"] for item in listed} == {"cancelled"}
    listed, _ = pages(stack, admin, {**window, "status": "pending", "limit": 3})
    assert {item["id"] for item in listed} & mine == mine - cancelled
    assert {item["status"] for item in listed} == {"pending"}

    # The window's bounds: createdFrom inclusive, createdTo exclusive.
    narrowed = {"createdFrom": created[1]["createdAt"], "createdTo": created[-1]["createdAt"], "limit": 100}
    listed, _ = pages(stack, admin, narrowed)
    expected = {
        order["id"]
        for order in created
        if created[1]["createdAt"] <= order["createdAt"] < created[-1]["createdAt"]
    }
    assert {item["id"] for item in listed} & mine == expected
