"""The stream consumer's use case: turn a batch of table stream records into published events and say
which records must be retried."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from orders.events.bus import Pending
from orders.events.notifications import event_for


class Publisher(Protocol):
    def publish_in_order(self, pending: list[Pending]) -> set[str]: ...


class StreamRecordLike(Protocol):
    """What is read of Powertools' `DynamoDBRecord`."""

    @property
    def event_name(self) -> Any: ...

    @property
    def dynamodb(self) -> Any: ...


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
