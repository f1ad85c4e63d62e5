"""`make redrive` (`python -m ops redrive`): deliver the stream batches the consumer gave up on.

Each object in the failed-batch bucket (`aws/lambda/<mapping uuid>/<shard>/YYYY/MM/DD/...`) is the record
Lambda wrote when it gave up on a batch: the batch's position (`DDBStreamBatchInfo`) and the invocation
event itself (`payload`, `{"Records": [...]}`). Redrive runs those records through the consumer's own code
(`orders.events.stream`: the same events, so the same `eventId`s and details; the same reservation
settlements), and deletes the object only once every record in it succeeded. Oldest first.

Safe to rerun and to kill: an object is removed last, so a killed run leaves it to the next one, which
publishes its events again under the same `eventId`s (subscribers drop duplicates) and finds the
reservations already settled (the consumer records each settlement). An object that is not such a record
(not JSON, truncated, another table's stream) is named and left where it is; the rest goes on. Exit
status 1 when anything was left.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ops.cli import Progress, RateLimit, add_stage_arguments, say, stage_from
from ops.stage import Stage, StageError

ROLE = "EventsRedriveRole"
PREFIX = "aws/lambda/"


class NotAFailureRecord(Exception):
    """The object is not a record of a batch of this stage's table stream (the reason says why)."""


@dataclass(frozen=True)
class FailureRecord:
    key: str
    stream_arn: str
    shard_id: str
    condition: str
    records: list[dict[str, Any]]


def read_failure_record(key: str, body: bytes, table_arn: str) -> FailureRecord:
    """The failure record in an object's body, checked against what Lambda writes for this table's stream;
    raises NotAFailureRecord."""
    try:
        document = json.loads(body)
    except ValueError as error:
        raise NotAFailureRecord(f"not JSON ({error.msg} at byte {error.pos}: truncated?)") from None
    if not isinstance(document, dict):
        raise NotAFailureRecord("not a JSON object")
    info = document.get("DDBStreamBatchInfo")
    if not isinstance(info, dict):
        raise NotAFailureRecord("no DDBStreamBatchInfo: not a DynamoDB stream failure record")
    stream_arn = str(info.get("streamArn") or "")
    if not stream_arn.startswith(f"{table_arn}/stream/"):
        raise NotAFailureRecord(
            f"names another stream ({stream_arn or 'none'}; this stage's table is {table_arn})"
        )
    payload = document.get("payload")
    if payload is None:
        raise NotAFailureRecord("no payload: the batch's records are not in it (an SQS/SNS-style record?)")
    try:
        event = json.loads(payload) if isinstance(payload, str) else payload
    except ValueError as error:
        raise NotAFailureRecord(f"payload is not JSON ({error.msg}: truncated?)") from None
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise NotAFailureRecord("payload has no Records list")
    expected = info.get("batchSize")
    if expected != len(records):
        raise NotAFailureRecord(f"truncated: batchSize {expected}, {len(records)} records in the payload")
    for record in records:
        if record.get("eventSourceARN") not in (None, stream_arn):
            raise NotAFailureRecord(f"a record from another stream: {record.get('eventSourceARN')}")
    return FailureRecord(
        key=key,
        stream_arn=stream_arn,
        shard_id=str(info.get("shardId") or ""),
        condition=str((document.get("requestContext") or {}).get("condition") or "?"),
        records=records,
    )


@dataclass
class Outcome:
    """What became of one failure record."""

    events_sent: int = 0
    events_refused: list[str] = field(default_factory=list)  # eventIds EventBridge did not accept
    settled: int = 0
    failures: list[str] = field(default_factory=list)  # one line per record that did not succeed

    @property
    def delivered(self) -> bool:
        return not self.failures


