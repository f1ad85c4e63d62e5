"""One order's lifecycle as the stack saw it, in time order (the console's `/_local/orders/<id>`): every request
that named or created it, each inventory call about its reservation, every version written and each stream
record (the table's stream carries the images), each event published about it, and each failed batch that
held one of its records.

Read from the stack's bounded logs (the access log, the stream record log, the event log, the dead letters,
the stubs' calls), so what has fallen out of a log is not on the timeline. Pure: the caller hands the logs
over; rendering is console.py's.

What ties an entry to an order, without knowing a function's internals: a request's resource id (its
`{id}` or its `Location`), a stream record's key (an attribute equal to the id, or a single-table key
ending in `#<id>`), an event's `...Id` detail field, a reservation id (the order's id, DESIGN.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from local.aws.access_log import AccessLogEntry
from local.aws.streams import SeenRecord
from local.stubs.upstream import StubCall

# What an order id may look like for a timeline to be looked up at all: an identifier, nothing that could
# be a path, markup or a very long string. (The service's own rule is stricter; this one is the stack's.)
ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")

REQUEST = "request"
INVENTORY = "inventory call"
VERSION = "version written"
STREAM_RECORD = "stream record"
EVENT = "event"
FAILED_BATCH = "failed batch"
# Entries at the same instant keep the order in which one causes the next.
KIND_ORDER = {REQUEST: 0, INVENTORY: 1, VERSION: 2, STREAM_RECORD: 3, EVENT: 4, FAILED_BATCH: 5}

_deserializer = TypeDeserializer()


def is_order_id(value: str) -> bool:
    return ID_SHAPE.fullmatch(value) is not None


def plain(wire: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A DynamoDB item in wire format (`{"status": {"S": "pending"}}`) as plain values (numbers Decimal)."""
    if wire is None:
        return None
    return {name: _deserializer.deserialize(value) for name, value in wire.items()}


@dataclass(frozen=True)
class TimelineEntry:
    at: float  # epoch seconds
    kind: str
    summary: str  # one line of plain text (the console escapes it)
    correlation_id: str | None = None
    # What the entry says at length (label -> value), shown under it; values are plain data.
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Timeline:
    order_id: str
    entries: list[TimelineEntry]
    latest: dict[str, Any] | None  # the latest version of the order item seen (plain values)


def _key_names_id(keys: Mapping[str, Any], order_id: str) -> bool:
    for value in (plain(keys) or {}).values():
        if isinstance(value, str) and (value == order_id or value.endswith(f"#{order_id}")):
            return True
    return False


def _changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, Any]:
    """attribute -> [before, after] for what a write changed (added: before None; removed: after None)."""
    old, new = old or {}, new or {}
    return {
        name: [old.get(name), new.get(name)]
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    }


