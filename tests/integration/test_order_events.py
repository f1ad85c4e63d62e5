"""The stream consumer (functions/order_events) under event-source-mapping semantics, with EventBridge
entries failing at random: nothing lost, nothing reordered, duplicates only as the same eventId."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from orders import wiring
from orders.domain import jsonio
from orders.events.bus import EventBusPublisher

from local.aws.event_source_mapping import StreamMapping, StreamMappingConfig
from local.template import load_template
from tests.support.lambda_runtime import FakeLambdaContext, handler_module
from tests.support.stream_records import order_item, stream_record

ROOT = Path(__file__).resolve().parents[2]
STATUS_CYCLE = ["confirmed", "processing", "shipped", "cancelled", "pending", "delivered"]


class FlakyEventBridge:
    """`put_events` that rejects a share of entries (per-entry ErrorCode, FailedEntryCount), seeded."""

    def __init__(self, failure_rate: float, seed: int = 7) -> None:
        self.failure_rate = failure_rate
        self.random = random.Random(seed)
        self.published: list[dict] = []
        self.calls: list[int] = []

    def put_events(self, Entries):
        self.calls.append(len(Entries))
        assert len(Entries) <= 10, "PutEvents takes at most 10 entries"
        results = []
        for entry in Entries:
            if self.random.random() < self.failure_rate:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"})
            else:
                self.published.append(
                    {
                        **entry,
                        "RawDetail": entry["Detail"],
                        "Detail": json.loads(entry["Detail"], parse_float=Decimal),
                    }
                )
                results.append({"EventId": str(uuid.uuid4())})
        return {"FailedEntryCount": sum("ErrorCode" in result for result in results), "Entries": results}


def consumer_mapping_config() -> StreamMappingConfig:
    function = load_template()["Resources"]["OrderEventsFunction"]["Properties"]
    stream_event = next(event for event in function["Events"].values() if event["Type"] == "DynamoDB")
    return StreamMappingConfig.from_event_properties(stream_event["Properties"])


@pytest.fixture
def bus(monkeypatch):
    """The consumer's publisher wired to a fake EventBridge; returns a factory taking the failure rate."""

    def install(failure_rate: float) -> FlakyEventBridge:
        fake = FlakyEventBridge(failure_rate)
        monkeypatch.setattr(wiring, "publisher", lambda: EventBusPublisher(fake, "orders-test", jsonio.dumps))
        return fake

    return install


def run_through_mapping(records: list[dict]) -> tuple[StreamMapping, list[list[dict]]]:
    dead_letters: list[list[dict]] = []
    module = handler_module("order_events")
    mapping = StreamMapping(
        consumer_mapping_config(),
        invoke=lambda event: module.lambda_handler(event, FakeLambdaContext(function_name="order_events")),
        on_failure=dead_letters.append,
    )
    mapping.process(records)
    return mapping, dead_letters


def transitions(orders: int, changes_per_order: int, seed: int = 11) -> tuple[list[dict], dict[str, int]]:
    """INSERT + `changes_per_order` status-changing MODIFYs per order, orders interleaved at random."""
    rng = random.Random(seed)
    per_order: dict[str, list[dict]] = {}
    for _ in range(orders):
        order_id = str(uuid.uuid4())
        item = order_item(order_id)
        records = [stream_record("INSERT", item)]
        for step in range(changes_per_order):
            status = STATUS_CYCLE[step % len(STATUS_CYCLE)]
            new = order_item(
                order_id, status=status, version=item["version"] + 1, history=item["statusHistory"]
            )
            records.append(stream_record("MODIFY", new, item))
            item = new
        per_order[order_id] = records
    cursors = {order_id: 0 for order_id in per_order}
    shard: list[dict] = []
    while cursors:
        order_id = rng.choice(sorted(cursors))
        shard.append(per_order[order_id][cursors[order_id]])
        cursors[order_id] += 1
        if cursors[order_id] == len(per_order[order_id]):
            del cursors[order_id]
    # Sequence numbers must follow shard order.
    for offset, record in enumerate(shard):
        record["dynamodb"]["SequenceNumber"] = str(10**20 + offset)
    return shard, {order_id: changes_per_order + 1 for order_id in per_order}


def test_template_configures_the_stream_mapping_for_safe_retries():
    config = consumer_mapping_config()
    assert config.report_batch_item_failures and config.bisect_on_function_error
    assert 0 < config.maximum_retry_attempts <= 10
    assert config.accepts(stream_record("INSERT", order_item(str(uuid.uuid4()))))
    idempotency = {"PK": "IDEMPOTENCY#create-order#abc", "SK": "IDEMPOTENCY", "status": "COMPLETED"}
    assert not config.accepts(stream_record("INSERT", idempotency))
    assert not config.accepts(stream_record("REMOVE", None, order_item(str(uuid.uuid4()))))


