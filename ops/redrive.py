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
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ops.cli import Progress, RateLimit, add_stage_arguments, rate_refusal, say, stage_from
from ops.stage import Stage, StageError

ROLE = "EventsRedriveRole"
PREFIX = "aws/lambda/"
# Failure records delivered together (their events share PutEvents calls; each is still removed only once
# all of its own records succeeded): an outage leaves single-record objects behind, after bisection.
GROUP_OBJECTS = 10
GROUP_RECORDS = 100
STREAM_EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")


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
        # What Lambda writes always has both: without them the consumer's code cannot even name the record.
        if record.get("eventName") not in STREAM_EVENT_NAMES:
            raise NotAFailureRecord(
                f"a record whose eventName is {record.get('eventName')!r}, not a stream's"
            )
        if not isinstance(record.get("dynamodb"), dict) or "SequenceNumber" not in record["dynamodb"]:
            raise NotAFailureRecord("a record without its change (dynamodb.SequenceNumber)")
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
    refusal: str | None = None  # why (EventBridge's error code and message), when it said
    settled: int = 0
    failures: list[str] = field(default_factory=list)  # one line per record that did not succeed

    @property
    def delivered(self) -> bool:
        return not self.failures


class _Collect:
    """A publisher that publishes nothing: it keeps what the consumer's code hands it."""

    def __init__(self) -> None:
        self.pending: list[Any] = []

    def publish_in_order(self, pending: list[Any]) -> set[str]:
        self.pending.extend(pending)
        return set()


def _batch(failure: FailureRecord) -> tuple[list[Any], list[Any], set[str]]:
    """A failure record as the consumer reads a batch: its records (`orders.events.batch`), the events
    they stand for (in order), and the sequence numbers of the records that cannot be read (poison)."""
    from orders.events.batch import records_of
    from orders.events.stream import unpublished_records

    records: list[Any] = records_of({"Records": failure.records})
    collect = _Collect()
    unreadable = unpublished_records(records, collect)
    return records, collect.pending, unreadable


def deliver(failures: Sequence[FailureRecord], publisher: Any, keeper: Any, rate: RateLimit) -> list[Outcome]:
    """Publish the events of a group of failure records as the consumer publishes a batch's (in order, 10
    entries a call, never two of one order in one call), then settle each record's reservations; one
    Outcome per failure record. A group fills the calls that single-record failure records (what an
    outage leaves behind, after bisection) would send one entry at a time."""
    from orders.events.bus import Pending
    from orders.events.stream import EventNotPublished, record_settler

    batches = [_batch(failure) for failure in failures]
    everything = [
        Pending(key=f"{index}/{item.key}", event=item.event)
        for index, (_, pending, _) in enumerate(batches)
        for item in pending
    ]
    rate.take(len(everything))
    unpublished = publisher.publish_in_order(everything) if everything else set()
    outcomes = []
    for index, (records, pending, unreadable) in enumerate(batches):
        refused = [item for item in pending if f"{index}/{item.key}" in unpublished]
        outcome = Outcome(
            events_sent=len(pending) - len(refused),
            events_refused=[item.event.detail["eventId"] for item in refused],
            refusal=getattr(publisher, "last_refusal", None) if refused else None,
        )
        settle = record_settler({item.key for item in refused} | unreadable, keeper)
        for record in records:
            sequence = record.dynamodb.sequence_number if record.dynamodb else record.event_id
            try:
                if settle(record) is not None:
                    outcome.settled += 1
            except EventNotPublished:
                outcome.failures.append(f"record {sequence}: its event was not published")
            except Exception as error:  # noqa: BLE001 - any failure keeps the record for the next run
                outcome.failures.append(f"record {sequence}: {type(error).__name__}: {error}")
        outcomes.append(outcome)
    return outcomes


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
    from orders.events.reservations import settlement_for

    records, collected, unpublished = _batch(failure)
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
        "--json", action="store_true", help="also print the summary as one JSON line on stdout"
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="at most this many events a second (default %(default)s)"
    )
    args = parser.parse_args(argv)
    if refusal := rate_refusal(args.rate, "events"):
        say(f"error: {refusal}")
        return 2
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
    started = time.monotonic()  # from the listing: building the consumer's clients is part of the work
    parts = None if args.dry_run else consumer_parts(stage)
    rate = RateLimit(args.rate)
    totals = Totals(objects=len(keys))
    progress = Progress("redrive", len(keys))
    report = Report(s3, bucket, totals, progress)
    group: list[FailureRecord] = []
    stopped = None
    try:
        for key in keys:
            failure = report.read(key, table_arn)
            progress.advance(note=key.rsplit("/", 1)[-1])
            if failure is None:
                continue
            if parts is None:
                report.planned(failure)
                continue
            group.append(failure)
            if len(group) == GROUP_OBJECTS or sum(len(f.records) for f in group) >= GROUP_RECORDS:
                report.delivered(group, deliver(group, *parts, rate))
                group = []
        if group and parts is not None:
            report.delivered(group, deliver(group, *parts, rate))
    except KeyboardInterrupt:
        stopped = "interrupted"
    except (BotoCoreError, ClientError) as error:  # S3 refusing a read or a delete: said in one line
        stopped = f"stopped by AWS: {error}"
    finally:
        progress.close()
    seconds = time.monotonic() - started
    say(totals.summary(dry_run=args.dry_run, seconds=seconds))
    if args.json:
        print(json.dumps({**asdict(totals), "seconds": round(seconds, 3)}), flush=True)
    if stopped:
        # Every object not removed is still in the bucket: delivered, it was removed; else it is left.
        say(f"redrive: {stopped}; the objects still in the bucket are there for the same command to deliver")
        return 130 if stopped == "interrupted" else 1
    return totals.exit_status