def _version_summary(record: SeenRecord, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    status, previous = new.get("status"), (old or {}).get("status")
    moved = f"{previous} → {status}" if previous is not None and previous != status else f"{status}"
    return f"version {new.get('version')} written ({record.event_name}): status {moved}"


def _record_entries(order_id: str, records: Iterable[SeenRecord]) -> tuple[list[TimelineEntry], Any]:
    entries: list[TimelineEntry] = []
    latest: tuple[Any, dict[str, Any]] | None = None
    versions_seen: set[tuple[str, str]] = set()  # each mapping reads each record: one version per write
    for record in records:
        if not _key_names_id(record.keys, order_id):
            continue
        keys = plain(record.keys) or {}
        new, old = plain(record.new_image), plain(record.old_image)
        key_text = " / ".join(str(value) for value in keys.values())
        if record.filtered_out:
            fate = f"filtered out by {record.function}'s mapping (never delivered)"
        elif record.deliveries:
            fate = f"delivered to {record.function}: {record.deliveries[-1].outcome}"
        else:
            fate = f"waiting for {record.function}"
        entries.append(
            TimelineEntry(
                record.read_at,
                STREAM_RECORD,
                f"{record.event_name} {key_text} read from the {record.table} stream; {fate}",
                details={
                    "sequence number": record.sequence,
                    "shard": record.shard_id,
                    "deliveries": [
                        f"{_clock(delivery.at)} {delivery.outcome}" for delivery in record.deliveries
                    ],
                },
            )
        )
        if new is not None and "version" in new and (record.table, record.sequence) not in versions_seen:
            versions_seen.add((record.table, record.sequence))
            details: dict[str, Any] = {"item": new} if old is None else {"changed": _changes(old, new)}
            entries.append(
                TimelineEntry(
                    record.written_at if record.written_at is not None else record.read_at,
                    VERSION,
                    _version_summary(record, old, new),
                    correlation_id=new.get("correlationId")
                    if isinstance(new.get("correlationId"), str)
                    else None,
                    details=details,
                )
            )
            if latest is None or new["version"] >= latest[0]:
                latest = (new["version"], new)
    return entries, latest[1] if latest is not None else None


def _event_names(detail: Any, order_id: str) -> bool:
    if not isinstance(detail, Mapping):
        return False
    return any(
        name.endswith("Id") and name != "eventId" and value == order_id for name, value in detail.items()
    )


def _event_summary(event: Mapping[str, Any]) -> str:
    detail = event.get("detail") if isinstance(event.get("detail"), Mapping) else {}
    parts = [f"{event.get('detail-type')} from {event.get('source')}"]
    status, previous = detail.get("status"), detail.get("previousStatus")
    if status is not None:
        parts.append(f"{previous} → {status}" if previous else f"status {status}")
    if detail.get("version") is not None:
        parts.append(f"v{detail['version']}")
    if event.get("replay-name"):
        parts.append(f"(replay {event['replay-name']})")
    return " ".join(parts)


def _dead_letter_records(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records of a failed batch written to S3 (its `payload`); a queue's message holds none."""
    message = entry.get("message")
    payload = message.get("payload") if isinstance(message, Mapping) else None
    if not isinstance(payload, str):
        return []
    try:
        records = json.loads(payload).get("Records")
    except (ValueError, AttributeError):
        return []
    return [record for record in records or [] if isinstance(record, dict)]


def _epoch(iso: Any) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%H:%M:%S.%f")[:-3]


def order_timeline(
    order_id: str,
    *,
    requests: Sequence[AccessLogEntry],
    records: Sequence[SeenRecord],
    events: Sequence[tuple[float, Mapping[str, Any]]],
    dead_letters: Sequence[Mapping[str, Any]],
    stub_calls: Sequence[StubCall],
) -> Timeline | None:
    """The order's timeline, oldest first; None when no log mentions it (or `order_id` is no id)."""
    if not is_order_id(order_id):
        return None
    entries = [
        TimelineEntry(
            request.received_at,
            REQUEST,
            f"{request.method} {request.path} → {request.status} ({request.latency_ms:.0f} ms)"
            + (f" by {request.caller}" if request.caller else ""),
            correlation_id=request.correlation_id,
            details={"route": request.route_key, "function": request.function},
        )
        for request in requests
        if request.resource_id == order_id
    ]
    entries += [
        TimelineEntry(
            call.at,
            INVENTORY,
            f"{call.method} {call.path} → {call.status if call.status is not None else 'no answer'}"
            + (f" (injected fault: {call.fault})" if call.fault else ""),
        )
        for call in stub_calls
        if call.reservation_id == order_id
    ]
    record_entries, latest = _record_entries(order_id, records)
    entries += record_entries
    entries += [
        TimelineEntry(
            seen_at,
            EVENT,
            _event_summary(event),
            correlation_id=detail.get("correlationId") if isinstance(detail, Mapping) else None,
            details={"detail": detail},
        )
        for seen_at, event in events
        if _event_names(detail := event.get("detail"), order_id)
    ]
    for dead_letter in dead_letters:
        if not any(
            _key_names_id(record.get("dynamodb", {}).get("Keys") or {}, order_id)
            for record in _dead_letter_records(dead_letter)
        ):
            continue
        message = dead_letter.get("message") or {}
        info = message.get("DDBStreamBatchInfo") or {}
        context = message.get("requestContext") or {}
        entries.append(
            TimelineEntry(
                _epoch(message.get("timestamp")) or 0.0,
                FAILED_BATCH,
                f"{dead_letter.get('function')} gave up on a batch of {info.get('batchSize')} "
                f"({context.get('condition')} after {context.get('approximateInvokeCount')} invocations)",
                details={"bucket": dead_letter.get("bucket"), "key": dead_letter.get("key")},
            )
        )
    if not entries:
        return None
    entries.sort(key=lambda entry: (entry.at, KIND_ORDER[entry.kind]))
    return Timeline(order_id, entries, latest)
