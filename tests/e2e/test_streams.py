"""Table streams through the local stack: the consumer the template declares receives the records Lambda
would deliver (filtered, batched, in order), the events it puts on the bus are captured and listed, and
what the mapping gives up on reaches the on-failure destination as Lambda writes it: the Order Service's
bucket (one object per batch, the records included), the fixture's queue (Lambda's failure record)."""

from __future__ import annotations

import json
import re
import time
import uuid
from decimal import Decimal

import pytest

from tests.e2e.harness import wait_for
from tests.e2e.test_readme import CREATE_BODY

pytestmark = pytest.mark.e2e


def events_of(stack, order_id: str) -> list[dict]:
    return [
        event
        for event in stack.request("GET", "/_local/events").json()
        if isinstance(event["detail"], dict) and event["detail"].get("orderId") == order_id
    ]


def create_order(stack, token: str) -> str:
    created = stack.request("POST", "/api/orders", token=token, body=CREATE_BODY)
    assert created.status == 201, created.text
    return created.json()["id"]


# ------------------------------------------------------------------------------- the Order Service template
def test_status_change_publishes_exactly_one_order_status_changed(stack, mint):
    order_id = create_order(stack, mint("user-123"))
    shipped = stack.request(
        "PATCH",
        f"/api/orders/{order_id}/status",
        token=mint("ops-1", admin=True),
        body='{"status": "shipped"}',
    )
    assert shipped.status == 200, shipped.text

    wait_for(lambda: len(events_of(stack, order_id)) >= 2)
    time.sleep(0.5)  # anything more (a duplicate) would have arrived by now
    events = events_of(stack, order_id)

    assert [event["detail-type"] for event in events] == ["OrderCreated", "OrderStatusChanged"]
    change = events[1]
    assert set(change) >= {"detail-type", "source", "detail", "time"}
    assert change["source"] == "com.orderservice.orders"
    assert change["time"].endswith("Z")
    detail = change["detail"]
    assert (detail["previousStatus"], detail["status"], detail["version"]) == ("pending", "shipped", 2)
    assert detail["changedBy"] == "ops-1" and detail["eventId"] == f"{order_id}:2"
    assert Decimal(str(detail["total"])) == Decimal("59.98")
    assert f"[event] OrderStatusChanged order={order_id} pending→shipped v2" in stack.log


