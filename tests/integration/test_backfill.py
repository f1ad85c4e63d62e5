"""`make backfill`'s core on moto: past events rebuilt from the table equal what the live path made of the
real stream records, the per-version correlation id, the Scan and Query pages, and the run itself
(checkpoint and resume, bounded rate, dry run, refusals, plain errors)."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent
from orders.domain import jsonio
from orders.domain.caller import Caller
from orders.domain.models import CreateOrderRequest
from orders.domain.status import OrderStatus
from orders.events.bus import EventBusPublisher
from orders.events.history import past_events
from orders.events.notifications import event_for
from orders.storage.repository import CHANGE_CORRELATION_IDS, OrderRepository, item_size, read_units_for

from ops import backfill
from ops.backfill import Backfill, Checkpoint, Window
from ops.cli import RateLimit
from tests.conftest import TEST_ENV
from tests.support.domain import make_service
from tests.support.dynamo import CallRecorder, order_items, raw_order_item
from tests.support.streams import stream_records

TABLE = TEST_ENV["TABLE_NAME"]
ADMIN = Caller(user_id="admin-1", is_admin=True)
# Every move an admin can make from a status (forward, skipping allowed; cancel before shipping).
MOVES = {
    "pending": ["confirmed", "processing", "shipped", "delivered", "cancelled"],
    "confirmed": ["processing", "shipped", "delivered", "cancelled"],
    "processing": ["shipped", "delivered", "cancelled"],
    "shipped": ["delivered"],
}


class Clock:
    """A clock moving 1 ms per reading from `start`, so createdAt values are distinct and known."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


START = datetime(2026, 3, 1, tzinfo=UTC)


def lifecycle(client: Any, orders: int, seed: int, users: int = 3) -> tuple[OrderRepository, list[str]]:
    """`orders` orders of `users` users, each moved at random (seeded) through admin status changes, some
    with correlation ids and some without; interleaved across orders. Returns the ids in creation order."""
    rng = random.Random(seed)
    repository = OrderRepository(client, TABLE)
    service = make_service(repository, clock=Clock(START))
    request = {"items": [{"productId": "prod-456", "quantity": 2}], "shippingAddress": {"street": "1 Main St", "city": "X", "zipCode": "10001"}}  # fmt: skip
    ids, status = [], {}
    for index in range(orders):
        user = f"user-{index % users}"
        created = service.create(
            Caller(user_id=user, is_admin=False),
            CreateOrderRequest.model_validate(request),
            correlation_id=rng.choice([None, f"create-{index}"]),
        )
        ids.append(created.id)
        status[created.id] = "pending"
    for step in itertools.count():
        movable = [order_id for order_id in ids if status[order_id] in MOVES and rng.random() < 0.7]
        if not movable or step > 6:
            break
        for order_id in movable:
            target = rng.choice(MOVES[status[order_id]])
            service.change_status(
                ADMIN, order_id, OrderStatus(target), correlation_id=rng.choice([None, "", f"change-{step}"])
            )
            status[order_id] = target
    return repository, ids


def live_events(table_name: str = TABLE) -> dict[str, list[dict]]:
    """What the stream consumer made of the table's real stream records: per order, in stream order."""
    event = DynamoDBStreamEvent({"Records": stream_records(table_name)})
    by_order: dict[str, list[dict]] = defaultdict(list)
    for record in event.records:
        made = event_for(record.event_name.name, record.dynamodb.old_image, record.dynamodb.new_image)
        if made is not None:
            by_order[made.order_id].append({"detail-type": made.detail_type, "detail": made.detail})
    return by_order


def scanned_images(repository: OrderRepository, segments: int = 3) -> list[dict[str, Any]]:
    images = []
    for segment in range(segments):
        start = None
        while True:
            page = repository.scan_orders_page(
                segment=segment, total_segments=segments, start_key=start, limit=7
            )
            images.extend(page.images)
            if page.next_key is None:
                break
            start = page.next_key
    return images


