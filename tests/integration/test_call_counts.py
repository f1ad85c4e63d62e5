"""DynamoDB calls per request, counted with botocore event hooks on the client the functions use:
get 1, list 1, status change 1, create 1 (2 with an Idempotency-Key, its replay 1). No Scan, ever."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, OTHER_USER, SAMPLE_USER, order_body
from tests.support.dynamo import record_calls

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

ABSENT_ID = "019ac0a1-2b3c-7d4e-8f60-123456789abc"


def counted(action) -> list[str]:
    with record_calls() as recorder:
        action()
    assert "Scan" not in recorder.operations
    return recorder.operations


def test_get_is_one_call(api):
    order_id = calls.create_ok()["id"]
    assert counted(lambda: calls.get(order_id)) == ["GetItem"]
    assert len(counted(lambda: calls.get(ABSENT_ID))) == 1
    assert len(counted(lambda: calls.get(order_id, OTHER_USER))) == 1


def test_list_is_one_call(api):
    calls.create_many(5)
    assert counted(lambda: calls.list_orders(SAMPLE_USER, limit=2)) == ["Query"]
    cursor = calls.list_orders(SAMPLE_USER, limit=2).body["nextCursor"]
    assert counted(lambda: calls.list_orders(SAMPLE_USER, limit=2, cursor=cursor)) == ["Query"]
    assert counted(lambda: calls.list_orders(SAMPLE_USER, status="pending")) == ["Query"]
    assert counted(lambda: calls.list_orders(SAMPLE_USER, limit=100)) == ["Query"]


def test_status_change_is_one_call(api):
    order_id = calls.create_ok()["id"]
    assert counted(lambda: calls.change_status(order_id, "confirmed", ADMIN_USER, admin=True)) == [
        "UpdateItem"
    ]
    assert counted(lambda: calls.change_status(order_id, "cancelled", if_match='"2"')) == ["UpdateItem"]


@pytest.mark.parametrize(
    ("label", "action", "status"),
    [
        (
            "conflict",
            lambda order_id: calls.change_status(order_id, "confirmed", ADMIN_USER, admin=True),
            409,
        ),
        ("stale If-Match", lambda order_id: calls.change_status(order_id, "cancelled", if_match='"1"'), 412),
        ("someone else's", lambda order_id: calls.change_status(order_id, "cancelled", OTHER_USER), 404),
        ("customer not cancelling", lambda order_id: calls.change_status(order_id, "shipped"), 403),
        ("absent", lambda order_id: calls.change_status(ABSENT_ID, "cancelled"), 404),
    ],
)
def test_refused_status_changes_are_one_call_too(api, label, action, status):
    order_id = calls.create_ok()["id"]
    assert calls.change_status(order_id, "cancelled").status == 200  # now at version 2, cancelled
    results = []
    operations = counted(lambda: results.append(action(order_id)))
    assert results[0].status == status, results[0].raw_body
    assert len(operations) == 1, operations


def test_create_without_key_is_at_most_three_calls(api):
    operations = counted(lambda: calls.create_ok(SAMPLE_USER, order_body()))
    assert 1 <= len(operations) <= 3, operations
    assert operations.count("PutItem") >= 1


def test_create_with_key_is_two_calls_and_a_replay_one(api):
    """The claim (one conditional PutItem), then the order and the claim's completion in one transaction;
    a replay, a reused key and a request in flight are answered from the refused claim alone."""
    operations = counted(lambda: calls.create_ok(SAMPLE_USER, order_body(), key="count-key"))
    assert operations == ["PutItem", "TransactWriteItems"]
    assert counted(lambda: calls.create_ok(SAMPLE_USER, order_body(), key="count-key")) == ["PutItem"]
    other_body = order_body(("prod-456", 3, Decimal("29.99")))
    assert counted(lambda: calls.create(SAMPLE_USER, other_body, key="count-key")) == ["PutItem"]


def test_create_without_key_is_one_put(api):
    assert counted(lambda: calls.create_ok(SAMPLE_USER, order_body())) == ["PutItem"]


def test_a_failed_keyed_create_releases_its_claim_in_one_more_call(api, upstream):
    upstream.set_faults(rate=1.0, kinds=["error"])
    try:
        assert counted(lambda: calls.create(SAMPLE_USER, order_body(), key="count-key")) == [
            "PutItem",
            "DeleteItem",
        ]
    finally:
        upstream.set_faults(rate=0.0)
