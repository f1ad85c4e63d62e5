"""The keyed create's idempotency records (orders.storage.idempotency) without a table: the same hashes as
Powertools' idempotency utility (which wrote the records before it), what each refusal of a claim means, and
how IAM sees the transaction that completes a claim (local.aws.iam)."""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from orders.domain.models import CreateOrderRequest
from orders.http.api import loads_body
from orders.storage import idempotency
from orders.storage.idempotency import (
    Claim,
    IdempotencyKeyReused,
    IdempotencyStore,
    Replay,
    RequestInProgress,
)

from local.aws.iam import transaction_authorizations

NOW = 1_800_000_000.25
BODIES = [
    {
        "items": [{"productId": "prod-456", "quantity": 2, "price": Decimal("29.99")}],
        "shippingAddress": {"street": "123 Main St", "city": "New York", "zipCode": "10001"},
    },
    {
        "userId": "user-123",
        "items": [
            {"productId": "p.1", "quantity": 1},
            {"productId": "p2", "quantity": 50, "price": Decimal("0.1")},
        ],
        "shippingAddress": {"street": "1 Rue d'Été", "city": "Zürich", "zipCode": "8001", "country": "CH"},
    },
]


def _powertools_layer() -> DynamoDBPersistenceLayer:
    """Powertools' persistence layer as the deployed version configured it (no call is made)."""
    layer = DynamoDBPersistenceLayer(
        table_name="orders",
        key_attr="PK",
        sort_key_attr="SK",
        boto3_client=boto3.client("dynamodb", region_name="us-east-1"),
    )
    layer.configure(
        IdempotencyConfig(
            event_key_jmespath="[caller, key]",
            payload_validation_jmespath="body",
            expires_after_seconds=24 * 60 * 60,
            hash_function="sha256",
        ),
        key_prefix="create-order",
    )
    return layer


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize(("caller", "key"), [("user-123", "k-1"), ("ops-1", 'ünïcode key / with "quotes"')])
def test_the_same_hashes_as_powertools(caller, key, body):
    """Records written by the deployed version (Powertools) are found and validated, and the other way round."""
    dumped = CreateOrderRequest.model_validate(body).model_dump(mode="json")
    hashed = {"caller": caller, "key": key, "body": dumped}
    layer = _powertools_layer()
    assert idempotency.record_key(caller, key) == {
        "PK": {"S": f"IDEMPOTENCY#{layer._get_hashed_idempotency_key(hashed)}"},
        "SK": {"S": "IDEMPOTENCY"},
    }
    assert idempotency.body_hash(dumped) == layer._get_hashed_payload(hashed)


def test_powertools_attribute_names():
    layer = _powertools_layer()
    assert (layer.status_attr, layer.expiry_attr, layer.in_progress_expiry_attr) == (
        idempotency.STATUS,
        idempotency.EXPIRATION,
        idempotency.IN_PROGRESS_EXPIRATION,
    )
    assert (layer.data_attr, layer.validation_key_attr) == (idempotency.DATA, idempotency.VALIDATION)


# ---------------------------------------------------------------------------------------- claims, stubbed
@pytest.fixture
def stubbed():
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield IdempotencyStore(client, "orders", clock=lambda: NOW, new_token=lambda: TOKEN), stubber
        stubber.assert_no_pending_responses()


BODY = {"items": [{"product_id": "p", "quantity": 1}]}
TOKEN = "0123456789abcdef0123456789abcdef"


def _refused_with(stubber: Stubber, item: dict | None) -> None:
    stubber.add_client_error(
        "put_item",
        "ConditionalCheckFailedException",
        http_status_code=400,
        response_meta=None,
        modeled_fields={"Item": item} if item is not None else None,
    )


