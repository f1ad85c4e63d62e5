"""Idempotency-Key on POST /api/orders: one order per caller and key, the same answer on replay, a 422 for
another body, and records spread over their own partition keys."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, OTHER_USER, SAMPLE_USER, assert_problem, order_body
from tests.support.dynamo import idempotency_items, order_items
from tests.support.lambda_runtime import http_event, invoke, sample_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

KEY = "5b0c2f9e-3a51-4c1e-9d0e-7a7f1d2c3b4a"


def test_replay_returns_the_same_order_byte_for_byte(api):
    first = calls.create(SAMPLE_USER, order_body(), key=KEY)
    second = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert first.status == second.status == 201
    assert second.raw_body == first.raw_body
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["ETag"] == first.headers["ETag"]
    assert [item["id"]["S"] for item in order_items(api)] == [first.body["id"]]


def test_replay_of_the_sample_event(api):
    first = invoke("create_order", http_event("create_order"))
    second = invoke("create_order", http_event("create_order"))
    assert sample_event("create_order")["headers"]["idempotency-key"]
    assert first.status == second.status == 201
    assert second.raw_body == first.raw_body
    assert len(order_items(api)) == 1


def test_same_body_written_differently_is_the_same_request(api):
    first = calls.create(SAMPLE_USER, order_body(), key=KEY)
    compact = (
        '{"shippingAddress":{"zipCode":"10001","city":"New York","street":"123 Main St"},'
        '"items":[{"price":29.99,"quantity":2,"productId":"prod-456"}]}'
    )
    second = calls.create(SAMPLE_USER, compact, key=KEY)
    assert second.status == 201, second.raw_body
    assert second.raw_body == first.raw_body
    assert len(order_items(api)) == 1


@pytest.mark.parametrize(
    "other_body",
    [
        order_body(("prod-456", 3, Decimal("29.99"))),
        order_body(address={"street": "1 Other St", "city": "New York", "zipCode": "10001"}),
        order_body(user_id=SAMPLE_USER),
    ],
    ids=["quantity", "address", "explicit-user"],
)
def test_same_key_with_another_body_is_422(api, other_body):
    first = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert first.status == 201
    assert_problem(calls.create(SAMPLE_USER, other_body, key=KEY), 422)
    assert [item["id"]["S"] for item in order_items(api)] == [first.body["id"]]
    # ...and the original request still replays.
    assert calls.create(SAMPLE_USER, order_body(), key=KEY).raw_body == first.raw_body


def test_same_key_from_another_caller_is_another_order(api):
    mine = calls.create(SAMPLE_USER, order_body(), key=KEY)
    theirs = calls.create(OTHER_USER, order_body(), key=KEY)
    assert mine.status == theirs.status == 201
    assert mine.body["id"] != theirs.body["id"]
    assert theirs.body["userId"] == OTHER_USER
    # An admin ordering for user-123 with the same key and body is yet another caller.
    on_behalf = calls.create(ADMIN_USER, order_body(user_id=SAMPLE_USER), admin=True, key=KEY)
    assert on_behalf.status == 201
    assert on_behalf.body["id"] not in (mine.body["id"], theirs.body["id"])
    assert len(order_items(api)) == 3


def test_another_key_is_another_order(api):
    first = calls.create(SAMPLE_USER, order_body(), key=KEY)
    second = calls.create(SAMPLE_USER, order_body(), key=KEY + "-2")
    assert first.body["id"] != second.body["id"]
    assert len(order_items(api)) == 2


def test_without_a_key_every_post_is_a_new_order(api):
    ids = {calls.create_ok(SAMPLE_USER, order_body())["id"] for _ in range(3)}
    assert len(ids) == 3
    assert len(order_items(api)) == 3
    assert idempotency_items(api) == []


def test_replay_answers_the_creation_even_after_the_order_moved(api):
    first = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert calls.change_status(first.body["id"], "cancelled").status == 200
    replay = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert replay.status == 201
    assert replay.raw_body == first.raw_body
    assert len(order_items(api)) == 1


def test_refused_requests_do_not_burn_the_key(api):
    assert_problem(calls.create(OTHER_USER, order_body(user_id=SAMPLE_USER), key=KEY), 403)
    assert order_items(api) == []
    result = calls.create(OTHER_USER, order_body(), key=KEY)
    assert result.status == 201, result.raw_body


def test_records_have_their_own_partition_per_key(api):
    keys = [f"{KEY}-{index}" for index in range(3)]
    for key in keys:
        assert calls.create(SAMPLE_USER, order_body(), key=key).status == 201
    assert calls.create(OTHER_USER, order_body(), key=keys[0]).status == 201
    records = idempotency_items(api)
    assert len(records) == 4
    partition_keys = [record["PK"]["S"] for record in records]
    assert all(pk.startswith("IDEMPOTENCY#") for pk in partition_keys)
    assert len(set(partition_keys)) == 4, partition_keys  # not one static partition
    assert all(record["SK"]["S"] == "IDEMPOTENCY" for record in records)
    for pk in partition_keys:
        # The caller and key are hashed, never written in clear into the key.
        assert SAMPLE_USER not in pk and OTHER_USER not in pk and KEY not in pk
    now = time.time()
    for record in records:
        assert record["status"]["S"] == "COMPLETED"
        expiration = int(record["expiration"]["N"])
        assert now + 23 * 3600 < expiration <= now + 24 * 3600 + 60


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_invalid_keys_are_400(api, key):
    event = http_event("create_order", body=calls.json_text(order_body()))
    event["headers"]["idempotency-key"] = key
    assert_problem(invoke("create_order", event), 400)
    assert order_items(api) == []
