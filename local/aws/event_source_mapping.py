"""A DynamoDB-stream event source mapping, emulated: how Lambda feeds one shard's records to a function.

Used by the local stack and by the tests, configured from the template's `Type: DynamoDB` event:
- `FilterCriteria`: only records matching a pattern are sent (the rest are dropped, as Lambda does).
- `BatchSize`: at most that many records per invocation, in shard order.
- `ReportBatchItemFailures`: the checkpoint moves to the lowest reported sequence number; everything
  from there is sent again (so records after a failure are redelivered even if they succeeded).
- `BisectBatchOnFunctionError`: a batch that fails without progress is split in half before the retry
  counts, so one poison record ends up alone in its batch; splits do not count as retries.
- `MaximumRetryAttempts`: a batch that still fails after that many retries goes to the on-failure
  destination (as Lambda does: the batch's records, not just the first) and the mapping moves past it.
The retry counter starts again whenever the checkpoint moves forward.

`StreamMapping.process(records)` feeds a whole list at once (tests). The local stack polls a live stream
and feeds it piece by piece through `StreamMapping.shard()` (a `ShardFeed`: `add` what was read, `ready`
says whether a batch is due, `step` makes one invocation), with two more settings that only make sense
over time:
- `MaximumBatchingWindowInSeconds`: records wait until the batch is full or the oldest has waited that
  long (retries are not held back).
- `MaximumRecordAgeInSeconds`: records older than that go to the on-failure destination unprocessed.
Not emulated: parallelisation factor, tumbling windows.

The settings themselves (`StreamMappingConfig`: the event's properties, and which records its
`FilterCriteria` lets through) are read from the template in local/template/model.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.template.model import INFINITE_RETRIES, StreamMappingConfig

RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


class InvocationAbandoned(Exception):
    """Raised by an `invoke` callable when the invocation did not take place or its outcome is unknown (the
    stack is stopping): not a function error, so nothing is counted and the batch stays where it is."""


class FailedBatch(list):
    """The records handed to the on-failure destination (a plain list of records, as before), with what
    Lambda tells the destination about them."""

    def __init__(
        self,
        records: Sequence[dict],
        attempts: int,
        error: BaseException | None = None,
        condition: str = RETRY_ATTEMPTS_EXHAUSTED,
    ) -> None:
        super().__init__(records)
        self.attempts = attempts  # invocations of these records (approximateInvokeCount)
        self.error = error  # the function's last error; None when it reported item failures
        self.condition = condition


@dataclass
class StreamMappingStats:
    invocations: int = 0
    retries: int = 0
    sent_to_destination: list[list[dict]] = field(default_factory=list)


def _sequence(record: Mapping[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def _created_at(record: Mapping[str, Any]) -> float | None:
    value = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    return float(value) if isinstance(value, (int, float)) else None


class StreamMapping:
    def __init__(
        self,
        config: StreamMappingConfig,
        invoke: Callable[[dict], Any],
        on_failure: Callable[[list[dict]], None] = lambda records: None,
    ) -> None:
        self.config = config
        self._invoke = invoke
        self._on_failure = on_failure
        self.stats = StreamMappingStats()
        self.last_error: BaseException | None = None  # of the last invocation; None if it returned

    def _first_failure(self, batch: Sequence[dict]) -> int | None:
        """Index in `batch` of the checkpoint after one invocation, or None when the batch succeeded."""
        try:
            response = self._invoke({"Records": list(batch)})
        except InvocationAbandoned:
            raise
        except Exception as error:  # noqa: BLE001 - a function error fails the whole batch, as in Lambda
            self.stats.invocations += 1
            self.last_error = error
            return 0
        self.stats.invocations += 1
        self.last_error = None
        if not self.config.report_batch_item_failures or not isinstance(response, Mapping):
            return None
        failures = response.get("batchItemFailures") or []
        if not failures:
            return None
        positions = {str(record["dynamodb"]["SequenceNumber"]): index for index, record in enumerate(batch)}
        indexes = [positions.get(str(item.get("itemIdentifier"))) for item in failures]
        # An identifier that names no record of the batch makes Lambda treat the whole batch as failed.
        return 0 if any(index is None for index in indexes) else min(indexes)

    def _give_up(self, batch: FailedBatch) -> None:
        self.stats.sent_to_destination.append(list(batch))
        self._on_failure(batch)

    def shard(self, clock: Callable[[], float] | None = None) -> ShardFeed:
        """A feed for one shard of a live stream (see ShardFeed)."""
        return ShardFeed(self, clock)

    def process(self, records: Sequence[dict]) -> None:
        """Feed one shard's records, in order, until every record succeeded or was given up on."""
        feed = ShardFeed(self, clock=None)
        feed.add(records)
        while feed.pending:
            feed.step()