def test_1000_transitions_with_10_percent_failed_entries_lose_and_reorder_nothing(bus):
    fake = bus(failure_rate=0.10)
    shard, events_per_order = transitions(orders=100, changes_per_order=10)
    assert len(shard) == 1100  # 100 creations + 1,000 transitions

    mapping, dead_letters = run_through_mapping(shard)

    assert dead_letters == []
    assert max(fake.calls) <= 10
    by_id: dict[str, dict] = {}
    published_versions: dict[str, set[int]] = defaultdict(set)
    for entry in fake.published:
        detail = entry["Detail"]
        # Duplicates only as the very same event.
        assert by_id.setdefault(detail["eventId"], detail) == detail
        # Never ahead of an earlier transition of the same order.
        assert all(v in published_versions[detail["orderId"]] for v in range(1, detail["version"])), detail[
            "eventId"
        ]
        published_versions[detail["orderId"]].add(detail["version"])
    expected = {
        f"{order_id}:{version}"
        for order_id, count in events_per_order.items()
        for version in range(1, count + 1)
    }
    assert set(by_id) == expected
    # The injected failures did cause redeliveries: more events than transitions, more calls than batches.
    assert len(fake.published) > len(expected)
    assert mapping.stats.invocations > len(shard) // consumer_mapping_config().batch_size + 1


def test_a_poison_record_reaches_the_failure_destination_and_does_not_block_the_rest(bus):
    fake = bus(failure_rate=0.0)
    shard, _ = transitions(orders=5, changes_per_order=3)
    poison_item = order_item(str(uuid.uuid4()))
    del poison_item["version"]  # an order image the consumer cannot read
    poison = stream_record("INSERT", poison_item)
    poison["dynamodb"]["SequenceNumber"] = str(10**20 + 2)
    for offset, record in enumerate(shard[2:], start=3):
        record["dynamodb"]["SequenceNumber"] = str(10**20 + offset)
    records = [*shard[:2], poison, *shard[2:]]

    mapping, dead_letters = run_through_mapping(records)

    assert [[record["dynamodb"]["SequenceNumber"] for record in batch] for batch in dead_letters] == [
        [poison["dynamodb"]["SequenceNumber"]]
    ]
    assert mapping.stats.retries == consumer_mapping_config().maximum_retry_attempts + 1
    assert {entry["Detail"]["eventId"] for entry in fake.published} == {
        f"{record['dynamodb']['NewImage']['id']['S']}:{record['dynamodb']['NewImage']['version']['N']}"
        for record in shard
    }


def test_modifications_that_keep_the_status_and_idempotency_records_publish_nothing(bus):
    fake = bus(failure_rate=0.0)
    order_id = str(uuid.uuid4())
    old = order_item(order_id, status="confirmed", version=2)
    same_status = dict(old, updatedAt="2026-11-25T21:00:00.000Z", version=3)
    idempotency = {
        "PK": "IDEMPOTENCY#create-order#abc",
        "SK": "IDEMPOTENCY",
        "status": "COMPLETED",
        "expiration": 1,
    }
    event = {
        "Records": [
            stream_record("MODIFY", same_status, old),
            stream_record("INSERT", idempotency),
            stream_record("MODIFY", dict(idempotency, status="INPROGRESS"), idempotency),
        ]
    }
    # Straight into the handler: even records the filter would have dropped publish nothing.
    response = handler_module("order_events").lambda_handler(event, FakeLambdaContext())
    assert response == {"batchItemFailures": []}
    assert fake.published == [] and fake.calls == []


def test_status_change_event_names_previous_and_new_status_and_validates_against_its_schema(bus):
    fake = bus(failure_rate=0.0)
    order_id = str(uuid.uuid4())
    created = order_item(order_id)
    created["correlationId"] = "req-1"
    shipped = order_item(order_id, status="shipped", version=2, history=created["statusHistory"])
    shipped["statusHistory"][-1]["by"] = "ops-1"
    records = [stream_record("INSERT", created), stream_record("MODIFY", shipped, created)]
    handler_module("order_events").lambda_handler({"Records": records}, FakeLambdaContext())

    assert [entry["DetailType"] for entry in fake.published] == ["OrderCreated", "OrderStatusChanged"]
    assert {entry["Source"] for entry in fake.published} == {"com.orderservice.orders"}
    change = fake.published[1]["Detail"]
    assert (change["previousStatus"], change["status"], change["version"]) == ("pending", "shipped", 2)
    assert change["changedBy"] == "ops-1" and change["occurredAt"] == shipped["statusHistory"][-1]["at"]
    assert change["total"] == Decimal("59.98") and '"total":59.98' in fake.published[1]["RawDetail"]
    assert fake.published[0]["Detail"]["correlationId"] == "req-1"
    for entry in fake.published:
        schema = json.loads((ROOT / "docs" / "events" / f"{entry['DetailType']}.v1.json").read_text())
        jsonschema.validate(json.loads(json.dumps(entry["Detail"], default=float)), schema)


