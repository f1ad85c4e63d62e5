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
The retry counter starts again whenever the checkpoint moves forward. Not emulated: parallelisation
factor, tumbling windows, MaximumRecordAgeInSeconds (records here are never old).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import json

INFINITE_RETRIES = -1


def matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """The subset of EventBridge/Lambda filter syntax the template uses: nested keys and value lists."""
    for key, expected in pattern.items():
        if key not in record:
            return False
        actual = record[key]
        if isinstance(expected, Mapping):
            if not isinstance(actual, Mapping) or not matches(expected, actual):
                return False
        elif actual not in expected:
            return False
    return True


@dataclass(frozen=True)
class StreamMappingConfig:
    batch_size: int = 100
    maximum_retry_attempts: int = INFINITE_RETRIES
    bisect_on_function_error: bool = False
    report_batch_item_failures: bool = False
    filter_patterns: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_event_properties(cls, properties: Mapping[str, Any]) -> StreamMappingConfig:
        filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
        return cls(
            batch_size=int(properties.get("BatchSize", 100)),
            maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", INFINITE_RETRIES)),
            bisect_on_function_error=bool(properties.get("BisectBatchOnFunctionError", False)),
            report_batch_item_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
            filter_patterns=tuple(json.loads(item["Pattern"]) for item in filters),
        )

    def accepts(self, record: Mapping[str, Any]) -> bool:
        return not self.filter_patterns or any(matches(pattern, record) for pattern in self.filter_patterns)


@dataclass
class StreamMappingStats:
    invocations: int = 0
    retries: int = 0
    sent_to_destination: list[list[dict]] = field(default_factory=list)


def _sequence(record: Mapping[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


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

    def _first_failure(self, batch: Sequence[dict]) -> int | None:
        """Index in `batch` of the checkpoint after one invocation, or None when the batch succeeded."""
        self.stats.invocations += 1
        try:
            response = self._invoke({"Records": list(batch)})
        except Exception:  # noqa: BLE001 - a function error fails the whole batch, as in Lambda
            return 0
        if not self.config.report_batch_item_failures or not isinstance(response, Mapping):
            return None
        failures = response.get("batchItemFailures") or []
        if not failures:
            return None
        positions = {str(record["dynamodb"]["SequenceNumber"]): index for index, record in enumerate(batch)}
        indexes = [positions.get(str(item.get("itemIdentifier"))) for item in failures]
        # An identifier that names no record of the batch makes Lambda treat the whole batch as failed.
        return 0 if any(index is None for index in indexes) else min(indexes)

    def process(self, records: Sequence[dict]) -> None:
        """Feed one shard's records, in order, until every record succeeded or was given up on."""
        shard = sorted((record for record in records if self.config.accepts(record)), key=_sequence)
        position, size, retries = 0, self.config.batch_size, 0
        while position < len(shard):
            batch = shard[position : position + size]
            checkpoint = self._first_failure(batch)
            if checkpoint is None:
                position, size, retries = position + len(batch), self.config.batch_size, 0
                continue
            if checkpoint > 0:
                position, retries = position + checkpoint, 0
                continue
            if self.config.bisect_on_function_error and len(batch) > 1:
                size = max(1, len(batch) // 2)
                continue
            retries += 1
            self.stats.retries += 1
            limit = self.config.maximum_retry_attempts
            if limit != INFINITE_RETRIES and retries > limit:
                self.stats.sent_to_destination.append(list(batch))
                self._on_failure(list(batch))
                position, size, retries = position + len(batch), self.config.batch_size, 0
