"""Table streams → functions: what Lambda's event source mapping does for a `Type: DynamoDB` event.

One thread per subscription reads the table's stream through the DynamoDB Streams API (DescribeTable →
LatestStreamArn, DescribeStream → shards, GetShardIterator, GetRecords every `interval` seconds) and
feeds each shard, in order, to the function through `local.aws.event_source_mapping` (a `ShardFeed` per
shard: filter, batch size, batching window, partial batch failures, bisection, retries, record age).
Records reach the function exactly as the stream API returns them (wire format, not boto3's parsed
types) plus `eventSourceARN`, as Lambda delivers them. A child shard is read once its parent is done.

A batch given up on becomes the record Lambda sends to the on-failure destination
(`requestContext`, `responseContext`, `DDBStreamBatchInfo`): to an SQS queue that record, to an S3 bucket
one object holding it and the invocation event (`payload`) under
`aws/lambda/<mapping uuid>/<shard id>/YYYY/MM/DD/...`, written with the consumer's role; each is kept for
`GET /_local/dead-letters`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from local.aws.event_source_mapping import (
    FailedBatch,
    InvocationAbandoned,
    ShardFeed,
    StreamMapping,
)
from local.runtime.workers import InvocationError, InvocationTimeout, Outcome, WorkerDied
from local.template.model import ACCOUNT, REGION, StreamSubscription

PAGE = 1000  # GetRecords' maximum
SHOWN_SEQUENCE_DIGITS = 6  # of a sequence number in a log line
DISCOVERY_INTERVAL = 10.0  # seconds between DescribeStream calls while nothing changes
# Retries go out at once, then (a batch still failing after this many invocations, e.g. with
# MaximumRetryAttempts left at its default, infinite) one per RETRY_INTERVAL: no busy loop.
FAST_ATTEMPTS = 10
RETRY_INTERVAL = 1.0


STREAM_RECORD_LOG_LIMIT = 2_000  # records kept for the console (each with its images)


@dataclass(frozen=True)
class Delivery:
    """One invocation a record was in: when it ended and what became of the record."""

    at: float  # epoch seconds
    outcome: str  # "ok", "reported failed", "function error", "timed out", "worker died", "given up"


@dataclass
class SeenRecord:
    """A stream record as the mapping read it, with what happened to it since (the console's view of it)."""

    function: str
    table: str
    shard_id: str
    sequence: str
    event_name: str
    keys: dict[str, Any]  # wire format (`{"PK": {"S": ...}}`), as are the images
    new_image: dict[str, Any] | None
    old_image: dict[str, Any] | None
    written_at: float | None  # ApproximateCreationDateTime as the stream gave it (epoch seconds)
    read_at: float  # when the mapping read it
    filtered_out: bool  # the mapping's FilterCriteria did not accept it: never delivered
    deliveries: list[Delivery] = field(default_factory=list)


class StreamRecordLog:
    """The last `limit` records the stream mappings read, oldest first, each with its deliveries. Written by
    the pollers' threads, read by the console's."""

    def __init__(self, limit: int = STREAM_RECORD_LOG_LIMIT) -> None:
        self._limit = limit
        self._records: OrderedDict[tuple[str, str], SeenRecord] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return self._limit

    def read(self, record: SeenRecord) -> None:
        with self._lock:
            self._records[(record.function, record.sequence)] = record
            while len(self._records) > self._limit:
                self._records.popitem(last=False)

    def delivered(self, function: str, outcomes: dict[str, str], at: float | None = None) -> None:
        """One invocation of `function` ended: sequence number -> what became of that record."""
        moment = time.time() if at is None else at
        with self._lock:
            for sequence, outcome in outcomes.items():
                seen = self._records.get((function, sequence))
                if seen is not None:
                    seen.deliveries.append(Delivery(moment, outcome))

    def records(self) -> list[SeenRecord]:
        """Copies, so that a reader never sees a delivery half added."""
        with self._lock:
            return [
                SeenRecord(**{**record.__dict__, "deliveries": list(record.deliveries)})
                for record in self._records.values()
            ]


def _short_sequence(sequence: str) -> str:
    return f"…{sequence[-SHOWN_SEQUENCE_DIGITS:]}" if len(sequence) > SHOWN_SEQUENCE_DIGITS + 2 else sequence


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, (int, float)):
        return None
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created_at(record: dict[str, Any]) -> float | None:
    created = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    return float(created) if isinstance(created, (int, float)) else None