def as_json(events: list[dict]) -> list[str]:
    """Compared as the bus gets them: the detail's JSON text, byte for byte."""
    return [f"{event['detail-type']} {jsonio.dumps(event['detail'])}" for event in events]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebuilt_events_equal_the_live_events_of_random_lifecycles(table, seed):
    repository, ids = lifecycle(table, orders=30, seed=seed)
    live = live_events()
    images = scanned_images(repository)

    assert sorted(image["id"] for image in images) == sorted(ids)
    for image in images:
        rebuilt = [{"detail-type": e.detail_type, "detail": e.detail} for e in past_events(image)]
        assert as_json(rebuilt) == as_json(live[image["id"]]), image["id"]
        assert rebuilt == live[image["id"]]  # Decimal for Decimal (total), not only the same text
        assert len(rebuilt) == int(image["version"])


def test_a_later_change_does_not_rewrite_an_earlier_versions_correlation_id(table):
    repository, (order_id,) = lifecycle(table, orders=1, seed=0)
    service = make_service(repository, clock=Clock(START + timedelta(days=1)))
    service.change_status(ADMIN, order_id, OrderStatus.CONFIRMED, correlation_id="req-confirm")
    service.change_status(ADMIN, order_id, OrderStatus.PROCESSING, correlation_id=None)
    service.change_status(ADMIN, order_id, OrderStatus.SHIPPED, correlation_id="req-ship")
    (image,) = scanned_images(repository, segments=1)

    details = [event.detail for event in past_events(image)]

    assert [detail.get("correlationId") for detail in details[-3:]] == ["req-confirm", None, "req-ship"]
    assert [detail["status"] for detail in details[-3:]] == ["confirmed", "processing", "shipped"]


def test_the_correlation_ids_are_written_in_the_change_itself_and_never_returned(table):
    repository, (order_id,) = lifecycle(table, orders=1, seed=0)
    service = make_service(repository, clock=Clock(START + timedelta(days=1)))
    before = raw_order_item(table, order_id, TABLE)[CHANGE_CORRELATION_IDS]["L"]

    with CallRecorder(table) as calls:
        changed = service.change_status(ADMIN, order_id, OrderStatus.CANCELLED, correlation_id="req-cancel")

    assert calls.operations == ["UpdateItem"]
    assert "list_append(if_not_exists(#changeIds" in calls.calls[0].params["UpdateExpression"]
    after = raw_order_item(table, order_id, TABLE)[CHANGE_CORRELATION_IDS]["L"]
    assert after == [*before, {"S": "req-cancel"}]
    assert CHANGE_CORRELATION_IDS not in changed.model_dump(by_alias=True)
    wire = repository.get_wire(order_id)
    assert wire is not None and CHANGE_CORRELATION_IDS not in wire and "correlationId" not in wire
    listed, _ = repository.list_by_user(changed.user_id, status=None, limit=10, after=None)
    assert all(CHANGE_CORRELATION_IDS not in order.model_dump(by_alias=True) for order in listed)


def test_an_order_written_before_the_attribute_existed_keeps_what_can_be_known(table):
    """Its earlier versions' correlation ids were overwritten in place: they are gone. From its first later
    change on, each version has its own again; before that only the latest version's is known."""
    repository, (order_id,) = lifecycle(table, orders=1, seed=0)
    key = {"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}}
    table.update_item(TableName=TABLE, Key=key, UpdateExpression=f"REMOVE {CHANGE_CORRELATION_IDS}")
    table.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET correlationId = :id",
        ExpressionAttributeValues={":id": {"S": "old"}},
    )
    (legacy,) = scanned_images(repository, segments=1)
    latest = int(legacy["version"])
    assert [e.detail.get("correlationId") for e in past_events(legacy)] == [None] * (latest - 1) + ["old"]

    service = make_service(repository, clock=Clock(START + timedelta(days=1)))
    current = service.get(ADMIN, order_id).status
    if current not in MOVES:
        return
    service.change_status(ADMIN, order_id, OrderStatus(MOVES[current][-1]), correlation_id="new")
    (image,) = scanned_images(repository, segments=1)
    assert [e.detail.get("correlationId") for e in past_events(image)] == [None] * latest + ["new"]


