"""Nothing lost past the retries, end to end on a stack of its own: the bus refuses PutEvents for longer
than the stream's retries → the consumer's failed batches land in the bucket with their records and the
alarm goes off → the fault clears → `make redrive` (killed halfway, then run again) → every event the table
implies is on the bus, and every reservation is settled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.harness import ROOT, RunningStack, started_stack, wait_for
from tests.e2e.test_streams import create_order, events_of

FAILED_BATCH_ALARM = "OrderEventsFailedBatchAlarm"
# What each order goes through (an admin moves it): the settlement the inventory must end in.
LIFECYCLES: list[tuple[list[str], str | None]] = [
    (["shipped"], "committed"),
    (["confirmed", "processing", "shipped", "delivered"], "committed"),
    (["cancelled"], "released"),
    (["confirmed", "cancelled"], "released"),
    (["confirmed"], None),
    ([], None),
]


@pytest.fixture(scope="module")
def outage(keys_dir, tmp_path_factory):
    with started_stack(keys_dir, tmp_path_factory.mktemp("redrive")) as running:
        yield running


def redrive(stack: RunningStack, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops", "redrive", "--url", f"http://localhost:{stack.port}", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        check=False,
    )


def without_make_stage() -> dict[str, str]:
    """The environment for `make <operator command>` against the local stack: an ENV in it would name a
    deployed stage (and MAKEFLAGS from an outer make would change how it runs)."""
    return {name: value for name, value in os.environ.items() if name not in ("ENV", "MAKEFLAGS")}


def set_faults(stack: RunningStack, plan: dict[str, Any]) -> None:
    reply = stack.request("POST", "/_local/aws-faults", body=json.dumps(plan))
    assert reply.status == 200, reply.text


def letters(stack: RunningStack) -> list[dict]:
    return stack.request("GET", "/_local/dead-letters").json()


def alarm_state(stack: RunningStack, name: str) -> str:
    return next(
        alarm["state"] for alarm in stack.request("GET", "/_local/alarms").json() if alarm["name"] == name
    )


def change(stack: RunningStack, order_id: str, status: str, token: str) -> None:
    reply = stack.request(
        "PATCH", f"/api/orders/{order_id}/status", token=token, body=json.dumps({"status": status})
    )
    assert reply.status == 200, reply.text


def test_nothing_is_lost_past_the_retries(outage, mint):
    stack = outage
    customer, admin = mint("user-123"), mint("ops-1", admin=True)
    assert alarm_state(stack, FAILED_BATCH_ALARM) == "OK"

    # ---------------------------------------------------------------- the outage
    set_faults(stack, {"PutEvents": {"errorCode": "ThrottlingException", "entries": None}})
    orders = []
    for statuses, settlement in LIFECYCLES:
        order_id = create_order(stack, customer)
        for status in statuses:
            change(stack, order_id, status, admin)
        orders.append((order_id, len(statuses) + 1, settlement))
    records = sum(versions for _, versions, _ in orders)
    wait_for(
        lambda: sum(len(json.loads(l["message"]["payload"])["Records"]) for l in letters(stack)) >= records,
        timeout=120,
    )
    assert alarm_state(stack, FAILED_BATCH_ALARM) == "ALARM"
    written = letters(stack)
    assert all(letter["present"] and letter["key"].startswith("aws/lambda/") for letter in written)
    carried = [
        record["dynamodb"]["SequenceNumber"]
        for letter in written
        for record in json.loads(letter["message"]["payload"])["Records"]
    ]
    assert len(carried) == len(set(carried)) == records  # every record once, in the bucket with its data
    assert all(events_of(stack, order_id) == [] for order_id, _, _ in orders)
    reservations = stack.request("GET", "/_local/stubs/state").json()["reservations"]
    assert all(reservations[order_id]["state"] == "held" for order_id, _, _ in orders)

    # ---------------------------------------------------------------- what redrive finds and refuses
    s3 = stack.aws("s3")
    bucket = written[0]["bucket"]
    bogus = "aws/lambda/not-a-mapping/shardId-x/2026/01/01/2026-01-01T00.00.00-truncated"
    s3.put_object(Bucket=bucket, Key=bogus, Body=b'{"DDBStreamBatchInfo": {"streamArn": "arn:aws:dyn')
    # The README's command, as a person runs it against `make dev`'s stack (on this stack's port).
    dry = subprocess.run(
        ["make", "-s", "redrive", f"PORT={stack.port}", "DRY_RUN=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=without_make_stage(),
        check=False,
    )
    assert dry.returncode != 0, dry.stderr  # the bogus object
    assert f"would send OrderCreated {orders[0][0]}:1 (pending)" in dry.stderr
    assert f"would mark reservation {orders[0][0]} of order {orders[0][0]} committed" in dry.stderr
    assert f"ERROR {bogus}: not JSON" in dry.stderr
    assert all(letter["present"] for letter in letters(stack))  # a dry run changes nothing

    # ---------------------------------------------------------------- the fault clears; a redrive is killed halfway
    set_faults(stack, {})
    slow = subprocess.Popen(
        [sys.executable, "-m", "ops", "redrive", "--url", f"http://localhost:{stack.port}", "--rate", "2"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert slow.stderr is not None
    for line in slow.stderr:
        if line.startswith("delivered "):
            break
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=10)
    halfway = [letter for letter in letters(stack) if letter["present"]]
    assert 1 < len(halfway) < len(written)  # some delivered and removed, the rest still there

    # ---------------------------------------------------------------- EventBridge refuses one entry of a rerun
    set_faults(stack, {"PutEvents": {"errorCode": "ThrottlingException", "entries": 1}})
    refused = redrive(stack, "--rate", "1000")
    assert refused.returncode == 1
    assert "KEPT aws/lambda/" in refused.stderr and "EventBridge refused" in refused.stderr
    assert f"ERROR {bogus}: not JSON" in refused.stderr
    kept = [letter for letter in letters(stack) if letter["present"]]
    assert kept, "the record with the refused event stays in the bucket"

    # ---------------------------------------------------------------- and the final run completes
    s3.delete_object(Bucket=bucket, Key=bogus)  # an operator moves the bogus object out of the way
    final = redrive(stack)
    assert final.returncode == 0, final.stderr
    assert "0 kept, 0 not failure records" in final.stderr
    assert not any(letter["present"] for letter in letters(stack))
    again = redrive(stack)
    assert again.returncode == 0 and "0 failure records" in again.stderr

    # ---------------------------------------------------------------- every event the table implies, once each
    time.sleep(1)  # the capture drains the bus
    for order_id, versions, settlement in orders:
        published = events_of(stack, order_id)
        by_id: dict[str, list[dict]] = {}
        for event in published:
            by_id.setdefault(event["detail"]["eventId"], []).append(event["detail"])
        assert sorted(by_id) == sorted(f"{order_id}:{version}" for version in range(1, versions + 1))
        assert all(all(copy == copies[0] for copy in copies) for copies in by_id.values())  # same details
        state = stack.request("GET", "/_local/stubs/state").json()["reservations"][order_id]["state"]
        assert state == (settlement or "held"), order_id


def test_a_subscriber_replays_a_window_of_the_archive_to_its_own_rule(outage, mint):
    """`make replay`: the archive holds what was published; a replay of a window reaches the rule named, with
    the events as they were (same eventId and detail) and EventBridge's `replay-name` on them."""
    stack = outage
    bus = next(name for name in stack.services()["eventBuses"] if name != "default")
    events, sqs = stack.aws("events"), stack.aws("sqs")
    queue_url = sqs.create_queue(QueueName="catch-up-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule_arn = events.put_rule(
        Name="catch-up-subscriber",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["com.orderservice.orders"], "replay-name": [{"exists": True}]}),
    )["RuleArn"]
    events.put_targets(Rule="catch-up-subscriber", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    start = datetime.now(UTC) - timedelta(seconds=2)
    order_id = create_order(stack, mint("user-123"))
    live = wait_for(lambda: events_of(stack, order_id), timeout=15)[0]
    end = datetime.now(UTC) + timedelta(seconds=2)
    assert (
        sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages") is None
    )  # live: not here

    # The README's command, as a person runs it against `make dev`'s stack (on this stack's port); first with
    # DRY_RUN=1, which says what it would replay and starts nothing (before, make ignored it and replayed).
    command = ["make", "-s", "replay", f"PORT={stack.port}", f"FROM={start.isoformat()}", f"TO={end.isoformat()}",
               f"RULES={rule_arn}"]  # fmt: skip
    replays_before = events.list_replays().get("Replays", [])
    dry = subprocess.run(
        [*command, "DRY_RUN=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, env=without_make_stage(),
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "replay (dry run): would replay" in dry.stderr and rule_arn in dry.stderr
    assert events.list_replays().get("Replays", []) == replays_before
    replay = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, env=without_make_stage()
    )
    assert replay.returncode == 0, replay.stderr
    assert "COMPLETED" in replay.stderr

    # The window may also hold the events of this module's earlier tests (their orders, seconds before):
    # gather every replayed message until this order's has come, rather than judge the first receive.
    gathered: list[dict] = []

    def replayed_this_order() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages") or []
        gathered.extend(json.loads(message["Body"], parse_float=Decimal) for message in messages)
        return [event for event in gathered if event["detail"]["orderId"] == order_id]

    received = wait_for(replayed_this_order, timeout=15)
    assert [event["detail"] for event in received] == [live["detail"]]
    assert received[0]["replay-name"].startswith("orders-")
