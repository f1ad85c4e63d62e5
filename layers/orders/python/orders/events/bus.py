"""Publishing order events to EventBridge. Nothing is reported published unless EventBridge accepted it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from orders import tracing
from orders.domain import jsonio
from orders.events.notifications import EVENT_SOURCE, OrderEvent

logger = logging.getLogger(__name__)

MAX_ENTRIES_PER_CALL = 10  # PutEvents' limit


@dataclass(frozen=True, slots=True)
class Pending:
    """One stream record's event, keyed by the record's sequence number."""

    key: str
    event: OrderEvent


def chunks_in_order(pending: Sequence[Pending]) -> list[list[Pending]]:
    """Consecutive chunks of at most 10, never holding two events of one order: a failed entry then
    never has a later event of its order accepted beside it in the same call."""
    chunks: list[list[Pending]] = []
    current: list[Pending] = []
    orders_in_current: set[str] = set()
    for item in pending:
        if len(current) == MAX_ENTRIES_PER_CALL or item.event.order_id in orders_in_current:
            chunks.append(current)
            current, orders_in_current = [], set()
        current.append(item)
        orders_in_current.add(item.event.order_id)
    if current:
        chunks.append(current)
    return chunks


class EventBusPublisher:
    def __init__(
        self,
        client: Any,
        bus_name: str,
        dumps: Callable[[Any], str] = jsonio.dumps,
        source: str = EVENT_SOURCE,
    ):
        self._client = client
        self._bus = bus_name
        self._dumps = dumps
        self._source = source
        # Why the last refused publish was refused (EventBridge's error code and message), for the operator
        # commands to say; logged too, so that a consumer failing its batches says why.
        self.last_refusal: str | None = None

    def publish_in_order(self, pending: Sequence[Pending]) -> set[str]:
        """Publish in stream order; return the keys NOT published.

        At the first chunk with a failed entry (`FailedEntryCount`, per-entry `ErrorCode`) or a failed
        call, publishing stops: that entry and everything after it are reported failed, so the stream
        retries from there and no later event of the same order overtakes it. Entries of that chunk that
        EventBridge did accept are published again on the retry, with the same `eventId`.
        """
        # The requests that caused these events, on the consumer's span: its trace joins theirs.
        causes = sorted({trace_id for item in pending if (trace_id := item.event.detail.get("traceId"))})
        with tracing.span(
            "publish events", {"orders.events": len(pending), "orders.source_trace_ids": causes}
        ):
            return self._publish_in_order(pending)

    def _publish_in_order(self, pending: Sequence[Pending]) -> set[str]:
        keys_in_order = [item.key for item in pending]
        for chunk_start, chunk in self._chunk_offsets(pending):
            try:
                response = self._client.put_events(Entries=[self._entry(item.event) for item in chunk])
            except Exception as error:  # noqa: BLE001 - any failure to publish means: retry from here
                self._refused(_reason_of(error))
                return set(keys_in_order[chunk_start:])
            if response.get("FailedEntryCount", 0):
                results = response.get("Entries", [])
                first_failed = next(
                    (
                        index
                        for index, result in enumerate(results)
                        if result.get("ErrorCode") or not result.get("EventId")
                    ),
                    0,
                )
                failed = results[first_failed] if first_failed < len(results) else {}
                self._refused(f"{failed.get('ErrorCode', 'no EventId')}: {failed.get('ErrorMessage', '')}")
                return set(keys_in_order[chunk_start + first_failed :])
        return set()

    def _refused(self, reason: str) -> None:
        self.last_refusal = reason
        logger.warning("EventBridge refused events; they are retried", extra={"reason": reason})

    @staticmethod
    def _chunk_offsets(pending: Sequence[Pending]) -> Iterator[tuple[int, list[Pending]]]:
        offset = 0
        for chunk in chunks_in_order(pending):
            yield offset, chunk
            offset += len(chunk)

    def _entry(self, event: OrderEvent) -> dict[str, Any]:
        entry = {
            "EventBusName": self._bus,
            "Source": self._source,
            "DetailType": event.detail_type,
            "Detail": self._dumps(event.detail),
        }
        if trace_id := event.detail.get("traceId"):
            # EventBridge carries it to the targets: the event joins the trace of the request that caused it.
            entry["TraceHeader"] = f"Root={trace_id}"
        return entry


def _reason_of(error: Exception) -> str:
    """An AWS error's code and message (botocore's ClientError), else the exception's type and text."""
    response = getattr(error, "response", None)
    details = response.get("Error", {}) if isinstance(response, dict) else {}
    if details.get("Code"):
        return f"{details['Code']}: {details.get('Message', '')}"
    return f"{type(error).__name__}: {error}"
