"""The X-Ray agent's stand-in: a UDP socket that takes the spans the functions send (OTLP over UDP, as
Lambda's agent does, `orders.tracing`) and keeps the latest traces in memory for `GET /_local/traces`.

A datagram is the daemon's JSON header line, `T1S` (sampled) or `T1U`, and the base64 of an OTLP
`ExportTraceServiceRequest`; anything else (X-Ray segment documents, garbage) is counted and dropped.
"""

from __future__ import annotations

import base64
import binascii
import socket
import threading
from collections import OrderedDict
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

MAX_TRACES = 500  # the oldest trace is forgotten beyond it
MAX_DATAGRAM = 65_535
HEADER_END = b"\n"
OTLP_PREFIXES = (b"T1S", b"T1U")


def xray_trace_id(raw: bytes) -> str:
    """OTLP's 16 bytes as X-Ray writes a trace id: `1-<8 hex: epoch seconds>-<24 hex>`."""
    hexed = raw.hex()
    return f"1-{hexed[:8]}-{hexed[8:]}"


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _value(item.value) for item in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def spans_of(datagram: bytes) -> list[dict[str, Any]]:
    """The spans one datagram carries; raises ValueError when it is not OTLP over UDP."""
    _, separator, payload = datagram.partition(HEADER_END)
    if not separator or payload[:3] not in OTLP_PREFIXES:
        raise ValueError("not an OTLP datagram")
    try:
        request = ExportTraceServiceRequest.FromString(base64.b64decode(payload[3:], validate=True))
    except (binascii.Error, DecodeError, ValueError) as error:
        raise ValueError(f"undecodable OTLP payload: {error}") from error
    spans = []
    for resource_spans in request.resource_spans:
        resource = {item.key: _value(item.value) for item in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    {
                        "traceId": xray_trace_id(span.trace_id),
                        "spanId": span.span_id.hex(),
                        "parentSpanId": span.parent_span_id.hex() or None,
                        "name": span.name,
                        "kind": Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        "function": resource.get("faas.name"),
                        "startTimeUnixNano": span.start_time_unix_nano,
                        "durationMs": (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
                        "attributes": {item.key: _value(item.value) for item in span.attributes},
                        "status": Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                        "statusMessage": span.status.message or None,
                        "events": [event.name for event in span.events],
                    }
                )
    return spans


def span_tree(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The spans of one trace as trees (`children`, in start order); a span whose parent was not received
    (Lambda's own segment, say) is a root."""
    nodes = {span["spanId"]: {**span, "children": []} for span in spans}
    roots = []
    for node in sorted(nodes.values(), key=lambda node: node["startTimeUnixNano"]):
        parent = nodes.get(node["parentSpanId"] or "")
        (parent["children"] if parent is not None else roots).append(node)
    return roots


class TraceCollector:
    """Binds a UDP port on `host` at once (so its address can go in the functions' environment) and
    receives on a daemon thread once started."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, 0))
        self.address = "{}:{}".format(*self._socket.getsockname()[:2])
        self._traces: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.dropped = 0
        self._thread: threading.Thread | None = None

    def start(self) -> TraceCollector:
        self._thread = threading.Thread(target=self._receive, name="trace-collector", daemon=True)
        self._thread.start()
        return self

    def _receive(self) -> None:
        while True:
            try:
                datagram = self._socket.recv(MAX_DATAGRAM)
            except OSError:  # closed
                return
            self.add(datagram)

    def add(self, datagram: bytes) -> None:
        try:
            spans = spans_of(datagram)
        except ValueError:
            self.dropped += 1
            return
        with self._lock:
            for span in spans:
                self._traces.setdefault(span["traceId"], []).append(span)
                self._traces.move_to_end(span["traceId"])
            while len(self._traces) > MAX_TRACES:
                self._traces.popitem(last=False)

    def traces(
        self, *, trace_id: str | None = None, correlation_id: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The latest traces first, each with its span trees; filtered by trace id or by the API request's
        correlation id (`apigw-requestid`) that a span of the trace carries."""
        with self._lock:
            traces = [(key, list(spans)) for key, spans in reversed(self._traces.items())]
        found = []
        for key, spans in traces:
            if trace_id is not None and key != trace_id:
                continue
            if correlation_id is not None and not any(
                span["attributes"].get("orders.correlation_id") == correlation_id for span in spans
            ):
                continue
            start = min(span["startTimeUnixNano"] for span in spans)
            end = max(span["startTimeUnixNano"] + span["durationMs"] * 1e6 for span in spans)
            found.append(
                {
                    "traceId": key,
                    "spanCount": len(spans),
                    "durationMs": (end - start) / 1e6,
                    "spans": span_tree(spans),
                }
            )
            if len(found) >= limit:
                break
        return found

    def stop(self) -> None:
        self._socket.close()
