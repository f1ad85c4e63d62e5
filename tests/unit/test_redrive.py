"""ops/redrive.py: what counts as a failure record of this stage's stream, and what delivering one does
(through the consumer's own code, with a publisher and an inventory that can refuse)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from orders.events.bus import Pending
from orders.events.reservations import COMMITTED, RELEASED

from ops.cli import RateLimit
from ops.redrive import NotAFailureRecord, deliver, plan, read_failure_record
from tests.support.stream_records import order_item, stream_record

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders-test"
STREAM_ARN = f"{TABLE_ARN}/stream/2026-11-25T00:00:00.000"
UNLIMITED = RateLimit(None)


def lifecycle(order_id: str, *statuses: str) -> list[dict[str, Any]]:
    """Stream records of an order created pending, then moved through `statuses` by an admin."""
    item = order_item(order_id) | {"reservationId": f"res-{order_id}"}
    records = [stream_record("INSERT", item)]
    for status in statuses:
        changed = item | {
            "status": status,
            "version": item["version"] + 1,
            "statusHistory": [
                *item["statusHistory"],
                {"status": status, "at": "2026-11-25T21:00:00.000Z", "by": "admin"},
            ],
        }
        records.append(stream_record("MODIFY", changed, item))
        item = changed
    return records


def failure_body(records: list[dict], *, stream_arn: str = STREAM_ARN, **changes: Any) -> bytes:
    document = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 6},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "version": "1.0",
        "timestamp": "2026-11-25T21:00:00.000Z",
        "DDBStreamBatchInfo": {"shardId": "shardId-1", "batchSize": len(records), "streamArn": stream_arn},
        "payload": json.dumps({"Records": records}),
    }
    document.update(changes)
    return json.dumps(document).encode()


class Publisher:
    """EventBridge as the consumer sees it: accepts everything, or refuses the events of `refuse`."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.published: list[dict] = []
        self.last_refusal: str | None = None

    def publish_in_order(self, pending: list[Pending]) -> set[str]:
        for position, item in enumerate(pending):
            if item.event.detail["eventId"] in self.refuse:
                return {later.key for later in pending[position:]}
            self.published.append(item.event.detail)
        return set()


class Keeper:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, str]] = []

    def settle(self, event_name: str, old: Any, new: Any) -> str | None:
        from orders.events.reservations import settlement_for

        settlement = settlement_for(event_name, old, new)
        if settlement is None:
            return None
        if self.fail:
            raise ConnectionError("inventory unreachable")
        self.calls.append((settlement.action, settlement.reservation_id))
        return settlement.action


def test_a_failure_record_of_this_stream_is_read_with_its_records():
    records = lifecycle("o1", "shipped")
    failure = read_failure_record("aws/lambda/x/shardId-1/2026/11/25/a", failure_body(records), TABLE_ARN)
    assert failure.records == records
    assert (failure.shard_id, failure.condition) == ("shardId-1", "RetryAttemptsExhausted")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"DDBStreamBatchInfo": {"streamArn": "', "not JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps({"KinesisBatchInfo": {}}).encode(), "no DDBStreamBatchInfo"),
        (
            failure_body([], stream_arn="arn:aws:dynamodb:us-east-1:123456789012:table/other/stream/x"),
            "another stream",
        ),
        (failure_body(lifecycle("o1"), payload=None), "no payload"),
        (failure_body(lifecycle("o1"), payload='{"Records": [{"eventID"'), "payload is not JSON"),
        (failure_body(lifecycle("o1"), payload='{"records": []}'), "no Records list"),
    ],
)
def test_what_is_not_a_failure_record_of_this_stream_is_refused_by_name(body, reason):
    with pytest.raises(NotAFailureRecord, match=reason):
        read_failure_record("aws/lambda/x", body, TABLE_ARN)


