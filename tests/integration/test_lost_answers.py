"""A create whose DynamoDB write ends without a clear answer: the order is there or it is not, and the answer and
the stock follow what is in the table, never what the call said.

DynamoDB can commit a write and lose its answer (a read timeout, a dropped connection, a 5xx). botocore then
retries the call, and the retry finds what the first attempt wrote; or it gives up and raises. Either way a
create that took the error at its word would release the stock of an order it had written and answer 500.
botocore's own events stand in for the network here: `needs-retry` retries an attempt that succeeded (its
answer "lost"), `after-call` raises after the call was made (the last attempt timed out after the commit)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from orders import wiring
from orders.storage import idempotency

from tests.support import api_calls as calls
from tests.support.api_calls import OTHER_USER, SAMPLE_USER, assert_problem, order_body
from tests.support.dynamo import idempotency_items, order_items

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

KEY = "c9d7e1f0-0b8a-4e55-9a61-2f3b4c5d6e7f"
DYNAMODB = "https://dynamodb.us-east-1.amazonaws.com"


def _answer_lost_once(operation: str) -> None:
    """The first attempt of every `operation` call is made, and botocore retries it as if its answer was lost."""

    def retry_the_first_attempt(attempts: int, **_: Any) -> int | None:
        return 0 if attempts == 1 else None

    wiring.dynamodb_client().meta.events.register_first(
        f"needs-retry.dynamodb.{operation}", retry_the_first_attempt
    )


def _times_out_after(operation: str, meanwhile: Callable[[], object] = lambda: None) -> None:
    """Every `operation` call is made, then raises botocore's read timeout, as its last attempt would. `meanwhile`
    runs first, on a thread of its own (the least-privilege check attributes a call to the function whose code is
    on the calling thread's stack)."""

    def timed_out(**_: Any) -> None:
        other = threading.Thread(target=meanwhile)
        other.start()
        other.join()
        raise ReadTimeoutError(endpoint_url=DYNAMODB)

    wiring.dynamodb_client().meta.events.register(f"after-call.dynamodb.{operation}", timed_out)


def _held(upstream: Any, order_id: str) -> bool:
    return order_id in upstream.live_reservations()


# ---------------------------------------------------------------------------------------- without a key
@pytest.mark.parametrize("lose", [_answer_lost_once, _times_out_after], ids=["retried", "timed-out"])
def test_a_put_that_wrote_the_order_without_saying_so_is_created_once_with_its_stock(api, upstream, lose):
    lose("PutItem")
    created = calls.create(SAMPLE_USER, order_body())
    assert created.status == 201, created.raw_body
    assert [item["id"]["S"] for item in order_items(api)] == [created.body["id"]]
    assert _held(upstream, created.body["id"])


def test_a_put_that_timed_out_without_writing_releases_the_stock(api, upstream):
    def not_written() -> None:
        for item in order_items(api):
            api.delete_item(TableName=wiring.table_name(), Key={"PK": item["PK"], "SK": item["SK"]})

    _times_out_after("PutItem", not_written)
    failed = calls.create(SAMPLE_USER, order_body())
    assert_problem(failed, 503, "service-unavailable")  # a timeout: retry (test_problems.py)
    assert order_items(api) == [] and upstream.live_reservations() == {}


# ---------------------------------------------------------------------------------------- with a key
@pytest.mark.parametrize("lose", [_answer_lost_once, _times_out_after], ids=["retried", "timed-out"])
def test_a_transaction_that_wrote_without_saying_so_is_created_once_and_replays(api, upstream, lose):
    """Where DynamoDB honours the transaction's ClientRequestToken a retry succeeds; where it does not (after 10
    minutes; moto), the retry is cancelled by the order it wrote, which is read back, as after a timeout."""
    lose("TransactWriteItems")
    created = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert created.status == 201, created.raw_body
    assert [item["id"]["S"] for item in order_items(api)] == [created.body["id"]]
    assert [record["status"]["S"] for record in idempotency_items(api)] == ["COMPLETED"]
    assert _held(upstream, created.body["id"])
    assert calls.create(SAMPLE_USER, order_body(), key=KEY).raw_body == created.raw_body


def test_a_claim_whose_answer_was_lost_is_still_this_requests(api, upstream):
    """The retried claim is refused by the record its first attempt made: that record carries this claim's
    token, so the request goes on (before, it answered itself 409 and blocked the key until its deadline)."""
    _answer_lost_once("PutItem")
    created = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert created.status == 201, created.raw_body
    assert len(order_items(api)) == 1
    assert calls.create(SAMPLE_USER, order_body(), key=KEY).raw_body == created.raw_body


def test_a_failed_claim_leaves_the_requests_own_refusal(api, upstream, monkeypatch):
    """DynamoDB throttles the claim (after botocore's retries): a request refused on its own (a customer ordering
    for another user) still gets its 403; a valid one is told to retry, with nothing written or reserved."""

    def throttled(*_: Any, **__: Any) -> None:
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"}
        raise ClientError({"Error": error}, "PutItem")

    monkeypatch.setattr(idempotency.IdempotencyStore, "claim", throttled)
    assert_problem(calls.create(OTHER_USER, order_body(user_id=SAMPLE_USER), key=KEY), 403, "forbidden")
    assert_problem(calls.create(SAMPLE_USER, order_body(), key=KEY), 503, "service-unavailable")
    assert order_items(api) == [] and upstream.live_reservations() == {}


def test_a_release_that_times_out_leaves_the_requests_own_refusal(api, upstream):
    """A keyed create refused after its claim (a price that is not the current one) releases the claim; if that
    delete times out, the answer is still the 422, and the claim expires at the invocation's deadline."""
    _times_out_after("DeleteItem")
    stale_price = order_body(("prod-456", 2, Decimal("1.00")))
    assert_problem(calls.create(SAMPLE_USER, stale_price, key=KEY), 422, "price-mismatch")
    assert order_items(api) == [] and upstream.live_reservations() == {}