class Report:
    """What became of each object: counted in `totals`, one line (or a few) in `progress`; a delivered
    object is removed here, and only here."""

    def __init__(self, s3: Any, bucket: str, totals: Totals, progress: Progress) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._totals = totals
        self._progress = progress

    def read(self, key: str, table_arn: str) -> FailureRecord | None:
        """The object's failure record, checked; None (said, counted) when it is not one or unreadable."""
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            failure = read_failure_record(key, body, table_arn)
        except NotAFailureRecord as error:
            self._totals.invalid += 1
            self._progress.line(f"ERROR {key}: {error}; left in the bucket")
            return None
        except Exception as error:  # noqa: BLE001 - S3 refused or failed: say so, go on
            self._totals.kept += 1
            self._progress.line(f"ERROR {key}: cannot read it: {error}; left in the bucket")
            return None
        self._totals.records += len(failure.records)
        return failure

    def planned(self, failure: FailureRecord) -> None:
        planned = plan(failure)
        self._totals.delivered += not planned.unreadable
        self._totals.kept += bool(planned.unreadable)
        self._totals.events += len(planned.events)
        self._totals.settled += len(planned.settlements)
        self._progress.line(f"{failure.key}: {len(failure.records)} records ({failure.condition})")
        for line in planned.lines():
            self._progress.line(line)

    def delivered(self, failures: Sequence[FailureRecord], outcomes: Sequence[Outcome]) -> None:
        for failure, outcome in zip(failures, outcomes, strict=True):
            self._totals.events += outcome.events_sent
            self._totals.settled += outcome.settled
            records = len(failure.records)
            if outcome.delivered:
                self._s3.delete_object(Bucket=self._bucket, Key=failure.key)
                self._totals.delivered += 1
                self._progress.line(
                    f"delivered {failure.key}: {records} records, {outcome.events_sent} events sent, "
                    f"{outcome.settled} reservations settled; removed"
                )
                continue
            self._totals.kept += 1
            why = f" ({outcome.refusal})" if outcome.refusal else ""
            refused = (
                f"; EventBridge refused {', '.join(outcome.events_refused)}{why}"
                if outcome.events_refused
                else ""
            )
            self._progress.line(
                f"KEPT {failure.key}: {len(outcome.failures)} of {records} records failed{refused}"
            )
            for line in outcome.failures:
                self._progress.line(f"  {line}")