def as_lambda_delivers(record: dict[str, Any], stream_arn: str | None) -> None:
    """A GetRecords record (wire format) made the record Lambda delivers, in place: plus `eventSourceARN`,
    and where moto's stream differs from DynamoDB's, DynamoDB's: `eventVersion` "1.1", and
    `ApproximateCreationDateTime` in whole epoch seconds ("rounded down to the closest second", the
    StreamRecord reference; moto has milliseconds)."""
    record["eventSourceARN"] = stream_arn
    record["eventVersion"] = "1.1"
    image = record.get("dynamodb") or {}
    if isinstance(image.get("ApproximateCreationDateTime"), float):
        image["ApproximateCreationDateTime"] = int(image["ApproximateCreationDateTime"])


def failure_record(
    subscription: StreamSubscription, shard_id: str, stream_arn: str, batch: FailedBatch
) -> dict[str, Any]:
    """The message Lambda sends to a stream mapping's on-failure destination (the records themselves are
    not in it: the batch info says where to read them)."""
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if batch.error is not None:
        response["functionError"] = "Unhandled"
    first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{subscription.function}",
            "condition": batch.condition,
            "approximateInvokeCount": batch.attempts,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": str(first["SequenceNumber"]),
            "endSequenceNumber": str(last["SequenceNumber"]),
            "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
            "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }


@dataclass
class _Shard:
    id: str
    parent: str | None
    feed: ShardFeed
    position: str  # where its first iterator starts: TRIM_HORIZON or LATEST
    iterator: str | None = None
    closed: bool = False  # the stream said there is nothing more after this shard's last record
    last_read: str | None = None  # sequence number of the last record read


@dataclass
class StreamStatus:
    state: str = "starting"
    stream_arn: str | None = None
    records_read: int = 0
    error: str | None = None
    errors: int = 0
    shards: dict[str, _Shard] = field(default_factory=dict)