@pytest.mark.parametrize(("stored", "sent"), [("30", "30.00"), ("59.9", "59.90"), ("0", "0.00")])
def test_the_events_total_has_two_places_whatever_dynamodb_did_to_it(bus, stored, sent):
    """DynamoDB keeps numbers without trailing zeros (30.00 comes back as 30; moto keeps them, so the image here
    is what AWS's stream would carry): the event's total is money again, as the API's is."""
    fake = bus(failure_rate=0.0)
    record = stream_record("INSERT", order_item(str(uuid.uuid4()), total=Decimal(stored)))
    handler_module("order_events").lambda_handler({"Records": [record]}, FakeLambdaContext())
    assert f'"total":{sent},' in fake.published[0]["RawDetail"]


def test_the_sample_stream_event_publishes_created_then_status_changed_and_commits(bus, table, upstream):
    """events/order_events.json (for `sam local invoke OrderEventsFunction -e`) through the real handler."""
    from orders.upstream.clients import InventoryClient, UpstreamHttp

    fake = bus(failure_rate=0.0)
    event = json.loads((ROOT / "events" / "order_events.json").read_text())
    order_id = event["Records"][0]["dynamodb"]["NewImage"]["id"]["S"]
    InventoryClient(UpstreamHttp("inventory", upstream.url)).reserve(order_id, {"prod-456": 2})
    response = handler_module("order_events").lambda_handler(event, FakeLambdaContext())
    assert response == {"batchItemFailures": []}
    assert [(e["DetailType"], e["Detail"]["version"]) for e in fake.published] == [
        ("OrderCreated", 1),
        ("OrderStatusChanged", 2),
    ]
    assert upstream.snapshot()["reservations"][order_id]["state"] == "committed"  # shipped commits


def _metric_sums(stdout: str, *names: str) -> dict[str, float]:
    """The sums of the EMF metrics `names` printed by Powertools' Metrics across invocations."""
    sums = dict.fromkeys(names, 0.0)
    for line in stdout.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        for name in names:
            values = blob.get(name, [])
            sums[name] += sum(values) if isinstance(values, list) else values
    return sums


@pytest.mark.parametrize("failure_rate", [0.0, 0.2])
def test_the_consumer_counts_events_published_and_not_published(bus, capsys, failure_rate):
    """The dashboard's per-stage line (EventBridge's own counts are per account and Region): what the consumer
    published and what it reported failed, per batch."""
    fake = bus(failure_rate=failure_rate)
    shard, events_per_order = transitions(orders=20, changes_per_order=3)
    capsys.readouterr()
    run_through_mapping(shard)
    sums = _metric_sums(capsys.readouterr().out, "EventsPublished", "EventsNotPublished")
    if failure_rate == 0:
        assert sums == {"EventsPublished": len(fake.published), "EventsNotPublished": 0}
        assert sums["EventsPublished"] == sum(events_per_order.values())
    else:
        # Refused entries (and those behind them in their chunk, sent again) are counted as not published;
        # what was counted published EventBridge took, some of it again after a retry.
        assert sums["EventsNotPublished"] > 0
        assert sum(events_per_order.values()) <= sums["EventsPublished"] <= len(fake.published)


class WatchingKeeper:
    """The reservation keeper's place in the consumer: records, per order, the versions it was asked to settle
    and how many orders were being settled at once. Each settlement waits (up to 2 s) until a second one is in
    flight: a consumer settling one record after another would make every one of them wait the whole time."""

    def __init__(self) -> None:
        self.versions: defaultdict[str, list[int]] = defaultdict(list)
        self.busy: set[str] = set()
        self.peak = 0
        self.overlapped = False
        self.two_at_once = threading.Event()
        self.lock = threading.Lock()

    def settle(self, event_name, old, new):
        order_id = new["id"]
        with self.lock:
            self.overlapped |= order_id in self.busy
            self.busy.add(order_id)
            self.peak = max(self.peak, len(self.busy))
            if len(self.busy) >= 2:
                self.two_at_once.set()
        try:
            self.two_at_once.wait(timeout=2)
            self.versions[order_id].append(int(new["version"]))
        finally:
            with self.lock:
                self.busy.discard(order_id)


def test_the_consumer_settles_different_orders_side_by_side_and_each_orders_records_in_order(
    bus, monkeypatch
):
    """The consumer's records wait on the inventory service (~100 ms a call, the capacity model's figure), so
    a batch's orders are settled concurrently (up to wiring.BACKGROUND_THREADS at once); one order's records
    never overlap and keep their stream order (a commit after a release would be wrong)."""
    fake = bus(failure_rate=0.0)
    keeper = WatchingKeeper()
    monkeypatch.setattr(wiring, "reservation_keeper", lambda: keeper)
    shard, events_per_order = transitions(orders=30, changes_per_order=4)
    _, dead_letters = run_through_mapping(shard)
    assert dead_letters == []
    assert len(fake.published) == sum(events_per_order.values())
    assert {order_id: len(versions) for order_id, versions in keeper.versions.items()} == events_per_order
    assert all(versions == sorted(versions) for versions in keeper.versions.values())
    assert not keeper.overlapped
    assert 2 <= keeper.peak <= wiring.BACKGROUND_THREADS
