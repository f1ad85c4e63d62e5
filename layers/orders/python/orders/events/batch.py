"""A DynamoDB stream batch read and answered as Powertools' batch utility does it
(`process_partial_response` with `BatchProcessor(EventType.DynamoDBStreams)` over its `DynamoDBRecord`s),
without importing it: that utility loads every event class Powertools ships (its `data_classes` package),
asyncio for its async processor and SQS, Kinesis and Kafka support, some 30 ms of the consumer's cold start,
for a loop over the records.

What is kept of it, exactly (tests/unit/test_stream_batch.py checks it against Powertools):
- each record read as `DynamoDBRecord` reads it: `event_id`, `event_name` (an enum whose name is
  INSERT/MODIFY/REMOVE, KeyError for another), `dynamodb` (None when absent) with `sequence_number` and
  `old_image`/`new_image` decoded by Powertools' own deserialiser (`{}` when absent);
- the record handler called once per record, in order, as `handler(record=...)`; a record whose handler
  raises is reported in `batchItemFailures` by its sequence number, the others are not;
- a batch without records, or one whose every record failed, raises Powertools' own `BatchProcessingError`
  (so the stream retries the batch whole): imported on that rare path only.

One addition: `partial_response(..., side_by_side=...)` handles the records of different table items
concurrently (as Powertools' async processor would, but keeping each item's records in order), for the same
answer: the consumer's records wait mostly on the inventory service.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Hashable, Mapping, Sequence
from enum import Enum
from functools import partial
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

logger = logging.getLogger(__name__)
_deserializer = TypeDeserializer()


class EventName(Enum):
    """Powertools' `DynamoDBRecordEventName`: the name is what a record says."""

    INSERT = 0
    MODIFY = 1
    REMOVE = 2


class StreamChange:
    """A record's `dynamodb` member (Powertools' `StreamRecord`)."""

    __slots__ = ("_data", "_images")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self._images: dict[str, dict[str, Any]] = {}

    def _image(self, key: str) -> dict[str, Any]:
        if key not in self._images:
            image = self._data.get(key) or {}
            self._images[key] = {name: _deserializer.deserialize(value) for name, value in image.items()}
        return self._images[key]

    @property
    def typed_keys(self) -> Mapping[str, Any] | None:
        """The item's key attributes as the stream wrote them (`{"PK": {"S": ...}}`, not deserialised)."""
        return self._data.get("Keys")

    @property
    def sequence_number(self) -> str | None:
        return self._data.get("SequenceNumber")

    @property
    def old_image(self) -> dict[str, Any]:
        return self._image("OldImage")

    @property
    def new_image(self) -> dict[str, Any]:
        return self._image("NewImage")


class StreamRecord:
    """One record of the batch (Powertools' `DynamoDBRecord`, what the consumer reads of it)."""

    __slots__ = ("_change", "_data")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        change = data.get("dynamodb")
        self._change = None if change is None else StreamChange(change)

    @property
    def event_id(self) -> str | None:
        return self._data.get("eventID")

    @property
    def event_name(self) -> EventName | None:
        name = self._data.get("eventName")
        return None if name is None else EventName[name]

    @property
    def dynamodb(self) -> StreamChange | None:
        return self._change


def records_of(event: Mapping[str, Any]) -> list[StreamRecord]:
    """The batch's records, in order (`event["Records"]`, as Powertools' `DynamoDBStreamEvent.records`)."""
    return [StreamRecord(record) for record in event["Records"]]


def _batch_failed(message: str, errors: list[Any] | None = None) -> Exception:
    from aws_lambda_powertools.utilities.batch.exceptions import (
        BatchProcessingError,
        UnexpectedBatchTypeError,
    )

    if errors is None:
        return UnexpectedBatchTypeError(message)
    return BatchProcessingError(msg=message, child_exceptions=errors)


def item_of(record: StreamRecord) -> Hashable:
    """The table item a record changed (its `Keys`), or the record itself when it names none (a poison record
    is a group of its own)."""
    change = record.dynamodb
    keys = None if change is None else change.typed_keys
    if not keys:
        return ("record", id(record))
    return tuple(sorted((name, tuple(sorted(value.items()))) for name, value in keys.items()))


def _handled_in_order(
    records: Sequence[StreamRecord], handler: Callable[..., Any]
) -> list[tuple[StreamRecord, Any]]:
    """`handler(record=...)` for each record, one after another; the records it raised on, with the error."""
    failures = []
    for record in records:
        try:
            handler(record=record)
        except Exception as error:  # noqa: BLE001 - a failed record is reported, never fatal to the others
            logger.debug("Record processing exception: %s:%s", type(error), error)
            failures.append((record, sys.exc_info()))
    return failures


def partial_response(
    records: Sequence[StreamRecord],
    handler: Callable[..., Any],
    *,
    side_by_side: Callable[[Sequence[Callable[[], Any]]], list[Any]] | None = None,
) -> dict[str, list[dict[str, str | None]]]:
    """`handler(record=...)` for each record; the records whose handler raised, as the stream's partial
    batch response (`{"batchItemFailures": [{"itemIdentifier": <sequence number>}]}`).

    With `side_by_side` (`orders.wiring.side_by_side`), the records of different table items are handled
    concurrently and each item's records one after another in stream order, as the stream orders them (per
    item, also across a shard's concurrent batches under a ParallelizationFactor). The answer is the same as
    handling them all in order: a record's outcome depends on its item's earlier records only."""
    if not records:
        raise _batch_failed(
            "Unexpected batch event type. Possible values are: SQS, KinesisDataStreams, DynamoDBStreams, Kafka"
        )
    if side_by_side is None:
        failures = _handled_in_order(records, handler)
    else:
        groups: dict[Hashable, list[StreamRecord]] = {}
        for record in records:
            groups.setdefault(item_of(record), []).append(record)
        handled = side_by_side([partial(_handled_in_order, group, handler) for group in groups.values()])
        position = {id(record): index for index, record in enumerate(records)}
        failures = sorted((f for group in handled for f in group), key=lambda f: position[id(f[0])])
    failed = [record for record, _ in failures]
    if failed and len(failed) == len(records):
        errors = [error for _, error in failures]
        raise _batch_failed(
            f"All records failed processing. {len(errors)} individual errors logged separately below.", errors
        )
    return {"batchItemFailures": [{"itemIdentifier": record.dynamodb.sequence_number} for record in failed]}  # type: ignore[union-attr]