class ShardFeed:
    """One shard's records on their way to the function, fed as they are read from the stream.

    `add(records)` queues the records the filter accepts (in sequence order; the caller adds each record
    once, in shard order); `ready()` says whether a batch is due (full, or its oldest record has waited
    out the batching window, or a failed batch is being retried); `step()` makes one invocation and moves
    the checkpoint as Lambda would. With a `clock` (epoch seconds), records older than
    MaximumRecordAgeInSeconds are given up on before they are sent.
    """

    def __init__(self, mapping: StreamMapping, clock: Callable[[], float] | None = time.time) -> None:
        self._mapping = mapping
        self._config = mapping.config
        self._clock = clock
        self._records: list[dict] = []  # accepted, not yet behind the checkpoint
        self._size = self._config.batch_size
        self._retries = 0
        self._attempts = 0  # invocations since the checkpoint last moved
        self._waiting_since: float | None = None  # monotonic time the oldest queued record arrived

    @property
    def pending(self) -> int:
        return len(self._records)

    @property
    def retrying(self) -> bool:
        return self._attempts > 0

    @property
    def attempts(self) -> int:
        """Invocations since the checkpoint last moved (bisections and retries of the current records)."""
        return self._attempts

    def add(self, records: Sequence[dict]) -> int:
        """Queue the records the filter accepts; how many it accepted."""
        accepted = sorted((record for record in records if self._config.accepts(record)), key=_sequence)
        if accepted and not self._records:
            self._waiting_since = time.monotonic()
        self._records.extend(accepted)
        return len(accepted)

    def ready(self, now: float | None = None) -> bool:
        if not self._records:
            return False
        if self.retrying or len(self._records) >= self._config.batch_size:
            return True
        waited = (time.monotonic() if now is None else now) - (self._waiting_since or 0.0)
        return waited >= self._config.maximum_batching_window

    def next_batch(self) -> list[dict]:
        return self._records[: self._size]

    def step(self) -> None:
        """One invocation with the next batch (or, first, giving up on records that are too old)."""
        if not self._records:
            return
        if self._expire():
            return
        config, mapping = self._config, self._mapping
        batch = self._records[: self._size]
        checkpoint = mapping._first_failure(batch)
        self._attempts += 1
        if checkpoint is None:
            self._advance(len(batch))
            self._size = config.batch_size
            return
        if checkpoint > 0:
            self._advance(checkpoint)
            return
        if config.bisect_on_function_error and len(batch) > 1:
            self._size = max(1, len(batch) // 2)
            return
        self._retries += 1
        mapping.stats.retries += 1
        limit = config.maximum_retry_attempts
        if limit != INFINITE_RETRIES and self._retries > limit:
            failed = FailedBatch(batch, self._attempts, mapping.last_error)
            self._advance(len(batch))
            self._size = config.batch_size
            mapping._give_up(failed)

    def _advance(self, count: int) -> None:
        del self._records[:count]
        self._retries = 0
        self._attempts = 0
        # What is left was read before: it goes out without waiting for another window.
        self._waiting_since = 0.0 if self._records else None

    def _expire(self) -> bool:
        limit = self._config.maximum_record_age
        if self._clock is None or limit == INFINITE_RETRIES:
            return False
        now = self._clock()
        expired = 0
        for record in self._records[: self._size]:
            created = _created_at(record)
            if created is None or now - created <= limit:
                break
            expired += 1
        if not expired:
            return False
        failed = FailedBatch(self._records[:expired], self._attempts, None, RECORD_AGE_EXCEEDED)
        self._advance(expired)
        self._size = self._config.batch_size
        self._mapping._give_up(failed)
        return True