class CountingPublisher:
    """The consumer's publisher, counting what it sent and what EventBridge refused (by eventId)."""

    def __init__(self, publisher: Any, rate: RateLimit) -> None:
        self._publisher = publisher
        self._rate = rate
        self.sent = 0
        self.refused: list[str] = []

    def publish_in_order(self, pending: list[Any]) -> set[str]:
        self._rate.take(len(pending))
        unpublished = self._publisher.publish_in_order(pending)
        self.sent += len(pending) - len(unpublished)
        self.refused += [item.event.detail["eventId"] for item in pending if item.key in unpublished]
        return unpublished


def deliver(failure: FailureRecord, publisher: Any, keeper: Any, rate: RateLimit) -> Outcome:
    """Publish the batch's events and settle its reservations, as the consumer does for a batch."""
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent
    from orders.events.stream import EventNotPublished, record_settler, unpublished_records

    records = list(DynamoDBStreamEvent({"Records": failure.records}).records)
    counting = CountingPublisher(publisher, rate)
    unpublished = unpublished_records(records, counting)
    settle = record_settler(unpublished, keeper)
    outcome = Outcome(events_sent=counting.sent, events_refused=counting.refused)
    for record in records:
        sequence = record.dynamodb.sequence_number if record.dynamodb else record.event_id
        try:
            if settle(record) is not None:
                outcome.settled += 1
        except EventNotPublished:
            outcome.failures.append(f"record {sequence}: its event was not published")
        except Exception as error:  # noqa: BLE001 - any failure keeps the record for the next run
            outcome.failures.append(f"record {sequence}: {type(error).__name__}: {error}")
    return outcome


@dataclass
class Plan:
    """What delivering a failure record would do (the dry run)."""

    events: list[str] = field(default_factory=list)
    settlements: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return (
            [f"  would send {line}" for line in self.events]
            + [f"  would mark {line} (unless it already is)" for line in self.settlements]
            + [f"  record {line}: unreadable, would stay" for line in self.unreadable]
        )


def plan(failure: FailureRecord) -> Plan:
    """The events and reservation settlements delivering the record would make, through the same code."""
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent
    from orders.events.reservations import settlement_for
    from orders.events.stream import unpublished_records

    records = list(DynamoDBStreamEvent({"Records": failure.records}).records)
    collected: list[Any] = []

    class Collect:
        def publish_in_order(self, pending: list[Any]) -> set[str]:
            collected.extend(pending)
            return set()

    unpublished = unpublished_records(records, Collect())
    result = Plan()
    for item in collected:
        detail = item.event.detail
        moved = (
            f"{detail['previousStatus']}→{detail['status']}" if detail["previousStatus"] else detail["status"]
        )
        result.events.append(f"{item.event.detail_type} {detail['eventId']} ({moved})")
    for record in records:
        change = record.dynamodb
        if change is None or record.event_name is None or change.sequence_number in unpublished:
            result.unreadable.append(change.sequence_number if change else str(record.event_id))
            continue
        settlement = settlement_for(record.event_name.name, change.old_image, change.new_image)
        if settlement is not None:
            owner = f" of order {settlement.order_id}" if settlement.order_id else " (release intent)"
            result.settlements.append(f"reservation {settlement.reservation_id}{owner} {settlement.action}")
    return result


@dataclass
class Totals:
    objects: int
    records: int = 0
    delivered: int = 0
    kept: int = 0
    invalid: int = 0
    events: int = 0
    settled: int = 0

    def summary(self, *, dry_run: bool, seconds: float) -> str:
        if dry_run:
            done = f"{self.delivered} would be delivered ({self.events} events, {self.settled} settlements)"
        else:
            done = f"{self.delivered} delivered and removed ({self.events} events sent, {self.settled} reservations settled)"
        return (
            f"redrive{' (dry run)' if dry_run else ''}: {self.objects} failure records, {self.records} stream "
            f"records: {done}, {self.kept} kept, {self.invalid} not failure records (left alone); {seconds:.1f} s"
        )

    @property
    def exit_status(self) -> int:
        return 1 if self.kept or self.invalid else 0


