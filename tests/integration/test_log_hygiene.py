"""No log line may hold a shipping address, a token or an Authorization header: not on success, not
on a client error, not on an unexpected failure."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from tests.support.lambda_runtime import http_event, invoke

ADDRESS = {"street": "742 Evergreen Terrace", "city": "Springfield", "zipCode": "49007", "state": "Oregon"}
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw"
SECRETS = [*ADDRESS.values(), TOKEN, "Bearer ", "authorization", "Authorization"]


def order_body(**changes):
    return {"items": [{"productId": "prod-456", "quantity": 2}], "shippingAddress": ADDRESS, **changes}


def with_token(event: dict) -> dict:
    event["headers"]["authorization"] = f"Bearer {TOKEN}"
    return event


@pytest.fixture
def all_logs(capsys, caplog):
    """Everything written at the production log level: Powertools' JSON lines on stdout, and whatever
    any library logs at INFO and above (tracebacks included)."""
    caplog.set_level(logging.INFO)

    def collected() -> str:
        captured = capsys.readouterr()
        return captured.out + captured.err + caplog.text

    return collected


def assert_clean(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"logs hold {leaked}"


def test_logs_of_a_whole_order_lifecycle_hold_no_address_or_token(table, all_logs):
    created = invoke(
        "create_order",
        with_token(
            http_event("create_order", body=order_body(), headers={"idempotency-key": str(uuid.uuid4())})
        ),
    )
    assert created.status == 201
    order_id = created.body["id"]
    for function, changes in [
        ("get_order", {"path": f"/api/orders/{order_id}"}),
        ("update_order_status", {"path": f"/api/orders/{order_id}/status", "body": {"status": "cancelled"}}),
        ("list_user_orders", {}),
    ]:
        assert invoke(function, with_token(http_event(function, **changes))).status == 200
    logs = all_logs()
    assert "OrderCreated" in logs and "OrderStatusChanged" in logs  # the capture sees what functions write
    assert_clean(logs)


@pytest.mark.parametrize(
    "body",
    [
        order_body(extra="field"),
        order_body(items=[{"productId": "prod-456", "quantity": 0}]),
        json.dumps(order_body())[:-3],
        order_body(shippingAddress={**ADDRESS, "zipCode": "!" * 40}),
    ],
    ids=["unknown-field", "bad-quantity", "malformed", "bad-zip"],
)
def test_logs_of_refused_requests_hold_no_address_or_token(table, all_logs, body):
    response = invoke("create_order", with_token(http_event("create_order", body=body)))
    assert response.status == 400
    assert_clean(all_logs() + response.raw_body)


def test_an_unexpected_failure_is_logged_without_the_request(table, all_logs, monkeypatch):
    from orders.storage.repository import OrderRepository

    def broken_write(self, order, correlation_id=None, *also):
        raise RuntimeError("the table is on fire")

    monkeypatch.setattr(OrderRepository, "put_new", broken_write)
    monkeypatch.setattr(OrderRepository, "put_new_with", broken_write)  # a keyed create's write
    response = invoke(
        "create_order",
        with_token(
            http_event("create_order", body=order_body(), headers={"idempotency-key": str(uuid.uuid4())})
        ),
    )
    assert response.status == 500 and "correlationId" in response.body
    logs = all_logs()
    assert "the table is on fire" in logs  # the failure itself is logged, with its traceback
    assert_clean(logs)