def test_a_payload_with_fewer_records_than_the_batch_is_truncated():
    records = lifecycle("o1", "confirmed", "shipped")
    body = json.loads(failure_body(records))
    body["payload"] = json.dumps({"Records": records[:2]})
    with pytest.raises(NotAFailureRecord, match="truncated: batchSize 3, 2 records"):
        read_failure_record("k", json.dumps(body).encode(), TABLE_ARN)


def test_delivering_publishes_the_consumers_events_and_settles_reservations():
    records = lifecycle("o1", "confirmed", "shipped") + lifecycle("o2", "cancelled")
    failure = read_failure_record("k", failure_body(records), TABLE_ARN)
    publisher, keeper = Publisher(), Keeper()
    [outcome] = deliver([failure], publisher, keeper, UNLIMITED)
    assert outcome.delivered
    assert [detail["eventId"] for detail in publisher.published] == ["o1:1", "o1:2", "o1:3", "o2:1", "o2:2"]
    assert publisher.published[2]["previousStatus"] == "confirmed"
    assert publisher.published[2]["total"] == Decimal("59.98")
    assert keeper.calls == [(COMMITTED, "res-o1"), (RELEASED, "res-o2")]
    assert (outcome.events_sent, outcome.settled) == (5, 2)


def test_events_eventbridge_refuses_keep_the_record_and_are_named():
    records = lifecycle("o1", "confirmed", "shipped")
    failure = read_failure_record("k", failure_body(records), TABLE_ARN)
    publisher = Publisher(refuse={"o1:2"})
    publisher.last_refusal = "AccessDeniedException: not authorized"  # as orders.events.bus keeps it
    [outcome] = deliver([failure], publisher, Keeper(), UNLIMITED)
    assert not outcome.delivered
    assert outcome.events_refused == ["o1:2", "o1:3"]
    assert outcome.refusal == "AccessDeniedException: not authorized"
    assert outcome.events_sent == 1
    assert len(outcome.failures) == 2  # the refused record and the one after it


def test_a_reservation_that_cannot_be_settled_keeps_the_record():
    failure = read_failure_record("k", failure_body(lifecycle("o1", "cancelled")), TABLE_ARN)
    [outcome] = deliver([failure], Publisher(), Keeper(fail=True), UNLIMITED)
    assert not outcome.delivered
    assert "ConnectionError: inventory unreachable" in outcome.failures[0]


def test_the_dry_run_lists_events_and_settlements_without_sending():
    failure = read_failure_record("k", failure_body(lifecycle("o1", "shipped")), TABLE_ARN)
    lines = plan(failure).lines()
    assert lines == [
        "  would send OrderCreated o1:1 (pending)",
        "  would send OrderStatusChanged o1:2 (pending→shipped)",
        "  would mark reservation res-o1 of order o1 committed (unless it already is)",
    ]


def test_the_rate_limit_spaces_units_out(monkeypatch):
    import ops.cli

    slept: list[float] = []
    monkeypatch.setattr(ops.cli.time, "sleep", slept.append)
    limit = RateLimit(10, clock=lambda: 0.0)
    limit.take(10)  # goes at once, and takes up the next second
    limit.take(5)  # so this one waits for it
    assert slept == [pytest.approx(1.0)]
    RateLimit(None).take(1_000)
    assert len(slept) == 1