def failure_keys(s3: Any, bucket: str) -> list[str]:
    """The failure records in the bucket, oldest first."""
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        objects += page.get("Contents") or []
    objects.sort(key=lambda item: (item["LastModified"], item["Key"]))
    return [item["Key"] for item in objects]


def consumer_parts(stage: Stage) -> tuple[Any, Any]:
    """The stream consumer's publisher and reservation keeper, built by `orders.wiring` as in the function,
    from this stage's settings and credentials."""
    from orders import wiring

    os.environ.update(stage.function_environment())
    wiring.reset()
    return wiring.publisher(), wiring.reservation_keeper()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops redrive", description=__doc__.split("\n\n")[0])
    add_stage_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="list what would be sent; change nothing")
    parser.add_argument(
        "--rate", type=float, default=200.0, help="at most this many events a second (default %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        stage = stage_from(args, ROLE)
        bucket = stage.output("FailedBatchBucketName")
        table_arn = stage.table_arn
        s3 = stage.client("s3")
        keys = failure_keys(s3, bucket)
    except StageError as error:
        say(f"error: {error}")
        return 2
    except Exception as error:  # noqa: BLE001 - botocore's errors, said in one line
        say(f"error: cannot list the failed-batch bucket: {error}")
        return 2
    say(f"{len(keys)} failure record{'s' if len(keys) != 1 else ''} in s3://{bucket}/{PREFIX}")
    parts = None if args.dry_run else consumer_parts(stage)
    rate = RateLimit(args.rate)
    started = time.monotonic()
    totals = Totals(objects=len(keys))
    progress = Progress("redrive", len(keys))
    try:
        for key in keys:
            redrive_one(key, s3, bucket, table_arn, totals=totals, progress=progress, parts=parts, rate=rate)
            progress.advance(note=key.rsplit("/", 1)[-1])
    finally:
        progress.close()
    say(totals.summary(dry_run=args.dry_run, seconds=time.monotonic() - started))
    return totals.exit_status


def redrive_one(
    key: str,
    s3: Any,
    bucket: str,
    table_arn: str,
    *,
    totals: Totals,
    progress: Progress,
    parts: tuple[Any, Any] | None,
    rate: RateLimit,
) -> None:
    """One object: read and check it, then deliver it and remove it (or, `parts` None, say what would be
    done); what became of it goes into `totals` and one line of `progress`."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        failure = read_failure_record(key, body, table_arn)
    except NotAFailureRecord as error:
        totals.invalid += 1
        progress.line(f"ERROR {key}: {error}; left in the bucket")
        return
    except Exception as error:  # noqa: BLE001 - S3 refused or failed: say so, go on
        totals.kept += 1
        progress.line(f"ERROR {key}: cannot read it: {error}; left in the bucket")
        return
    totals.records += len(failure.records)
    if parts is None:
        planned = plan(failure)
        totals.delivered += not planned.unreadable
        totals.kept += bool(planned.unreadable)
        totals.events += len(planned.events)
        totals.settled += len(planned.settlements)
        progress.line(f"{key}: {len(failure.records)} records ({failure.condition})")
        for line in planned.lines():
            progress.line(line)
        return
    outcome = deliver(failure, *parts, rate)
    totals.events += outcome.events_sent
    totals.settled += outcome.settled
    if outcome.delivered:
        s3.delete_object(Bucket=bucket, Key=key)
        totals.delivered += 1
        progress.line(
            f"delivered {key}: {len(failure.records)} records, {outcome.events_sent} events sent, "
            f"{outcome.settled} reservations settled; removed"
        )
        return
    totals.kept += 1
    refused = f"; EventBridge refused {', '.join(outcome.events_refused)}" if outcome.events_refused else ""
    progress.line(f"KEPT {key}: {len(outcome.failures)} of {len(failure.records)} records failed{refused}")
    for line in outcome.failures:
        progress.line(f"  {line}")
