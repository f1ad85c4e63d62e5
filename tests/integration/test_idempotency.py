"""Idempotency-Key on POST /api/orders: one order per caller and key, the same answer on replay, a 422 for
another body, and records spread over their own partition keys."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError
from orders import wiring
from orders.domain.caller import Caller
from orders.domain.jsonio import dumps
from orders.domain.models import CreateOrderRequest
from orders.storage import idempotency
from orders.storage.idempotency import IdempotencyStore, RequestInProgress
from orders.storage.repository import OrderRepository

from tests.conftest import TEST_ENV
from tests.integration.conftest import UPSTREAM_VARIABLES
from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, OTHER_USER, SAMPLE_USER, assert_problem, order_body
from tests.support.dynamo import fresh_table, idempotency_items, order_items, record_calls
from tests.support.lambda_runtime import (
    FakeLambdaContext,
    http_event,
    invoke,
    reset_process_state,
    sample_event,
)
from tests.support.servers import ServerProcess
from tests.support.stubs import StubControl

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


# ---------------------------------------------------------------------------------------- keyed creates (issue 20)
# One conditional PutItem claims the key; the order and the claim's completion are one TransactWriteItems.
def _dumped(body: dict) -> dict:
    return CreateOrderRequest.model_validate(body).model_dump(mode="json")


def _record(client, caller: str = SAMPLE_USER, key: str = KEY) -> dict | None:
    response = client.get_item(
        TableName=wiring.table_name(), Key=idempotency.record_key(caller, key), ConsistentRead=True
    )
    return response.get("Item")


def test_records_keep_powertools_attributes(api):
    created = calls.create(SAMPLE_USER, order_body(), key=KEY)
    record = _record(api)
    assert set(record) == {"PK", "SK", "status", "expiration", "in_progress_expiration", "data", "validation"}
    assert record["validation"]["S"] == idempotency.body_hash(_dumped(order_body()))
    stored = json.loads(record["data"]["S"])
    assert stored == {"id": created.body["id"], "version": 1, "body": created.raw_body}


def test_the_claim_expires_at_the_invocations_deadline(api):
    """In flight, the record blocks the key only until the invocation's deadline (FakeLambdaContext: 10 s)."""
    with record_calls() as recorder:
        before_ms = time.time() * 1000
        assert calls.create(SAMPLE_USER, order_body(), key=KEY).status == 201
        after_ms = time.time() * 1000
    [claim] = [call for call in recorder.calls if call.operation == "PutItem"]
    assert claim.params["Item"]["status"] == {"S": "INPROGRESS"}
    deadline = int(claim.params["Item"]["in_progress_expiration"]["N"])
    assert before_ms + 10_000 - 1 <= deadline <= after_ms + 10_000
    expiration = int(claim.params["Item"]["expiration"]["N"])
    assert before_ms / 1000 + 24 * 3600 - 1 <= expiration <= after_ms / 1000 + 24 * 3600


def test_a_request_in_flight_is_409_and_another_body_422(api, upstream):
    store = wiring.idempotency_store()
    store.claim(SAMPLE_USER, KEY, _dumped(order_body()), remaining_ms=60_000)  # the first request, in flight
    assert_problem(calls.create(SAMPLE_USER, order_body(), key=KEY), 409, "request-in-progress")
    reused = calls.create(SAMPLE_USER, order_body(("prod-456", 3, Decimal("29.99"))), key=KEY)
    assert_problem(reused, 422, "idempotency-key-reused")
    assert order_items(api) == [] and upstream.live_reservations() == {}
    assert _record(api)["status"] == {"S": "INPROGRESS"}  # neither refusal touched the first one's claim