class EventsClient:
    """EventBridge's PutEvents, recording each call; refuses the entries whose eventId is in `refuse`."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.calls: list[list[dict]] = []

    def put_events(self, Entries: list[dict]) -> dict:
        self.calls.append(Entries)
        results = [
            {"ErrorCode": "ThrottlingException"}
            if json.loads(entry["Detail"])["eventId"] in self.refuse
            else {"EventId": "e"}
            for entry in Entries
        ]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def single_record_failures(*order_ids: str) -> list:
    """What an outage leaves after bisection: one failure record per stream record."""
    records = [record for order_id in order_ids for record in lifecycle(order_id)]
    return [
        read_failure_record(f"k{n}", failure_body([record]), TABLE_ARN) for n, record in enumerate(records)
    ]


def test_a_group_of_failure_records_shares_put_events_calls():
    from orders.events.bus import EventBusPublisher

    client = EventsClient()
    failures = single_record_failures(*(f"o{n}" for n in range(10)))
    outcomes = deliver(failures, EventBusPublisher(client, "orders-test"), Keeper(), UNLIMITED)
    assert all(outcome.delivered and outcome.events_sent == 1 for outcome in outcomes)
    assert [len(call) for call in client.calls] == [10]  # not ten calls of one entry


def test_in_a_group_what_follows_a_refused_event_is_kept_and_what_precedes_it_is_delivered():
    from orders.events.bus import EventBusPublisher

    client = EventsClient(refuse={"o4:1"})
    failures = single_record_failures(*(f"o{n}" for n in range(10)))
    outcomes = deliver(failures, EventBusPublisher(client, "orders-test"), Keeper(), UNLIMITED)
    assert [outcome.delivered for outcome in outcomes] == [True] * 4 + [False] * 6
    assert outcomes[4].events_refused == ["o4:1"]


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({"dynamodb": None}, "without its change"),
        ({"dynamodb": {"Keys": {}}}, "without its change"),
        ({"eventName": "TTL_EXPIRE"}, "eventName is 'TTL_EXPIRE'"),
    ],
)
def test_a_record_lambda_would_never_write_makes_the_object_not_a_failure_record(broken, reason):
    """Named and left alone, as any object that is not a failure record: before, it stopped the whole run (an
    AttributeError in the consumer's code, or a KeyError in the dry run) and the objects of its group with it."""
    records = lifecycle("o1", "shipped")
    records[1] = {**records[1], **broken}
    with pytest.raises(NotAFailureRecord, match=reason):
        read_failure_record("aws/lambda/x", failure_body(records), TABLE_ARN)


def test_a_rate_that_is_negative_or_not_a_number_is_refused(capsys):
    """Before, a negative rate meant no limit at all, silently (0 says so: unbounded, as for backfill)."""
    from ops.redrive import main

    for rate in ("-5", "nan", "inf"):
        assert main(["--url", "http://127.0.0.1:9", "--rate", rate]) == 2
        assert "--rate must be a number of events a second, 0 or more" in capsys.readouterr().err


def test_an_interrupted_redrive_ends_with_its_summary_and_leaves_the_rest(monkeypatch, capsys):
    """Ctrl-C: the summary of what was done, a line saying the rest is left for the same command, exit 130;
    before, a KeyboardInterrupt traceback and no summary."""
    from ops import redrive

    bodies = {"aws/lambda/1": failure_body(lifecycle("o1", "shipped"))}

    deleted: list[str] = []

    class S3:
        def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
            if Key not in bodies:
                raise KeyboardInterrupt  # the operator's Ctrl-C, while the second object is read
            return {"Body": type("Body", (), {"read": lambda _: bodies[Key]})()}

        def delete_object(self, Bucket: str, Key: str) -> None:
            deleted.append(Key)

    class Stage:
        table_arn = TABLE_ARN

        def output(self, name: str) -> str:
            return "failed-batches"

        def client(self, service: str) -> S3:
            return S3()

    monkeypatch.setattr(redrive, "stage_from", lambda args, role: Stage())
    monkeypatch.setattr(redrive, "failure_keys", lambda s3, bucket: ["aws/lambda/1", "aws/lambda/2"])
    monkeypatch.setattr(redrive, "consumer_parts", lambda stage: (Publisher(), Keeper()))
    assert redrive.main(["--url", "http://127.0.0.1:9"]) == 130
    said = capsys.readouterr().err
    assert "redrive: 2 failure records, 2 stream records" in said
    assert "redrive: interrupted; the objects still in the bucket are there" in said
    assert deleted == []  # the first was not delivered yet: nothing is removed that was not delivered
