"""Short, readable calls of the real handlers (through `events/` samples) and problem+json checks."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import simplejson

from tests.support.lambda_runtime import HttpResult, http_event, invoke

PROBLEM_JSON = "application/problem+json"
SAMPLE_USER = "user-123"
OTHER_USER = "user-456"
ADMIN_USER = "admin-1"


def order_body(
    *items: tuple[str, int, Any], user_id: str | None = None, address: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A create-order body; items are (productId, quantity, price). Default: 2 x prod-456 at 29.99."""
    lines = items or (("prod-456", 2, Decimal("29.99")),)
    body: dict[str, Any] = {
        "items": [
            {"productId": product, "quantity": quantity, "price": price} for product, quantity, price in lines
        ],
        "shippingAddress": address or {"street": "123 Main St", "city": "New York", "zipCode": "10001"},
    }
    if user_id is not None:
        body["userId"] = user_id
    return body


def json_text(value: Any) -> str:
    """The request body as a client sends it: `Decimal` prices written as exact JSON numbers."""
    return simplejson.dumps(value, use_decimal=True)


def create(
    user: str | None = SAMPLE_USER,
    body: Any = ...,
    *,
    admin: bool = False,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResult:
    """POST /api/orders. No Idempotency-Key unless `key` is given (the sample event carries one)."""
    payload = order_body() if body is ... else body
    raw = payload if isinstance(payload, str) or payload is None else json_text(payload)
    event = http_event("create_order", user=user, admin=admin, body=raw, headers=headers)
    event["headers"].pop("idempotency-key", None)
    if key is not None:
        event["headers"]["idempotency-key"] = key
    return invoke("create_order", event)


def create_ok(user: str = SAMPLE_USER, body: Any = ..., **kwargs: Any) -> dict[str, Any]:
    result = create(user, body, **kwargs)
    assert result.status == 201, result.raw_body
    return result.body


def get(order_id: str, user: str | None = SAMPLE_USER, *, admin: bool = False) -> HttpResult:
    event = http_event(
        "get_order", user=user, admin=admin, path=f"/api/orders/{order_id}", path_parameters={"id": order_id}
    )
    return invoke("get_order", event)


def change_status(
    order_id: str,
    status: Any,
    user: str | None = SAMPLE_USER,
    *,
    admin: bool = False,
    if_match: str | None = None,
    body: Any = ...,
) -> HttpResult:
    headers = {"if-match": if_match} if if_match is not None else None
    event = http_event(
        "update_order_status",
        user=user,
        admin=admin,
        path=f"/api/orders/{order_id}/status",
        path_parameters={"id": order_id},
        body={"status": status} if body is ... else body,
        headers=headers,
    )
    return invoke("update_order_status", event)


def list_orders(
    user_id: str, caller: str | None = SAMPLE_USER, *, admin: bool = False, **query: Any
) -> HttpResult:
    event = http_event(
        "list_user_orders",
        user=caller,
        admin=admin,
        path=f"/api/users/{user_id}/orders",
        path_parameters={"userId": user_id},
        query={name: str(value) for name, value in query.items()},
    )
    return invoke("list_user_orders", event)


def create_many(count: int, user: str = SAMPLE_USER, *, admin: bool = False) -> list[str]:
    """`count` orders, oldest first, at least 2 ms apart (createdAt and UUIDv7 ids have ms resolution)."""
    ids = []
    for index in range(count):
        if index:
            time.sleep(0.002)
        ids.append(create_ok(user, order_body(("prod-456", index + 1, Decimal("29.99"))), admin=admin)["id"])
    return ids


def assert_problem(result: HttpResult, status: int, slug: str | None = None) -> dict[str, Any]:
    """RFC 9457: problem+json with type, title, status (= the HTTP status) and detail."""
    assert result.status == status, (result.status, result.raw_body)
    assert result.content_type.split(";")[0].strip() == PROBLEM_JSON, result.headers
    body = result.body
    assert isinstance(body, dict), result.raw_body
    for member in ("type", "title", "status", "detail"):
        assert member in body, (member, body)
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if slug is not None:
        assert body["type"].endswith(slug), body["type"]
    return body