def test_an_in_flight_record_without_a_deadline_blocks_the_key_until_it_expires(api):
    """A claim made without the invocation's remaining time (Powertools without `register_lambda_context`) has
    no deadline: it is in flight until its record expires."""
    api.put_item(
        TableName=wiring.table_name(),
        Item={
            **idempotency.record_key(SAMPLE_USER, KEY),
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(int(time.time()) + 3600)},
            "validation": {"S": idempotency.body_hash(_dumped(order_body()))},
        },
    )
    assert_problem(calls.create(SAMPLE_USER, order_body(), key=KEY), 409, "request-in-progress")


def test_the_key_is_claimed_while_the_buyer_is_checked_and_its_answer_comes_first(api, upstream):
    """The claim is made side by side with the user service's check; what it finds comes before the check's
    outcome: a replay or a refusal is answered even when the user service is down."""
    first = calls.create(SAMPLE_USER, order_body(), key=KEY)
    wiring.idempotency_store().claim(SAMPLE_USER, KEY + "-2", _dumped(order_body()), remaining_ms=60_000)
    upstream.set_faults(rate=1.0, kinds=["error"])
    try:
        assert calls.create(SAMPLE_USER, order_body(), key=KEY).raw_body == first.raw_body
        other_body = order_body(("prod-456", 3, Decimal("29.99")))
        assert_problem(calls.create(SAMPLE_USER, other_body, key=KEY), 422, "idempotency-key-reused")
        assert_problem(calls.create(SAMPLE_USER, order_body(), key=KEY + "-2"), 409, "request-in-progress")
        # A key of its own: the user service's failure, and the claim released for a retry.
        assert_problem(calls.create(SAMPLE_USER, order_body(), key=KEY + "-3"), 503, "upstream-unavailable")
        assert _record(api, key=KEY + "-3") is None
    finally:
        upstream.set_faults(rate=0.0)
    assert upstream.calls_to("POST", "/api/inventory/reservations") == 1  # the first create's only
    assert calls.create(SAMPLE_USER, order_body(), key=KEY + "-3").status == 201


def test_a_claim_past_its_deadline_is_taken_over(api):
    """A crashed invocation does not block its key for a day: past its deadline the key runs again."""
    crashed = IdempotencyStore(api, wiring.table_name(), clock=lambda: time.time() - 30)
    crashed.claim(SAMPLE_USER, KEY, _dumped(order_body()), remaining_ms=10_000)  # its deadline: 20 s ago
    created = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert created.status == 201, created.raw_body
    assert _record(api)["status"] == {"S": "COMPLETED"}
    assert calls.create(SAMPLE_USER, order_body(), key=KEY).raw_body == created.raw_body


