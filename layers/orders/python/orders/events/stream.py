"""The stream consumer's use case: turn a batch of table stream records into published events, keep the
inventory in step, and say which records must be retried. The function (functions/order_events) and
`make redrive` (ops/redrive.py, for batches the stream gave up on) both run exactly this."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from orders.events.bus import Pending
from orders.events.notifications import event_for


class Publisher(Protocol):
    def publish_in_order(self, pending: list[Pending]) -> set[str]: ...


class StreamRecordLike(Protocol):
    """What is read of a stream record (`orders.events.batch.StreamRecord`, as Powertools' `DynamoDBRecord`)."""

    @property
    def event_name(self) -> Any: ...

    @property
    def dynamodb(self) -> Any: ...


class Settler(Protocol):
    def settle(
        self, event_name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> str | None: ...


class EventNotPublished(Exception):
    """EventBridge did not accept this record's event (or an earlier one of the batch)."""


class UnreadableRecord(Exception):
    """A stream record without its change (`dynamodb`) or its `eventName`: a poison record."""


def record_settler(unpublished: set[str], keeper: Settler) -> Callable[[Any], str | None]:
    """The step for one record once the batch's events went out: a record whose event was not published
    fails (raises), any other has its reservation settled (release on cancel, commit on ship). Returns
    the settlement made, if any. The function calls it for each record (`orders.events.batch.partial_response`);
    redrive calls it for each record of a failed batch."""

    def settle(record: Any) -> str | None:
        change, event_name = record.dynamodb, record.event_name
        if change is None or event_name is None:
            raise UnreadableRecord(record.event_id)
        if change.sequence_number in unpublished:
            raise EventNotPublished(change.sequence_number)
        return keeper.settle(event_name.name, change.old_image, change.new_image)

    return settle


def unpublished_records(records: Iterable[StreamRecordLike], publisher: Publisher) -> set[str]:
    """Sequence numbers of the records whose event was not published (to be reported as failures).

    A record whose image cannot be read (a poison record) fails, and so does every record after it:
    the stream resumes from the first failure, so nothing behind it may be published first. After
    MaximumRetryAttempts the event source mapping hands it to the on-failure destination and moves on.
    """
    pending: list[Pending] = []
    keys = []
    poisoned_from: int | None = None
    for position, record in enumerate(records):
        keys.append(record.dynamodb.sequence_number)
        if poisoned_from is not None:
            continue
        try:
            # Powertools gives an enum whose *name* is INSERT/MODIFY/REMOVE (its values are ints).
            name = getattr(record.event_name, "name", record.event_name)
            event = event_for(name, record.dynamodb.old_image, record.dynamodb.new_image)
        except (KeyError, TypeError, ValueError, AttributeError):
            poisoned_from = position
            continue
        if event is not None:
            pending.append(Pending(key=keys[-1], event=event))
    failed = publisher.publish_in_order(pending)
    if poisoned_from is not None:
        failed |= set(keys[poisoned_from:])
    return failed