class StreamPoller:
    """Polls one subscription's table stream and feeds its function (one thread)."""

    def __init__(
        self,
        subscription: StreamSubscription,
        dynamodb_endpoint: str,
        invoke: Callable[[dict], Outcome],
        on_failure: Callable[[StreamSubscription, str, str, FailedBatch], None],
        say: Callable[[str], None],
        *,
        interval: float = 0.2,
        forget_iterator: Callable[[str], None] | None = None,
        stream_credentials: Callable[[], Any] | None = None,
        record_log: StreamRecordLog | None = None,
    ) -> None:
        """`stream_credentials`: the consumer's role (what Lambda's event source mapping reads the stream
        with); None: the stack's own credentials. Finding the stream's ARN is the stack's part (what
        CloudFormation resolves at deploy), so it keeps the stack's credentials. `record_log`: where each
        record read, and each delivery of it, is kept (the console's)."""
        from local.aws.moto_server import aws_client

        self.subscription = subscription
        self._dynamodb = aws_client("dynamodb", dynamodb_endpoint)
        self._streams = aws_client("dynamodbstreams", dynamodb_endpoint, stream_credentials)
        # Records as the wire carries them (what Lambda passes on), not boto3's datetimes and bytes.
        self._streams.meta.events.register("after-call.dynamodbstreams.GetRecords", _wire_records)
        self._invoke_function = invoke
        self._on_failure = on_failure
        self._say = say
        self._interval = interval
        self._forget_iterator = forget_iterator or (lambda iterator: None)
        self._record_log = record_log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current_shard = ""
        self._finished: set[str] = set()  # shards read to their end and fed
        self._discovered = False
        self.mapping = StreamMapping(subscription.config, self._invoke, self._failed)
        self.status = StreamStatus()
        self._lock = threading.Lock()

    # -------------------------------------------------------------------------------- lifecycle
    def start(self) -> StreamPoller:
        self._thread = threading.Thread(
            target=self._run, name=f"stream-{self.subscription.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, wait: bool = True) -> None:
        """Stop polling; an invocation in progress ends with its worker (the pools are closed next)."""
        self._stop.set()
        if wait:
            self.join()

    def join(self, timeout: float = 10) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            status = self.status
            return {
                "function": self.subscription.function,
                "event": self.subscription.event,
                "table": self.subscription.table_name,
                "streamArn": status.stream_arn,
                "state": status.state,
                "error": status.error,
                "recordsRead": status.records_read,
                "invocations": self.mapping.stats.invocations,
                "retries": self.mapping.stats.retries,
                "sentToDestination": len(self.mapping.stats.sent_to_destination),
                "shards": [
                    {"shardId": shard.id, "lastRead": shard.last_read, "pending": shard.feed.pending}
                    for shard in status.shards.values()
                ],
            }

    # -------------------------------------------------------------------------------- the loop
    def _run(self) -> None:
        next_discovery = 0.0
        while not self._stop.is_set():
            busy = False
            try:
                if self.status.stream_arn is None:
                    self._find_stream()
                    next_discovery = 0.0
                if time.monotonic() >= next_discovery:
                    self._discover()
                    next_discovery = time.monotonic() + DISCOVERY_INTERVAL
                for shard in self._eligible_shards():
                    busy |= self._read(shard)
                    self._feed(shard)
                    if shard.closed and not shard.feed.pending:
                        with self._lock:
                            del self.status.shards[shard.id]
                        self._finished.add(shard.id)
                        next_discovery = 0.0  # its children are next
                self._set_state("polling")
            except InvocationAbandoned:
                break
            except Exception as error:  # noqa: BLE001 - say it once, keep trying
                if self._stop.is_set():
                    break
                self._problem(error)
                self._stop.wait(1.0)
                continue
            if not busy:
                self._stop.wait(self._interval)
        self._set_state("stopped")

    def _set_state(self, state: str) -> None:
        with self._lock:
            if self.status.state != state and state == "polling" and self.status.error:
                self._say(
                    f"stream {self.subscription.table_name} -> {self.subscription.function}: polling again"
                )
                self.status.error = None
            self.status.state = state

    def _problem(self, error: Exception) -> None:
        text = _reason(error)
        with self._lock:
            self.status.errors += 1
            repeated = text == self.status.error
            self.status.error = text
            self.status.state = "retrying"
        if not repeated:
            self._say(
                f"stream {self.subscription.table_name} -> {self.subscription.function}: {text} (retrying)"
            )

    def _find_stream(self) -> None:
        table = self._dynamodb.describe_table(TableName=self.subscription.table_name)["Table"]
        arn = table.get("LatestStreamArn")
        if not arn:
            raise RuntimeError(f"table {self.subscription.table_name} has no stream")
        with self._lock:
            self.status.stream_arn = arn

    def _discover(self) -> None:
        """Add the stream's shards not seen yet: at start from the mapping's StartingPosition (LATEST skips
        closed shards), later ones (new children) from their beginning."""
        shards: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            arguments: dict[str, Any] = {"StreamArn": self.status.stream_arn}
            if start:
                arguments["ExclusiveStartShardId"] = start
            description = self._streams.describe_stream(**arguments)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            start = description.get("LastEvaluatedShardId")
            if not start:
                break
        at_start = not self._discovered
        starting = self.subscription.config.starting_position if at_start else "TRIM_HORIZON"
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in self.status.shards or shard_id in self._finished:
                continue
            if (
                at_start
                and starting == "LATEST"
                and "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            ):
                self._finished.add(shard_id)  # LATEST: nothing of what was already closed
                continue
            with self._lock:
                self.status.shards[shard_id] = _Shard(
                    shard_id, shard.get("ParentShardId"), self.mapping.shard(), starting
                )
        self._discovered = True

    def _eligible_shards(self) -> list[_Shard]:
        """Open shards whose parent (if known) is done: a shard's children come after all of it."""
        with self._lock:
            shards = list(self.status.shards.values())
        active = {shard.id for shard in shards}
        return [shard for shard in shards if shard.parent not in active]

    def _read(self, shard: _Shard) -> bool:
        """One GetRecords call; True if more is waiting (a full page, or a new iterator is needed)."""
        if shard.closed:
            return False
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        try:
            page = self._streams.get_records(ShardIterator=shard.iterator, Limit=PAGE)
        except Exception as error:
            code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code")
            if code in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                shard.iterator = None  # a new one from the last record read
                return True
            raise
        self._forget_iterator(shard.iterator)
        shard.iterator = page.get("NextShardIterator")
        records = page.get("Records") or []
        if records:
            arn = self.status.stream_arn
            # Before as_lambda_delivers rounds it down to the second: the console orders writes by it.
            written = [_created_at(record) for record in records]
            for record in records:
                as_lambda_delivers(record, arn)
            if self._record_log is not None:
                self._keep(shard, records, written)
            with self._lock:
                shard.last_read = str(records[-1]["dynamodb"]["SequenceNumber"])
                self.status.records_read += len(records)
            shard.feed.add(records)
        if shard.iterator is None:
            shard.closed = True
        return len(records) >= PAGE

    def _keep(self, shard: _Shard, records: list[dict[str, Any]], written: list[float | None]) -> None:
        """Each record read into the record log, with when it was written and whether the mapping's
        filter lets it through."""
        assert self._record_log is not None
        read_at = time.time()
        for record, written_at in zip(records, written, strict=True):
            image = record.get("dynamodb") or {}
            self._record_log.read(
                SeenRecord(
                    function=self.subscription.function,
                    table=self.subscription.table_name,
                    shard_id=shard.id,
                    sequence=str(image.get("SequenceNumber")),
                    event_name=str(record.get("eventName")),
                    keys=image.get("Keys") or {},
                    new_image=image.get("NewImage"),
                    old_image=image.get("OldImage"),
                    written_at=written_at,
                    read_at=read_at,
                    filtered_out=not self.subscription.config.accepts(record),
                )
            )

    def _log_deliveries(
        self, records: list[dict[str, Any]], outcome: str, failed: Collection[str] = ()
    ) -> None:
        if self._record_log is None:
            return
        sequences = [str(record["dynamodb"]["SequenceNumber"]) for record in records]
        self._record_log.delivered(
            self.subscription.function,
            {sequence: ("reported failed" if sequence in failed else outcome) for sequence in sequences},
        )

    def _iterator(self, shard: _Shard) -> str:
        arguments: dict[str, Any] = {"StreamArn": self.status.stream_arn, "ShardId": shard.id}
        if shard.last_read is not None:
            arguments.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_read)
        else:
            arguments["ShardIteratorType"] = shard.position
        return self._streams.get_shard_iterator(**arguments)["ShardIterator"]

    def _feed(self, shard: _Shard) -> None:
        self._current_shard = shard.id
        turn_ends = time.monotonic() + 2.0  # then the other shards' turn (and fresh reads)
        while not self._stop.is_set() and shard.feed.ready() and time.monotonic() < turn_ends:
            if shard.feed.attempts >= FAST_ATTEMPTS and self._stop.wait(RETRY_INTERVAL):
                break
            shard.feed.step()

    # -------------------------------------------------------------------------------- invocations
    def _invoke(self, event: dict[str, Any]) -> Any:
        if self._stop.is_set():
            raise InvocationAbandoned()
        records = event["Records"]
        described = (
            f"stream {self.subscription.table_name} -> {self.subscription.function}: "
            f"{len(records)} record{'s' if len(records) != 1 else ''} "
            f"({_short_sequence(records[0]['dynamodb']['SequenceNumber'])}"
            + (f"..{_short_sequence(records[-1]['dynamodb']['SequenceNumber'])}" if len(records) > 1 else "")
            + ")"
        )
        try:
            outcome = self._invoke_function(event)
        except InvocationTimeout:
            self._say(f"{described} -> timed out")
            self._log_deliveries(records, "timed out")
            raise
        except WorkerDied:
            if self._stop.is_set():
                raise InvocationAbandoned() from None
            self._say(f"{described} -> the worker died")
            self._log_deliveries(records, "worker died")
            raise
        except InvocationError as error:
            self._say(
                f"{described} -> function error {str(error).splitlines()[0] if str(error) else error!r}"
            )
            self._log_deliveries(records, "function error")
            raise
        state = f"cold, init {outcome.init_ms:.0f} ms" if outcome.cold and outcome.init_ms else "warm"
        response = json.loads(outcome.payload)
        failures = response.get("batchItemFailures") if isinstance(response, dict) else None
        result = f"{len(failures)} item failure{'s' if len(failures) != 1 else ''}" if failures else "ok"
        self._say(f"{described} -> {result} {outcome.duration_ms:.0f} ms {state}")
        self._log_deliveries(records, "ok", _reported_failures(records, failures))
        return response

    def _failed(self, batch: list[dict]) -> None:
        failed = batch if isinstance(batch, FailedBatch) else FailedBatch(batch, 0)
        self._log_deliveries(failed, "given up: sent to the on-failure destination")
        self._on_failure(self.subscription, self._current_shard, self.status.stream_arn or "", failed)


def _reported_failures(records: list[dict[str, Any]], failures: Any) -> set[str]:
    """The sequence numbers a function's batchItemFailures sends back: from its first failure on (Lambda
    retries from the lowest one reported; one naming no record of the batch fails all of it)."""
    if not failures:
        return set()
    sequences = [str(record["dynamodb"]["SequenceNumber"]) for record in records]
    named = {str(item.get("itemIdentifier")) if isinstance(item, dict) else None for item in failures}
    if not named <= set(sequences):
        return set(sequences)
    return set(sequences[min(sequences.index(sequence) for sequence in named) :])


def _wire_records(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
    if (
        "Records" in parsed
        and getattr(http_response, "status_code", HTTPStatus.INTERNAL_SERVER_ERROR)
        < HTTPStatus.MULTIPLE_CHOICES
    ):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            parsed["Records"] = json.loads(http_response.content)["Records"]


def _reason(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return f"{response['Error'].get('Code')}: {response['Error'].get('Message')}"
    return f"{type(error).__name__}: {error}"


def failed_batch_key(mapping_uuid: str, shard_id: str, when: datetime | None = None) -> str:
    """Where Lambda writes a failed batch in an S3 destination:
    `aws/lambda/<mapping uuid>/<shard id>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random uuid>` (UTC)."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return f"aws/lambda/{mapping_uuid}/{shard_id}/{when:%Y/%m/%d}/{when:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"


def s3_invocation_record(record: dict[str, Any], batch: list[dict[str, Any]]) -> dict[str, Any]:
    """The object Lambda writes to an S3 destination: the invocation record plus `payload`, the whole
    invocation event (the records as the function received them) as a JSON string."""
    return {**record, "payload": json.dumps({"Records": list(batch)}, separators=(",", ":"))}


def bucket_of(arn: str) -> str | None:
    """The bucket an S3 ARN names (`arn:aws:s3:::<bucket>`)."""
    prefix = "arn:aws:s3:::"
    return arn[len(prefix) :].split("/", 1)[0] or None if arn.startswith(prefix) else None


class FailureDestinations:
    """Sends given-up batches to their on-failure destinations (the template's SQS queues: Lambda's record;
    S3 buckets: one object per batch, records included) and keeps them for `GET /_local/dead-letters`. A
    write that fails loses the batch, as on AWS, and counts for DestinationDeliveryFailures."""

    def __init__(
        self,
        endpoint: str | None,
        queues: dict[str, str],
        log: Any,
        say: Callable[[str], None],
        *,
        credentials_for: Callable[[str], Any] | None = None,
        alarms: Any = None,
    ) -> None:
        """`credentials_for(function)`: the credentials Lambda sends a function's failures with (its
        role's); None: the stack's own. `alarms`: a local.aws.alarms.Alarms told of each write and failure."""
        self._endpoint = endpoint
        self._credentials_for = credentials_for or (lambda function: None)
        self._clients: dict[tuple[str, str], Any] = {}
        self._queues = queues  # queue ARN → URL
        self._log = log
        self._say = say
        self._alarms = alarms
        self._admin_s3: Any = None

    def _client(self, service: str, function: str) -> Any:
        from local.aws.moto_server import aws_client

        if (service, function) not in self._clients:
            self._clients[(service, function)] = aws_client(
                service, self._endpoint, self._credentials_for(function)
            )
        return self._clients[(service, function)]

    def __call__(
        self, subscription: StreamSubscription, shard_id: str, stream_arn: str, batch: FailedBatch
    ) -> None:
        record = failure_record(subscription, shard_id, stream_arn, batch)
        destination = subscription.destination
        bucket = bucket_of(destination or "")
        if bucket is not None:
            entry, note, failed = self._to_bucket(subscription, shard_id, bucket, record, batch)
        else:
            entry, note, failed = self._to_queue(subscription, record)
        if failed and self._alarms is not None:
            changes = self._alarms.delivery_failed(subscription.function)
            note += "".join(f"; alarm {change}" for change in changes)
        info = record["DDBStreamBatchInfo"]
        self._say(
            f"[dead-letter] {subscription.function} gave up on {len(batch)} record"
            f"{'s' if len(batch) != 1 else ''} ({info['startSequenceNumber']}..{info['endSequenceNumber']}, "
            f"{batch.condition} after {batch.attempts} invocation{'s' if batch.attempts != 1 else ''}){note}"
        )
        self._log.append({"function": subscription.function, "destination": destination, **entry})

    def _to_queue(self, subscription: StreamSubscription, record: dict[str, Any]) -> tuple[dict, str, bool]:
        destination = subscription.destination
        url = self._queues.get(destination or "")
        message_id = None
        failed = False
        if url and self._endpoint:
            try:
                sqs = self._client("sqs", subscription.function)
                message_id = sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))["MessageId"]
                note = f" -> {destination.rsplit(':', 1)[-1]}"
            except Exception as error:  # noqa: BLE001
                note, failed = f" (not sent to {destination}: {_reason(error)}; lost, as on AWS)", True
        elif destination:
            note, failed = f" (not sent: {destination} is not a queue of this template)", True
        else:
            note = " (no on-failure destination: dropped, as Lambda drops it)"
        return {"queueUrl": url, "messageId": message_id, "message": record}, note, failed

    def _to_bucket(
        self,
        subscription: StreamSubscription,
        shard_id: str,
        bucket: str,
        record: dict[str, Any],
        batch: FailedBatch,
    ) -> tuple[dict, str, bool]:
        message = s3_invocation_record(record, batch)
        key = failed_batch_key(subscription.mapping_uuid, shard_id)
        error = None
        try:
            if not self._endpoint:
                raise RuntimeError("no S3 endpoint")
            self._client("s3", subscription.function).put_object(
                Bucket=bucket,
                Key=key,
                Body=json.dumps(message).encode(),
                ContentType="application/json",
            )
        except Exception as problem:  # noqa: BLE001
            error = _reason(problem)
        if error is None:
            note = f" -> s3://{bucket}/{key}"
            if self._alarms is not None:
                note += "".join(f"; alarm {change}" for change in self._alarms.object_written(bucket, key))
        else:
            note = f" (not written to s3://{bucket}: {error}; lost, as on AWS)"
        entry = {"bucket": bucket, "key": key, "written": error is None, "error": error, "message": message}
        return entry, note, error is not None

    def present(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The log's entries, each S3 one with `present`: whether its object is in the bucket now (a
        redrive deletes what it delivered), asked with the stack's own credentials."""
        return [
            {**entry, "present": bool(entry.get("written")) and self._exists(entry)}
            if "bucket" in entry
            else entry
            for entry in entries
        ]

    def _exists(self, entry: dict[str, Any]) -> bool:
        from local.aws.moto_server import aws_client

        if self._admin_s3 is None:
            self._admin_s3 = aws_client("s3", self._endpoint)
        try:
            self._admin_s3.head_object(Bucket=entry["bucket"], Key=entry["key"])
        except Exception:  # noqa: BLE001 - 404 (deleted: a delete marker) or the bucket gone
            return False
        return True