def test_a_record_past_its_expiration_is_absent(api):
    first = calls.create(SAMPLE_USER, order_body(), key=KEY)
    api.update_item(
        TableName=wiring.table_name(),
        Key=idempotency.record_key(SAMPLE_USER, KEY),
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    again = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert again.status == 201
    assert again.body["id"] != first.body["id"]
    assert len(order_items(api)) == 2
    # ...and the new record replays from now on, for 24 hours.
    assert calls.create(SAMPLE_USER, order_body(), key=KEY).raw_body == again.raw_body


def test_a_record_past_its_expiration_may_take_another_body(api):
    calls.create(SAMPLE_USER, order_body(), key=KEY)
    api.update_item(
        TableName=wiring.table_name(),
        Key=idempotency.record_key(SAMPLE_USER, KEY),
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    assert calls.create(SAMPLE_USER, order_body(("prod-456", 3, Decimal("29.99"))), key=KEY).status == 201


@pytest.mark.parametrize(
    ("fault", "status"),
    [("upstream", 503), ("stock", 409), ("price", 422)],
    ids=["upstream-unavailable", "insufficient-stock", "price-mismatch"],
)
def test_a_failed_create_releases_its_claim(api, upstream, fault, status):
    """Any failure deletes the claim: a retry with the same key runs again (Powertools' behaviour)."""
    body = order_body()
    if fault == "upstream":
        upstream.set_faults(rate=1.0, kinds=["error"])
    elif fault == "stock":
        body = order_body(("prod-scarce", 5, Decimal("99.95")))
    else:
        body = order_body(("prod-456", 2, Decimal("1.00")))
    failed = calls.create(SAMPLE_USER, body, key=KEY)
    assert_problem(failed, status)
    assert idempotency_items(api) == [] and order_items(api) == []
    assert upstream.live_reservations() == {}
    upstream.set_faults(rate=0.0)
    reservations = upstream.calls_to("POST", "/api/inventory/reservations")
    retried = calls.create(SAMPLE_USER, body, key=KEY)
    assert upstream.calls_to("POST", "/api/inventory/reservations") == reservations + 1  # it ran again
    if fault == "upstream":
        assert retried.status == 201, retried.raw_body
        assert len(order_items(api)) == 1
    else:
        assert_problem(retried, status)


def test_a_failed_order_write_releases_the_claim_and_the_reservation(api, upstream, monkeypatch):
    """The transaction fails (here: DynamoDB refuses it): no order, no claim, no reservation."""

    def refused(self, *_, **__):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "TransactWriteItems")

    monkeypatch.setattr(OrderRepository, "put_new_with", refused)
    failed = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert_problem(failed, 500)
    assert idempotency_items(api) == [] and order_items(api) == []
    assert upstream.live_reservations() == {}
    monkeypatch.undo()
    assert calls.create(SAMPLE_USER, order_body(), key=KEY).status == 201


def test_a_claim_taken_over_meanwhile_is_409_and_left_alone(api, upstream, monkeypatch):
    """If the claim is no longer ours when the order is written (our deadline passed and another request took
    the key), the transaction writes nothing: no order, the reservation released, the other's claim kept."""
    written = OrderRepository.put_new_with

    def take_over():
        api.update_item(
            TableName=wiring.table_name(),
            Key=idempotency.record_key(SAMPLE_USER, KEY),
            # Another request's claim: its own token, and a deadline after ours.
            UpdateExpression="SET in_progress_expiration = in_progress_expiration + :later, claim_token = :theirs",
            ExpressionAttributeValues={":later": {"N": "1"}, ":theirs": {"S": "another-request"}},
        )

    def taken_over(self, order, correlation_id, also):
        # Another request's write, on a thread of its own: the least-privilege check attributes a call to the
        # function whose code is on the calling thread's stack (tests/support/least_privilege.py).
        other = threading.Thread(target=take_over)
        other.start()
        other.join()
        return written(self, order, correlation_id, also)

    monkeypatch.setattr(OrderRepository, "put_new_with", taken_over)
    assert_problem(calls.create(SAMPLE_USER, order_body(), key=KEY), 409, "request-in-progress")
    assert order_items(api) == [] and upstream.live_reservations() == {}
    assert _record(api)["status"] == {"S": "INPROGRESS"}  # the other request's claim is not released


def test_records_of_the_deployed_version_replay(api):
    """A COMPLETED record as Powertools' idempotency utility (the deployed version) wrote it replays: the same
    key hash, body hash and attributes."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    class DeployedLayer(DynamoDBPersistenceLayer):  # the deployed version's layer: hash in the partition key
        def _get_key(self, idempotency_key):
            return {"PK": {"S": f"IDEMPOTENCY#{idempotency_key}"}, "SK": {"S": "IDEMPOTENCY"}}

    config = IdempotencyConfig(
        event_key_jmespath="[caller, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=24 * 60 * 60,
        hash_function="sha256",
    )
    config.register_lambda_context(FakeLambdaContext())
    stored = {"id": "019ac0a1-2b3c-7d4e-8f60-123456789abc", "version": 1, "body": '{"deployed": true}'}

    def first_call(hashed):
        return stored

    deployed = DeployedLayer(wiring.table_name(), key_attr="PK", sort_key_attr="SK", boto3_client=api)
    run = idempotent_function(
        first_call,
        data_keyword_argument="hashed",
        persistence_store=deployed,
        config=config,
        key_prefix="create-order",
    )
    assert run(hashed={"caller": SAMPLE_USER, "key": KEY, "body": _dumped(order_body())}) == stored

    replay = calls.create(SAMPLE_USER, order_body(), key=KEY)
    assert replay.status == 201
    assert replay.raw_body == stored["body"]
    assert replay.headers["Location"] == f"/api/orders/{stored['id']}" and replay.headers["ETag"] == '"1"'
    assert_problem(calls.create(SAMPLE_USER, order_body(("prod-456", 3, Decimal("29.99"))), key=KEY), 422)
    # ...and the other way round: what this version writes, the deployed version replays.
    created = calls.create(OTHER_USER, order_body(), key=KEY)
    again = run(hashed={"caller": OTHER_USER, "key": KEY, "body": _dumped(order_body())})
    assert again == {"id": created.body["id"], "version": 1, "body": created.raw_body}
    assert order_items(api) != [] and len(order_items(api)) == 1


# ---------------------------------------------------------------------------------------- races
RACERS = 12


@pytest.fixture(scope="module")
def race_servers():
    """The user and inventory stubs and moto's DynamoDB server (atomic per request, as DynamoDB per item) in a
    child process (tests.support.servers)."""
    running = ServerProcess("stub", "moto")
    yield running.urls
    running.stop()


@pytest.fixture
def race_table(race_servers, monkeypatch):
    monkeypatch.setenv("DYNAMODB_ENDPOINT", race_servers["dynamodb"])
    for name in UPSTREAM_VARIABLES:
        monkeypatch.setenv(name, race_servers["upstream"])
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client = boto3.client(
        "dynamodb", region_name=TEST_ENV["AWS_DEFAULT_REGION"], endpoint_url=race_servers["dynamodb"]
    )
    fresh_table(client)
    StubControl(race_servers["upstream"]).reset()
    reset_process_state()
    yield client
    reset_process_state()


def _respond(order) -> dict:
    return {"id": order.id, "version": order.version, "body": dumps(order.to_wire())}


def test_racing_identical_creates_make_one_order_and_one_reservation(race_table, race_servers):
    """Threads released together by a barrier, each creating with the same caller, key and body: one runs,
    the others get its response or a 409; one order, one reservation."""
    caller = Caller(SAMPLE_USER, False)
    request = CreateOrderRequest.model_validate(order_body())
    # Built before the race, as each warm execution environment has them.
    wiring.dynamodb_client(), wiring.order_service(), wiring.idempotency_store(), wiring.repository()
    barrier = threading.Barrier(RACERS)
    outcomes: list[object] = [None] * RACERS

    def racer(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcomes[index] = wiring.once_per_idempotency_key(
                lambda keyed: wiring.order_service().create(caller, request, keyed=keyed),
                _respond,
                caller_id=caller.user_id,
                key=KEY,
                body=request.model_dump(mode="json"),
                remaining_ms=10_000,
            )
        except Exception as error:  # noqa: BLE001 - the outcome under test
            outcomes[index] = error

    threads = [threading.Thread(target=racer, args=(index,)) for index in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    responses = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    refusals = [outcome for outcome in outcomes if not isinstance(outcome, dict)]
    assert responses, outcomes
    assert all(isinstance(refusal, RequestInProgress) for refusal in refusals), refusals
    assert all(response == responses[0] for response in responses)  # the first response, byte for byte
    [order] = order_items(race_table)
    assert order["id"]["S"] == responses[0]["id"]
    stubs = StubControl(race_servers["upstream"])
    assert stubs.calls_to("POST", "/api/inventory/reservations") == 1
    assert list(stubs.live_reservations()) == [order["id"]["S"]]
    assert [record["status"]["S"] for record in idempotency_items(race_table)] == ["COMPLETED"]