def _record(status: str, body=BODY, data: dict | None = None) -> dict:
    item = {
        "PK": {"S": "IDEMPOTENCY#create-order#x"},
        "SK": {"S": "IDEMPOTENCY"},
        "status": {"S": status},
        "expiration": {"N": str(int(NOW) + 3600)},
        "in_progress_expiration": {"N": str(int(NOW * 1000) + 5000)},
        "validation": {"S": idempotency.body_hash(body)},
    }
    if data is not None:
        item["data"] = {"S": json.dumps(data, sort_keys=True)}
    return item


def test_a_claim_is_one_conditional_put_expiring_at_the_deadline(stubbed):
    store, stubber = stubbed
    key = idempotency.record_key("user-123", "k")
    expected = {
        "TableName": "orders",
        "Item": {
            **key,
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(int(NOW) + 24 * 3600)},
            "in_progress_expiration": {"N": str(int(NOW * 1000) + 7000)},
            "validation": {"S": idempotency.body_hash(BODY)},
            "claim_token": {"S": TOKEN},
        },
        "ConditionExpression": idempotency.CLAIMABLE,
        "ExpressionAttributeNames": idempotency.NAMES,
        "ExpressionAttributeValues": {
            ":now": {"N": str(int(NOW))},
            ":now_ms": {"N": str(int(NOW * 1000))},
            ":inprogress": {"S": "INPROGRESS"},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    stubber.add_response("put_item", {}, expected)
    assert store.claim("user-123", "k", BODY, remaining_ms=7000) == Claim(
        key, idempotency.body_hash(BODY), int(NOW * 1000) + 7000, TOKEN
    )


def test_a_claim_refused_by_itself_is_the_claim(stubbed):
    """The PutItem was made but its answer lost, and botocore's retry is refused by the record it made: the
    refusal hands back this claim's token, so the claim is this invocation's (not a request in progress)."""
    store, stubber = stubbed
    _refused_with(stubber, {**_record("INPROGRESS"), "claim_token": {"S": TOKEN}})
    claim = store.claim("user-123", "k", BODY, remaining_ms=7000)
    assert isinstance(claim, Claim) and claim.token == TOKEN


def test_another_claims_token_is_in_progress(stubbed):
    store, stubber = stubbed
    _refused_with(stubber, {**_record("INPROGRESS"), "claim_token": {"S": "another-request"}})
    with pytest.raises(RequestInProgress):
        store.claim("user-123", "k", BODY, remaining_ms=7000)


def test_a_completed_record_of_the_same_body_is_replayed(stubbed):
    store, stubber = stubbed
    response = {"id": "o-1", "version": 1, "body": '{"id":"o-1"}'}
    _refused_with(stubber, _record("COMPLETED", data=response))
    assert store.claim("user-123", "k", BODY, remaining_ms=7000) == Replay(response)


@pytest.mark.parametrize("status", ["COMPLETED", "INPROGRESS"])
def test_another_body_is_refused_first(stubbed, status):
    store, stubber = stubbed
    _refused_with(stubber, _record(status, body={"other": True}, data={"id": "o"}))
    with pytest.raises(IdempotencyKeyReused):
        store.claim("user-123", "k", BODY, remaining_ms=7000)


def test_an_in_flight_record_is_in_progress(stubbed):
    store, stubber = stubbed
    _refused_with(stubber, _record("INPROGRESS"))
    with pytest.raises(RequestInProgress):
        store.claim("user-123", "k", BODY, remaining_ms=7000)


def test_a_conflict_with_the_completing_transaction_is_in_progress(stubbed):
    store, stubber = stubbed
    stubber.add_client_error("put_item", "TransactionConflictException", http_status_code=400)
    with pytest.raises(RequestInProgress):
        store.claim("user-123", "k", BODY, remaining_ms=7000)


def test_a_completion_puts_the_record_completed_if_the_claim_is_ours(stubbed):
    store, _ = stubbed
    claim = Claim(idempotency.record_key("u", "k"), "hash", 123, TOKEN)
    put = store.completion(claim, {"id": "o", "version": 1, "body": "{}"})["Put"]
    assert put["Item"] == {
        **claim.key,
        "status": {"S": "COMPLETED"},
        "expiration": {"N": str(int(NOW) + 24 * 3600)},
        "in_progress_expiration": {"N": "123"},
        "data": {"S": '{"body": "{}", "id": "o", "version": 1}'},  # as Powertools writes it: sorted keys
        "validation": {"S": "hash"},
    }
    assert put["ConditionExpression"] == idempotency.OURS
    # The completed record is Powertools' own: no claim token is left on it.
    assert put["ExpressionAttributeValues"] == {":inprogress": {"S": "INPROGRESS"}, ":token": {"S": TOKEN}}


def test_a_release_deletes_only_our_claim_and_never_fails_the_request(stubbed):
    store, stubber = stubbed
    claim = Claim(idempotency.record_key("u", "k"), "hash", 123, TOKEN)
    stubber.add_response(
        "delete_item",
        {},
        {
            "TableName": "orders",
            "Key": claim.key,
            "ConditionExpression": idempotency.OURS,
            "ExpressionAttributeNames": {"#status": "status", "#claim_token": "claim_token"},
            "ExpressionAttributeValues": {":inprogress": {"S": "INPROGRESS"}, ":token": {"S": TOKEN}},
        },
    )
    store.release(claim)
    stubber.add_client_error("delete_item", "ConditionalCheckFailedException", http_status_code=400)
    store.release(claim)  # completed, or taken over by another request: left alone
    stubber.add_client_error("delete_item", "InternalServerError", http_status_code=500)
    store.release(claim)  # the create's own error is the one to report; the claim expires at the deadline


def test_a_release_that_times_out_never_fails_the_request():
    client = boto3.client("dynamodb", region_name="us-east-1")

    def timed_out(**_):
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    # Sent nowhere, and not retried: as botocore raises it after its last attempt.
    client.meta.events.register("before-call.dynamodb.DeleteItem", timed_out)
    store = IdempotencyStore(client, "orders", clock=lambda: NOW)
    store.release(Claim(idempotency.record_key("u", "k"), "hash", 123, TOKEN))  # returns: no exception


# ---------------------------------------------------------------------------------------- IAM
def test_iam_authorizes_a_transaction_item_by_item():
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
    params = {
        "TransactItems": [
            {"Put": {"TableName": "orders", "Item": {}}},
            {"Update": {"TableName": "orders", "Key": {}}},
            {"ConditionCheck": {"TableName": "orders", "Key": {}}},
            {"Delete": {"TableName": "other", "Key": {}}},
            {"Put": {"TableName": "orders", "Item": {}}},
        ]
    }
    assert transaction_authorizations(params) == [
        ("PutItem", table),
        ("UpdateItem", table),
        ("ConditionCheckItem", table),
        ("DeleteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/other"),
    ]
    assert transaction_authorizations({"TransactItems": [{"Get": {"TableName": "orders", "Key": {}}}]}) == [
        ("GetItem", table)
    ]


def test_the_same_body_is_the_same_fields_and_values_with_prices_as_written():
    """What README promises of "the same body": key order and spacing, a quantity's `2.0` and a trimmed address
    make no difference; a price's spelling does, as it did under Powertools' utility (its records replay here)."""

    def hashed(text: str) -> str:  # as create_order reads and hashes a body
        return idempotency.body_hash(
            CreateOrderRequest.model_validate(loads_body(text)).model_dump(mode="json")
        )

    address = '"shippingAddress": {"street": "1 Main St", "city": "NYC", "zipCode": "10001"}'
    first = hashed('{"items": [{"productId": "p", "quantity": 2, "price": 29.99}], ' + address + "}")
    reordered = '{"shippingAddress": {"zipCode": "10001", "city": "NYC ", "street": "1 Main St"}, "items":'
    assert hashed(reordered + '[{"price": 29.99, "quantity": 2.0, "productId": "p"}]}') == first
    assert hashed('{"items": [{"productId": "p", "quantity": 2, "price": 29.990}], ' + address + "}") != first