FAILED_BATCH_KEY = re.compile(
    r"aws/lambda/(?P<mapping>[0-9a-f-]{36})/(?P<shard>[^/]+)/(?P<date>\d{4}/\d{2}/\d{2})/"
    r"(?P<day>\d{4}-\d{2}-\d{2})T\d{2}\.\d{2}\.\d{2}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def put_poison_order(stack) -> str:
    """An order item the consumer cannot read (no version, no user), written behind the API's back."""
    poison_id = f"poison-{uuid.uuid4()}"
    stack.aws("dynamodb").put_item(
        TableName="OrdersTable",
        Item={
            "PK": {"S": f"ORDER#{poison_id}"},
            "SK": {"S": "ORDER"},
            "entityType": {"S": "order"},
            "id": {"S": poison_id},
        },
    )
    return poison_id


def letter_of(stack, before: int, poison_id: str, timeout: float = 30) -> dict:
    """The dead letter (written since entry `before`) of the batch holding the poison order."""

    def found() -> dict | None:
        for letter in stack.request("GET", "/_local/dead-letters").json()[before:]:
            payload = json.loads(letter["message"].get("payload") or '{"Records": []}')
            keys = [record["dynamodb"]["Keys"]["PK"]["S"] for record in payload["Records"]]
            if f"ORDER#{poison_id}" in keys:
                return letter
        return None

    return wait_for(found, timeout=timeout)


def test_a_poison_order_item_reaches_the_failed_batch_bucket_and_the_rest_flows(stack, mint):
    before = len(stack.request("GET", "/_local/dead-letters").json())
    poison_id = put_poison_order(stack)
    letter = letter_of(stack, before, poison_id)
    assert letter["function"] == "OrderEventsFunction"
    bucket = stack.services()["buckets"][letter["destination"]]
    assert letter["destination"] == f"arn:aws:s3:::{bucket}" and letter["bucket"] == bucket
    assert letter["written"] is True and letter["error"] is None and letter["present"] is True
    message = letter["message"]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["functionArn"].endswith(":function:OrderEventsFunction")
    assert message["requestContext"]["approximateInvokeCount"] >= 6  # MaximumRetryAttempts: 5
    assert message["version"] == "1.0"
    info = message["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"]
    stream = stack.request("GET", "/_local/streams").json()[0]
    assert info["streamArn"] == stream["streamArn"] and info["shardId"] == stream["shards"][0]["shardId"]

    # Where Lambda puts it: aws/lambda/<mapping uuid>/<shard id>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>.
    key = FAILED_BATCH_KEY.fullmatch(letter["key"])
    assert key, letter["key"]
    assert key["shard"] == info["shardId"] and key["date"].replace("/", "-") == key["day"]

    # The object is the record plus the invocation event as a string: the records the function received.
    written = json.loads(stack.aws("s3").get_object(Bucket=bucket, Key=letter["key"])["Body"].read())
    assert written == message
    payload = json.loads(written["payload"])
    assert list(payload) == ["Records"] and len(payload["Records"]) == info["batchSize"]
    [record] = payload["Records"]
    assert record["dynamodb"]["Keys"]["PK"] == {"S": f"ORDER#{poison_id}"}
    assert str(record["dynamodb"]["SequenceNumber"]) == info["startSequenceNumber"]
    assert record["eventSourceARN"] == info["streamArn"] and record["eventName"] == "INSERT"
    assert record["dynamodb"]["NewImage"]["id"] == {"S": poison_id}

    # The stream moved past it.
    order_id = create_order(stack, mint("user-123"))
    wait_for(lambda: events_of(stack, order_id))
    assert "[dead-letter] OrderEventsFunction gave up on 1 record" in stack.log
    assert f"-> s3://{bucket}/{letter['key']}" in stack.log


# ------------------------------------------------------------------------------- the fixture template
def records_received(stack) -> list[list[dict]]:
    """The events the fixture's StreamFunction printed, one list of records per invocation."""
    batches = []
    for line in stack.log.splitlines():
        if line.startswith("[StreamFunction] RECORDS "):
            batches.append(json.loads(line.removeprefix("[StreamFunction] RECORDS "))["Records"])
    return batches


def keys_of(batches: list[list[dict]]) -> list[str]:
    return [record["dynamodb"]["Keys"]["PK"]["S"] for batch in batches for record in batch]


def test_records_arrive_as_lambda_delivers_them_filtered_batched_in_order(fixture_process):
    dynamodb = fixture_process.aws("dynamodb")
    tag = uuid.uuid4().hex[:8]
    dynamodb.put_item(
        TableName="Table",
        Item={"PK": {"S": f"{tag}-a"}, "kind": {"S": "thing"}, "n": {"N": "1.50"}, "b": {"B": b"\x00\x01"}},
    )
    dynamodb.put_item(TableName="Table", Item={"PK": {"S": f"{tag}-skipped"}, "kind": {"S": "other"}})
    dynamodb.update_item(
        TableName="Table",
        Key={"PK": {"S": f"{tag}-a"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    for index in range(4):
        dynamodb.put_item(TableName="Table", Item={"PK": {"S": f"{tag}-{index}"}, "kind": {"S": "thing"}})

    expected = [f"{tag}-a", f"{tag}-a", *(f"{tag}-{index}" for index in range(4))]
    wait_for(
        lambda: [key for key in keys_of(records_received(fixture_process)) if key.startswith(tag)] == expected
    )
    batches = [batch for batch in records_received(fixture_process) if keys_of([batch])[0].startswith(tag)]

    # BatchSize 3 is never exceeded, and the batching window (1 s) gathered records written together
    # (exact boundaries depend on how fast a loaded machine wrote them, so they are not asserted).
    sizes = [len(batch) for batch in batches]
    assert sum(sizes) == len(expected) and max(sizes) <= 3 and max(sizes) > 1, sizes
    records = [record for batch in batches for record in batch]
    sequences = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
    assert sequences == sorted(sequences)  # shard order
    stream_arn = fixture_process.request("GET", "/_local/streams").json()[0]["streamArn"]
    assert stream_arn.startswith("arn:aws:dynamodb:us-east-1:123456789012:table/Table/stream/")

    insert, modify = records[0], records[1]
    assert set(insert) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert insert["eventName"] == "INSERT" and modify["eventName"] == "MODIFY"
    assert insert["eventSource"] == "aws:dynamodb" and insert["awsRegion"] == "us-east-1"
    assert insert["eventSourceARN"] == stream_arn
    image = insert["dynamodb"]
    assert image["Keys"] == {"PK": {"S": f"{tag}-a"}}
    # The wire format: numbers as strings, binary as base64, the time as epoch seconds.
    assert image["NewImage"]["n"] == {"N": "1.50"} and image["NewImage"]["b"] == {"B": "AAE="}
    assert isinstance(image["ApproximateCreationDateTime"], (int, float))
    assert abs(image["ApproximateCreationDateTime"] - time.time()) < 120
    assert image["StreamViewType"] == "NEW_AND_OLD_IMAGES" and isinstance(image["SizeBytes"], int)
    assert modify["dynamodb"]["OldImage"]["n"] == {"N": "1.50"} and modify["dynamodb"]["NewImage"]["n"] == {
        "N": "2"
    }


def test_failures_retry_then_reach_the_queue_without_blocking_the_shard(fixture_process):
    dynamodb = fixture_process.aws("dynamodb")
    before = len(fixture_process.request("GET", "/_local/dead-letters").json())
    tag = uuid.uuid4().hex[:8]
    # One record the function reports as failed, one that makes it raise, one that is fine.
    dynamodb.put_item(
        TableName="Table", Item={"PK": {"S": f"{tag}-fail"}, "kind": {"S": "thing"}, "fail": {"BOOL": True}}
    )
    dynamodb.put_item(
        TableName="Table",
        Item={"PK": {"S": f"{tag}-poison"}, "kind": {"S": "thing"}, "poison": {"BOOL": True}},
    )
    dynamodb.put_item(TableName="Table", Item={"PK": {"S": f"{tag}-fine"}, "kind": {"S": "thing"}})

    letters = wait_for(
        lambda: (
            (found := fixture_process.request("GET", "/_local/dead-letters").json()[before:])
            and len(found) >= 2
            and found
        )
    )
    reported, raised = (letter["message"] for letter in letters[:2])
    # Bisection isolated each; MaximumRetryAttempts: 1, so each was sent alone twice (the invocations of
    # the batches it was split from count too).
    assert reported["DDBStreamBatchInfo"]["batchSize"] == raised["DDBStreamBatchInfo"]["batchSize"] == 1
    assert "functionError" not in reported["responseContext"]  # it returned batchItemFailures
    assert raised["responseContext"]["functionError"] == "Unhandled"  # it raised
    assert reported["requestContext"]["approximateInvokeCount"] >= 2
    assert raised["requestContext"]["approximateInvokeCount"] >= 2
    assert all(
        letter["destination"].endswith(":DeadLetters") and letter["messageId"] for letter in letters[:2]
    )
    assert int(reported["DDBStreamBatchInfo"]["startSequenceNumber"]) < int(
        raised["DDBStreamBatchInfo"]["startSequenceNumber"]
    )

    wait_for(lambda: f"{tag}-fine" in keys_of(records_received(fixture_process)))
    queue = letters[0]["queueUrl"]
    bodies = [
        json.loads(message["Body"])
        for message in fixture_process.aws("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)[
            "Messages"
        ]
    ]
    assert reported in bodies and raised in bodies