def test_scan_segments_cover_every_order_once_within_the_window_and_skip_other_items(table):
    repository, ids = lifecycle(table, orders=25, seed=4)
    # Not orders: a release intent (it has a createdAt too) and a reservation state.
    repository.put_release_intent("r-1", "2026-03-01T00:00:00.005Z")
    repository.set_reservation_state(ids[0], "released")
    created = {image["id"]: image["createdAt"] for image in scanned_images(repository)}
    assert set(created) == set(ids)

    ordered = sorted(ids, key=created.__getitem__)
    low, high = created[ordered[5]], created[ordered[15]]
    seen = []
    for segment in range(4):
        start = None
        while True:
            page = repository.scan_orders_page(
                segment=segment,
                total_segments=4,
                start_key=start,
                created_from=low,
                created_before=high,
                limit=4,
            )
            seen.extend(image["id"] for image in page.images)
            assert page.read_units == 1.0 or page.read_units is None or page.read_units > 0
            assert page.read_units_computed >= 1.0 and page.scanned >= len(page.images)
            if page.next_key is None:
                break
            json.dumps(page.next_key)  # a checkpoint holds it
            start = page.next_key
    assert sorted(seen) == sorted(ordered[5:15])


def test_one_users_orders_by_query_within_the_window(table):
    repository, _ = lifecycle(table, orders=12, seed=5, users=3)
    images = {image["id"]: image for image in scanned_images(repository)}
    mine = sorted(
        (image["createdAt"], order_id) for order_id, image in images.items() if image["userId"] == "user-1"
    )
    low = mine[1][0]
    seen, start = [], None
    while True:
        page = repository.user_orders_page("user-1", start_key=start, created_from=low, limit=1)
        seen.extend(image["id"] for image in page.images)
        if page.next_key is None:
            break
        start = page.next_key
    assert seen == [order_id for _, order_id in mine[1:]]  # oldest first
    page = repository.user_orders_page("user-1", created_before=mine[1][0])
    assert [image["id"] for image in page.images] == [mine[0][1]]
    assert page.read_units_computed == 0.5  # eventually consistent: half a unit per 4 KB


def test_read_units_follow_dynamodbs_rule(table):
    lifecycle(table, orders=1, seed=0)
    (item,) = [item for item in order_items(table, TABLE) if item["SK"]["S"] == "ORDER"]
    size = item_size(item)
    assert 300 < size < 1500  # an order of one line: well under one 4 KB block
    assert item_size({"a": {"S": "xyz"}}) == 4
    assert item_size({"n": {"N": "123.45"}}) == 1 + 4  # 5 significant digits: 3 bytes + 1
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert read_units_for([item] * 4, consistent=True) == 1.0
    assert read_units_for([{"x": {"S": "a" * 4096}}] * 2, consistent=True) == 3.0
    assert read_units_for([{"x": {"S": "a" * 4096}}] * 2, consistent=False) == 1.5


