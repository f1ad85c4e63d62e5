"""OTLP's `ExportTraceServiceRequest`, written as protobuf bytes from the spans `orders.tracing` records.

Why not `opentelemetry-proto` and its generated classes: importing them (protobuf's runtime, the descriptors
of every OTLP message) and the SDK's encoder cost a sampled cold start 30-45 ms (`make bench`, the tracing
row), more than all the rest of a traced invocation. The part of the format a span needs is small: varints,
length-delimited fields and little-endian fixed64s, per opentelemetry-proto's `trace.proto`,
`common.proto` and `resource.proto` (field numbers below). tests/unit/test_otlp_wire.py decodes what this
writes with opentelemetry-proto and compares it with what the OpenTelemetry SDK's encoder writes for the
same spans, field by field.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

type AttributeValue = (
    str | bool | int | float | Sequence[str] | Sequence[bool] | Sequence[int] | Sequence[float]
)

# Span.SpanKind and Status.StatusCode (trace.proto)
KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
# SpanFlags (trace.proto): whether the parent's remoteness is known, and whether it is remote.
FLAG_HAS_IS_REMOTE = 0x100
FLAG_IS_REMOTE = 0x200

_VARINT, _FIXED64, _LENGTH_DELIMITED = 0, 1, 2
_UINT64 = 0xFFFF_FFFF_FFFF_FFFF
_SEVEN_BITS, _MORE = 0x7F, 0x80


class SpanEvent:
    __slots__ = ("attributes", "name", "time_unix_nano")

    def __init__(self, name: str, time_unix_nano: int, attributes: dict[str, AttributeValue]) -> None:
        self.name = name
        self.time_unix_nano = time_unix_nano
        self.attributes = attributes


class RecordedSpan:
    """One span as OTLP carries it. Ids are raw bytes: 16 for the trace, 8 for spans. (A plain class, not a
    dataclass: `dataclasses` would pull `inspect` onto the cold path of a function that has no other use
    for it.)"""

    __slots__ = (
        "attributes",
        "end_time_unix_nano",
        "events",
        "kind",
        "name",
        "parent_is_remote",
        "parent_span_id",
        "span_id",
        "start_time_unix_nano",
        "status_code",
        "status_message",
        "trace_id",
    )

    def __init__(
        self,
        trace_id: bytes,
        span_id: bytes,
        parent_span_id: bytes,
        name: str,
        *,
        kind: str,
        start_time_unix_nano: int,
        attributes: dict[str, AttributeValue] | None = None,
        parent_is_remote: bool = False,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.name = name
        self.kind = kind
        self.start_time_unix_nano = start_time_unix_nano
        self.end_time_unix_nano = 0
        self.attributes: dict[str, AttributeValue] = dict(attributes or {})
        self.events: list[SpanEvent] = []
        self.status_code = STATUS_UNSET
        self.status_message = ""
        self.parent_is_remote = parent_is_remote

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.attributes[key] = value


# ------------------------------------------------------------------ protobuf's wire format
def _varint(value: int) -> bytes:
    value &= _UINT64  # int64's negatives are their two's complement, ten bytes long
    out = bytearray()
    while value > _SEVEN_BITS:
        out.append((value & _SEVEN_BITS) | _MORE)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _bytes(number: int, payload: bytes) -> bytes:
    return _key(number, _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    return _bytes(number, text.encode()) if text else b""  # proto3 leaves an empty string out


def _enum(number: int, value: int) -> bytes:
    return _key(number, _VARINT) + _varint(value) if value else b""


def _fixed64(number: int, value: int) -> bytes:
    return _key(number, _FIXED64) + struct.pack("<Q", value & _UINT64)


def _fixed32(number: int, value: int) -> bytes:
    return _key(number, 5) + struct.pack("<I", value) if value else b""


# ------------------------------------------------------------------ common.proto
def any_value(value: object) -> bytes:
    """AnyValue; a oneof, so even False, 0 and "" are written (they are values, not absences)."""
    if isinstance(value, bool):
        return _key(2, _VARINT) + _varint(int(value))
    if isinstance(value, int):
        return _key(3, _VARINT) + _varint(value)
    if isinstance(value, float):
        return _key(4, _FIXED64) + struct.pack("<d", value)
    if isinstance(value, bytes):
        return _bytes(7, value)
    if isinstance(value, (list, tuple)):
        return _bytes(5, b"".join(_bytes(1, any_value(item)) for item in value))  # ArrayValue.values
    return _bytes(1, str(value).encode())


def key_values(number: int, attributes: Mapping[str, object]) -> bytes:
    """A repeated KeyValue field (`key` 1, `value` 2)."""
    return b"".join(
        _bytes(number, _string(1, key) + _bytes(2, any_value(value))) for key, value in attributes.items()
    )


# ------------------------------------------------------------------ trace.proto
def span_bytes(span: RecordedSpan) -> bytes:
    flags = FLAG_HAS_IS_REMOTE | (FLAG_IS_REMOTE if span.parent_is_remote else 0)
    return b"".join(
        (
            _bytes(1, span.trace_id),
            _bytes(2, span.span_id),
            _bytes(4, span.parent_span_id) if span.parent_span_id else b"",
            _string(5, span.name),
            _enum(6, KINDS[span.kind]),
            _fixed64(7, span.start_time_unix_nano),
            _fixed64(8, span.end_time_unix_nano),
            key_values(9, span.attributes),
            b"".join(
                _bytes(
                    11,
                    _fixed64(1, event.time_unix_nano)
                    + _string(2, event.name)
                    + key_values(3, event.attributes),
                )
                for event in span.events
            ),
            _bytes(15, _string(2, span.status_message) + _enum(3, span.status_code)),
            _fixed32(16, flags),
        )
    )


def export_request(resource: Mapping[str, object], scope: str, spans: Iterable[RecordedSpan]) -> bytes:
    """ExportTraceServiceRequest{resource_spans: [{resource, scope_spans: [{scope: {name}, spans}]}]}."""
    scope_spans = _bytes(1, _string(1, scope)) + b"".join(_bytes(2, span_bytes(span)) for span in spans)
    resource_spans = _bytes(1, key_values(1, resource)) + _bytes(2, scope_spans)
    return _bytes(1, resource_spans)
