"""Broken object level authorisation: a second customer tries every endpoint on the first customer's
order. Each attempt is refused (404 for the order, 403 for the listing and for ordering in their name),
leaks nothing, and the table is byte-for-byte unchanged afterwards."""

from __future__ import annotations

import pytest

from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, SAMPLE_USER, assert_problem, order_body
from tests.support.dynamo import snapshot
from tests.support.status_rules import STATUSES

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

OWNER = SAMPLE_USER
INTRUDER = "user-789"
OWNER_KEY = "owner-idempotency-key-1"


def owners_secrets(order: dict) -> list[str]:
    return [order["id"], order["shippingAddress"]["street"], order["createdAt"], OWNER]


def attempts(order_id: str, owner_cursor: str):
    """(label, expected status, call) for everything the intruder might try."""
    for status in STATUSES:
        for if_match in (None, '"1"', '"2"', '"99"', "*"):
            yield (
                f"PATCH {status} If-Match {if_match}",
                404,
                lambda status=status, if_match=if_match: calls.change_status(
                    order_id, status, INTRUDER, if_match=if_match
                ),
            )
    yield "GET", 404, lambda: calls.get(order_id, INTRUDER)
    yield "LIST", 403, lambda: calls.list_orders(OWNER, INTRUDER)
    for status in STATUSES:
        yield (
            f"LIST status={status}",
            403,
            lambda status=status: calls.list_orders(OWNER, INTRUDER, status=status),
        )
    yield (
        "LIST with the owner's cursor",
        403,
        lambda: calls.list_orders(OWNER, INTRUDER, limit=1, cursor=owner_cursor),
    )
    yield "POST for the owner", 403, lambda: calls.create(INTRUDER, order_body(user_id=OWNER))
    yield (
        "POST for the owner, with a key",
        403,
        lambda: calls.create(INTRUDER, order_body(user_id=OWNER), key="k-1"),
    )
    yield (
        "POST for the owner, with the owner's key",
        403,
        lambda: calls.create(INTRUDER, order_body(user_id=OWNER), key=OWNER_KEY),
    )


@pytest.mark.parametrize("state", ["pending", "processing", "delivered"])
def test_second_customer_is_refused_everywhere_and_changes_nothing(api, state):
    order = calls.create(OWNER, order_body(user_id=OWNER), key=OWNER_KEY).body
    calls.create_ok(OWNER)  # a second order, so that the owner's listing has a next page
    if state != "pending":
        assert calls.change_status(order["id"], state, ADMIN_USER, admin=True).status == 200
    owner_cursor = calls.list_orders(OWNER, OWNER, limit=1).body["nextCursor"]
    assert owner_cursor
    before = snapshot(api)

    for label, expected, attempt in attempts(order["id"], owner_cursor):
        result = attempt()
        assert_problem(result, expected)
        for secret in owners_secrets(order):
            assert secret not in result.raw_body, (label, secret, result.raw_body)

    assert snapshot(api) == before
    # The owner still sees their order exactly as before.
    assert calls.get(order["id"], OWNER).body["version"] == (1 if state == "pending" else 2)


def test_foreign_and_absent_orders_get_identical_answers(api):
    order_id = calls.create_ok(OWNER)["id"]
    absent_id = "019ac0a1-2b3c-7d4e-8f60-123456789abc"
    for status in STATUSES:
        foreign = calls.change_status(order_id, status, INTRUDER)
        absent = calls.change_status(absent_id, status, INTRUDER)
        assert (foreign.status, foreign.body, foreign.headers) == (
            absent.status,
            absent.body,
            absent.headers,
        ), status
    foreign, absent = calls.get(order_id, INTRUDER), calls.get(absent_id, INTRUDER)
    assert (foreign.status, foreign.body, foreign.headers) == (absent.status, absent.body, absent.headers)