class RecordingBus:
    """`put_events` that accepts everything, or refuses every entry of the orders in `refuse`."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.calls: list[list[dict]] = []
        self.published: list[dict] = []

    def put_events(self, Entries):
        assert len(Entries) <= 10
        self.calls.append(Entries)
        results = []
        for entry in Entries:
            detail = json.loads(entry["Detail"], parse_float=Decimal)
            if detail["orderId"] in self.refuse:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"})
            else:
                self.published.append({"detail-type": entry["DetailType"], "detail": detail})
                results.append({"EventId": str(uuid.uuid4())})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


class CountingRate(RateLimit):
    def __init__(self) -> None:
        super().__init__(None)
        self.taken: list[int] = []

    def take(self, units: int = 1) -> None:
        self.taken.append(units)


def run(repository, bus, **options) -> Backfill:
    options.setdefault("window", Window(None, "2099-01-01T00:00:00.000Z"))
    options.setdefault("page_items", 5)
    options.setdefault("retry_pause", 0)
    backfill_run = Backfill(repository, EventBusPublisher(bus, "orders-test", jsonio.dumps), **options)
    backfill_run.run()
    return backfill_run


def per_order(published: list[dict]) -> dict[str, list[dict]]:
    by_order: dict[str, list[dict]] = defaultdict(list)
    for event in published:
        by_order[event["detail"]["orderId"]].append(event)
    return by_order


def test_the_run_publishes_every_event_in_order_at_the_bounded_rate(table):
    repository, _ = lifecycle(table, orders=40, seed=6)
    live = live_events()
    bus, rate = RecordingBus(), CountingRate()

    result = run(repository, bus, segments=3, rate=rate).summary

    expected = sum(len(events) for events in live.values())
    assert result.ok and result.orders == 40 and result.events_sent == expected == len(bus.published)
    published = per_order(bus.published)
    for order_id, events in live.items():
        assert as_json(published[order_id]) == as_json(events)
    assert sum(rate.taken) == expected and max(rate.taken) <= 10
    assert all(len({e["Detail"] for e in call}) == len(call) for call in bus.calls)
    assert all(len({json.loads(e["Detail"])["orderId"] for e in call}) == len(call) for call in bus.calls), (
        "two events of one order in one call"
    )
    # Pages interleave orders by version, so calls fill up (one order's events alone would go one per call).
    assert len(bus.calls) < expected / 3
    assert result.read_units_computed > 0 and result.events_per_second > 0


def test_a_refused_segment_keeps_its_checkpoint_and_the_rerun_sends_the_rest(table, tmp_path, capsys):
    repository, ids = lifecycle(table, orders=30, seed=7)
    live = live_events()
    path = tmp_path / "checkpoint.json"
    refusing = RecordingBus(refuse={ids[17]})

    first = run(repository, refusing, segments=2, checkpoint=Checkpoint(path, {"a": 1})).summary

    assert not first.ok and first.refused and all(key.startswith(ids[17]) for key in first.refused)
    assert "(3 attempts; InternalFailure: injected)" in capsys.readouterr().err  # EventBridge's reason, said
    state = json.loads(path.read_text())
    assert not state["done"] and not all(s["done"] for s in state["segments"].values())
    again = RecordingBus()
    checkpoint = Checkpoint(path, {"a": 1})
    assert checkpoint.load()
    second = run(repository, again, segments=2, checkpoint=checkpoint).summary

    assert second.ok
    total = sum(len(events) for events in live.values())
    assert 0 < second.events_sent < total  # resumed: only what was not behind the checkpoint
    union = {e["detail"]["eventId"]: e for e in refusing.published + again.published}
    assert sorted(union) == sorted(e["detail"]["eventId"] for events in live.values() for e in events)
    for order_id, events in per_order(again.published).items():
        versions = [e["detail"]["version"] for e in events]
        assert versions == sorted(versions) and versions[-1] == len(live[order_id])
    assert json.loads(path.read_text())["done"]
    with pytest.raises(backfill.BackfillError, match="another backfill"):
        Checkpoint(path, {"a": 2}).load()


def test_a_dry_run_prints_every_event_and_publishes_nothing(table):
    repository, _ = lifecycle(table, orders=8, seed=8)
    live = live_events()
    bus, printed = RecordingBus(), []

    result = run(repository, bus, dry_run=True, out=printed.append).summary

    assert bus.calls == [] and result.events_sent == 0
    assert len(printed) == sum(len(events) for events in live.values())
    assert sorted(printed) == sorted(
        f"{e['detail-type']} {json.dumps(e['detail'], default=str)}"
        for events in live.values()
        for e in events
    )


def test_the_window_of_the_run(table):
    repository, _ = lifecycle(table, orders=10, seed=9)
    created = sorted(image["createdAt"] for image in scanned_images(repository))
    bus = RecordingBus()

    run(repository, bus, window=Window(created[3], created[7]))

    assert len({e["detail"]["orderId"] for e in bus.published}) == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "yesterday"], "is not an ISO-8601 date"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "empty or inverted"),
        ([], "--from ISO"),
        (["--all", "--from", "2026-01-01"], "exclude each other"),
        (["--all", "--stage", "nosuch"], "no stage 'nosuch'"),
        (["--all", "--url", "http://127.0.0.1:9"], "no local stack answers"),
        (["--all", "--segments", "0"], "at least 1"),
        (["--all", "--settle", "-100"], "--settle must be a number of seconds, 0 or more"),
        (["--all", "--settle", "nan"], "--settle must be a number of seconds, 0 or more"),
        (["--all", "--rate", "-1"], "--rate must be a number of units a second, 0 or more"),
        (["--all", "--rate", "nan"], "--rate must be a number of units a second, 0 or more"),
    ],
)
def test_expected_failures_are_one_plain_line(argv, message, capsys):
    assert backfill.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_window_times_are_written_as_the_table_writes_them():
    assert backfill.timestamp("2026-01-31", "--from") == "2026-01-31T00:00:00.000Z"
    assert backfill.timestamp("2026-01-31T12:00:00+02:00", "--from") == "2026-01-31T10:00:00.000Z"
    assert backfill.timestamp("2026-01-31T12:00:00.5Z", "--from") == "2026-01-31T12:00:00.500Z"


def test_the_window_ends_past_any_create_still_being_written():
    """A create stamps createdAt before its write lands: the window ends `--settle` seconds before the run
    starts, so that every order in it is in the table before the Scan begins (newer ones go out live)."""
    start = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)

    def window(*argv: str) -> Window:
        return backfill.window_from(backfill.parser().parse_args(argv), now=lambda: start)

    assert window("--all").created_before == "2026-12-04T11:59:45.000Z"  # 15 s by default
    assert window("--all", "--settle", "0").created_before == "2026-12-04T12:00:00.000Z"
    assert window("--from", "2026-12-01", "--to", "2026-12-04T11:59:59Z").created_before == (
        "2026-12-04T11:59:45.000Z"  # a later --to is cut back
    )
    assert window("--from", "2026-12-01", "--to", "2026-12-02").created_before == "2026-12-02T00:00:00.000Z"
    with pytest.raises(backfill.BackfillError, match="empty or inverted"):
        window("--from", "2026-12-04T11:59:50Z")
    # A negative settle would end the window after the start: orders still being written could be skipped.
    with pytest.raises(backfill.BackfillError, match="--settle must be"):
        window("--all", "--settle", "-100")


# ------------------------------------------------------------------------------------------------ the command
@pytest.fixture
def dev_stage(table):
    """moto as the dev stage (samconfig.toml's): its stack outputs the test table and a bus. The options that
    name it (own credentials: no role to assume)."""
    import boto3

    region = TEST_ENV["AWS_DEFAULT_REGION"]
    events = boto3.client("events", region_name=region)
    events.create_event_bus(Name="orders-test-bus")
    cloudformation = boto3.client("cloudformation", region_name=region)
    outputs = {"OrdersTableName": {"Value": TABLE}, "EventBusName": {"Value": "orders-test-bus"}}
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}
    cloudformation.create_stack(StackName="order-service-dev", TemplateBody=json.dumps(template))
    yield ["--stage", "dev", "--no-assume-role", "--rate", "0"]
    cloudformation.delete_stack(StackName="order-service-dev")
    events.delete_event_bus(Name="orders-test-bus")


def test_an_interrupted_backfill_ends_with_the_summary_of_what_it_did(
    table, dev_stage, tmp_path, monkeypatch, capsys
):
    """Ctrl-C: the summary so far (marked interrupted, also as JSON), then the line saying a rerun continues,
    exit 130; before, only `backfill: interrupted; ...`."""
    lifecycle(table, orders=12, seed=10)
    pages = 0
    scan = OrderRepository.scan_orders_page

    def interrupted_at_the_third_page(self, **options):
        nonlocal pages
        pages += 1
        if pages == 3:
            raise KeyboardInterrupt  # the operator's Ctrl-C, while the third page is read
        return scan(self, **options)

    monkeypatch.setattr(OrderRepository, "scan_orders_page", interrupted_at_the_third_page)
    path = tmp_path / "checkpoint.json"
    argv = [*dev_stage, "--all", "--segments", "1", "--page-size", "3", "--checkpoint", str(path), "--json"]

    assert backfill.main(argv) == 130

    captured = capsys.readouterr()
    said = captured.err.splitlines()
    summary = json.loads(captured.out.splitlines()[-1])
    assert summary["interrupted"] is True and summary["orders"] == 6 and summary["events_sent"] > 6
    assert said[-2].startswith(f"backfill: 6 orders read, {summary['events_sent']} events sent, 0 failures")
    assert said[-2].endswith("(interrupted)")
    assert said[-1] == "backfill: interrupted; the same command continues from the checkpoint"
    state = json.loads(path.read_text())
    assert not state["done"] and state["segments"]["0"]["next"] is not None
    assert "Traceback" not in captured.err


def checkpoint_for(argv: list[str], **state: Any) -> dict[str, Any]:
    arguments = backfill.checkpoint_arguments(backfill.parser().parse_args(argv), "dev")
    return {"arguments": arguments, "done": False, **state}


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"segments": {"0": {"next": None}}}, 'segment \'0\' needs "next" (a key or null) and "done"'),
        ({"segments": {}, "window": {"from": None}}, 'window needs "from" (a time or null) and "before"'),
    ],
)
def test_a_damaged_checkpoint_is_one_plain_line_and_restart_starts_over(
    table, dev_stage, tmp_path, capsys, state, problem
):
    """A hand-edited or incomplete checkpoint: exit 2 with what is wrong, the file left as it is; --restart
    then runs this backfill from the beginning. Before, a KeyError traceback."""
    lifecycle(table, orders=4, seed=11)
    path = tmp_path / "checkpoint.json"
    argv = [*dev_stage, "--all", "--to", "2026-06-01", "--segments", "2", "--checkpoint", str(path)]
    path.write_text(json.dumps(checkpoint_for(argv, **state)))
    written = path.read_text()

    assert backfill.main(argv) == 2

    err = capsys.readouterr().err
    assert f"backfill: the checkpoint {path} is damaged ({problem}" in err and "Traceback" not in err
    assert path.read_text() == written
    assert backfill.main([*argv, "--restart"]) == 0
    assert "backfill: 4 orders read" in capsys.readouterr().err
    assert json.loads(path.read_text())["done"]


@pytest.mark.parametrize(
    "state",
    [
        {"segments": []},
        {"segments": {"0": {"next": "k", "done": False}}},
        {"segments": {"0": {"next": None, "done": "no"}}},
        {"segments": {}, "window": ["2026-01-01", None]},
        {"segments": {}, "window": {"from": 5, "before": "2026-01-01"}},
        {"segments": {}, "done": "yes"},
    ],
)
def test_a_checkpoint_is_checked_whole_when_loaded(tmp_path, state):
    path = tmp_path / "checkpoint.json"
    path.write_text(json.dumps({"arguments": {"a": 1}, **state}))
    with pytest.raises(backfill.BackfillError, match="is damaged"):
        Checkpoint(path, {"a": 1}).load()
    assert not Checkpoint(path, {"a": 1}).load(restart=True)  # this backfill's: --restart replaces it


def test_restart_never_replaces_another_backfills_checkpoint(table, dev_stage, tmp_path, capsys):
    """--checkpoint naming another backfill's checkpoint: refused (exit 2, naming --checkpoint) with and
    without --restart, the file untouched and nothing sent. Before, --restart deleted it (the other run's
    progress lost) while the refusal said "--restart ignores it"."""
    lifecycle(table, orders=3, seed=12)
    path = tmp_path / "checkpoint.json"
    argv = [*dev_stage, "--all", "--to", "2026-06-01", "--checkpoint", str(path)]
    other = [*dev_stage, "--from", "2026-01-01", "--checkpoint", str(path)]
    segment = {"next": {"PK": {"S": "ORDER#x"}, "SK": {"S": "ORDER"}}, "done": False}
    path.write_text(json.dumps(checkpoint_for(other, segments={"0": segment})))
    written = path.read_text()

    for restart in ([], ["--restart"]):
        assert backfill.main([*argv, *restart]) == 2
        err = capsys.readouterr().err
        assert f"backfill: {path} is another backfill's checkpoint" in err
        assert "even with --restart: name another --checkpoint PATH" in err
        assert "backfill: 0 orders read" not in err and "Traceback" not in err
        assert path.read_text() == written

    # Its own finished checkpoint: --restart runs it again.
    own = tmp_path / "own.json"
    assert backfill.main([*argv[:-1], str(own)]) == 0
    assert backfill.main([*argv[:-1], str(own)]) == 0
    assert "already finished" in capsys.readouterr().err
    assert backfill.main([*argv[:-1], str(own), "--restart"]) == 0
    assert "backfill: 3 orders read" in capsys.readouterr().err
