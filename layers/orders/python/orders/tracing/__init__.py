"""Traces without the X-Ray SDK: OpenTelemetry's data model (OTLP spans), sent over UDP to the X-Ray agent that
Lambda runs beside every function with active tracing (`AWS_XRAY_DAEMON_ADDRESS`).

Why this shape (the README's observability section has the measurements):
- The agent forwards OTLP to X-Ray outside the invocation: a datagram is the daemon's JSON header line,
  `T1S` (a sampled trace) and the base64 of an OTLP `ExportTraceServiceRequest`. This is the transport the
  AWS Distro for OpenTelemetry uses in Lambda; it outlives the X-Ray SDK (end of support 2027-02-25).
  Sending a datagram never waits for the agent, so an absent or slow agent costs a request nothing but
  the encoding, and a failed send only drops spans.
- Spans are recorded here and written as OTLP protobuf by `orders.tracing.otlp`, not by the OpenTelemetry
  SDK and opentelemetry-proto: those cost a sampled cold start 30-45 ms of imports and set-up (`make bench`,
  the tracing row) for what is a few lines of wire format; the tests check the bytes against both.
- Lambda decides sampling (`Sampled=` in `_X_AMZN_TRACE_ID`, X-Ray's rules). An unsampled invocation,
  or `OTEL_SDK_DISABLED=true` (OpenTelemetry's own switch), records nothing and opens no socket.
- The spans of one invocation are exported together when its handler returns (one datagram, split only
  near UDP's size limit), not from a background thread: Lambda freezes the process after the response,
  and SnapStart must snapshot no thread or socket.
- AWS calls are spans through botocore's own event hooks (`instrument`), HTTP calls to the upstream
  services and any other step through `span`. Span and trace ids come from `os.urandom`, never from a
  seeded generator a SnapStart snapshot would copy.

The trace id (X-Ray's `1-xxxxxxxx-...` form) of the request is also read without OpenTelemetry
(`current_trace_id`): the storage package keeps it on each order version, so the event a change causes
carries it (`traceId`, and EventBridge's `TraceHeader`), sampled or not.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from orders.tracing.otlp import STATUS_ERROR, AttributeValue, RecordedSpan, SpanEvent, export_request

TRACE_HEADER_VARIABLE = "_X_AMZN_TRACE_ID"  # set by the Lambda runtime for each invocation
AGENT_ADDRESS_VARIABLE = "AWS_XRAY_DAEMON_ADDRESS"
DISABLED_VARIABLE = "OTEL_SDK_DISABLED"  # OpenTelemetry's own switch
DEFAULT_AGENT_ADDRESS = "127.0.0.1:2000"
DATAGRAM_HEADER = b'{"format":"json","version":1}\n'
SAMPLED_TRACES_PREFIX = b"T1S"
# Below the 64 KiB a UDP datagram can carry, header and base64's 4/3 included.
MAX_ENCODED_BYTES = 46_000
SCOPE = "orders"


SERVER_ERROR = 500
SPAN_ID_BYTES, TRACE_ID_BYTES = 8, 16
# X-Ray's trace id: `1-<8 hex digits: the epoch second>-<24 hex digits>`
EPOCH_DIGITS, UNIQUE_DIGITS = 8, 24


logger = logging.getLogger(__name__)


# ------------------------------------------------------------------ the trace header (no OpenTelemetry)
def trace_header_fields(header: str | None) -> dict[str, str]:
    """`Root=1-...;Parent=...;Sampled=1` -> {"Root": ..., "Parent": ..., "Sampled": "1"}."""
    fields: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name and value:
            fields[name] = value
    return fields


def current_trace_id() -> str | None:
    """The X-Ray trace id of the running invocation (sampled or not), None outside Lambda's tracing."""
    return trace_header_fields(os.environ.get(TRACE_HEADER_VARIABLE)).get("Root")


def _enabled() -> bool:
    return os.environ.get(DISABLED_VARIABLE, "").strip().lower() != "true"


def _sampled() -> bool:
    return trace_header_fields(os.environ.get(TRACE_HEADER_VARIABLE)).get("Sampled") == "1"


# ------------------------------------------------------------------ export: OTLP over UDP to the agent
def agent_address(value: str | None) -> tuple[str, int]:
    """`AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or `tcp:host:port udp:host:port` (the UDP one is ours)."""
    chosen = value or DEFAULT_AGENT_ADDRESS
    for part in chosen.split():
        if part.startswith("udp:"):
            chosen = part.removeprefix("udp:")
            break
    host, _, port = chosen.rpartition(":")
    return host, int(port)


def datagrams(encoded_requests: Sequence[bytes]) -> list[bytes]:
    return [DATAGRAM_HEADER + SAMPLED_TRACES_PREFIX + base64.b64encode(body) for body in encoded_requests]


class UdpOtlpExporter:
    """OTLP `ExportTraceServiceRequest`s as datagrams to the X-Ray agent. The socket never blocks: when
    the agent is absent, slow or its buffer full, the spans are dropped, never waited for."""

    def __init__(self, address: tuple[str, int], resource: Mapping[str, AttributeValue]) -> None:
        self._address = address
        self._resource = resource
        self._socket: socket.socket | None = None  # opened on first export: nothing to snapshot
        self.dropped = 0

    def export(self, spans: Sequence[RecordedSpan]) -> None:
        batches = encoded_batches(self._resource, spans)
        sendable = [body for body in batches if len(body) <= MAX_ENCODED_BYTES]
        self.dropped += len(batches) - len(sendable)  # a span too big for any datagram
        for datagram in datagrams(sendable):
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    self._socket.setblocking(False)
                self._socket.sendto(datagram, self._address)
            except OSError:  # refused, unreachable, buffer full, unresolvable: tracing never fails a request
                self.dropped += 1


def encoded_batches(resource: Mapping[str, AttributeValue], spans: Sequence[RecordedSpan]) -> list[bytes]:
    """The spans as few OTLP requests as fit a datagram each (halving a batch that does not fit)."""
    if not spans:
        return []
    encoded = export_request(resource, SCOPE, spans)
    if len(encoded) <= MAX_ENCODED_BYTES or len(spans) == 1:
        return [encoded]  # one span too big to send: the exporter drops it
    middle = len(spans) // 2
    return encoded_batches(resource, spans[:middle]) + encoded_batches(resource, spans[middle:])


# ------------------------------------------------------------------ the per-process pipeline
def _resource() -> dict[str, AttributeValue]:
    """What every span of the process shares. Given, not detected (detection would read every package's
    entry points)."""
    return {
        "service.name": os.environ.get("OTEL_SERVICE_NAME")
        or os.environ.get("POWERTOOLS_SERVICE_NAME")
        or "orders",
        "cloud.provider": "aws",
        "cloud.platform": "aws_lambda",
        "cloud.region": os.environ.get("AWS_REGION", ""),
        "faas.name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        "faas.version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", ""),
    }


class _Pipeline:
    """Built on the first sampled invocation and kept: the exporter (its socket opens on the first send)."""

    def __init__(self) -> None:
        # A malformed address fails here, and the invocation runs untraced (and tries again next time).
        self.exporter = UdpOtlpExporter(agent_address(os.environ.get(AGENT_ADDRESS_VARIABLE)), _resource())

    def flush(self, spans: Sequence[RecordedSpan]) -> None:
        try:
            self.exporter.export(spans)
        except Exception:  # an encoding bug must not fail the request it traced
            self.exporter.dropped += 1
            logger.debug("spans not exported", exc_info=True)


@functools.cache
def _pipeline() -> _Pipeline:
    return _Pipeline()


class _Invocation:
    """The traced invocation: its trace, and its spans as they end (threads of the invocation append too:
    `wiring.in_background` runs them in a copy of the invocation's context)."""

    __slots__ = ("finished", "pipeline", "trace_id")

    def __init__(self, pipeline: _Pipeline, trace_id: bytes) -> None:
        self.pipeline = pipeline
        self.trace_id = trace_id
        self.finished: list[RecordedSpan] = []


# The invocation being traced (None when it is not sampled, or tracing is off) and its innermost open span.
_active: ContextVar[_Invocation | None] = ContextVar("orders_tracing", default=None)
_current: ContextVar[RecordedSpan | None] = ContextVar("orders_tracing_span", default=None)


def _tracing() -> _Invocation | None:
    return _active.get()


def _new_id(size: int) -> bytes:
    return os.urandom(size)  # not `random`: a SnapStart snapshot would hand every copy the same sequence


def _xray_trace_id(root: str | None) -> bytes | None:
    """`1-5759e988-bd862e3fe1be46a994272793` -> its 16 bytes; None when it is not one."""
    version, _, rest = (root or "").partition("-")
    epoch, _, unique = rest.partition("-")
    if version != "1" or len(epoch) != EPOCH_DIGITS or len(unique) != UNIQUE_DIGITS:
        return None
    try:
        return bytes.fromhex(epoch + unique)
    except ValueError:
        return None


def _xray_root(trace_id: bytes) -> str:
    hexed = trace_id.hex()
    return f"1-{hexed[:8]}-{hexed[8:]}"


def _start(
    invocation: _Invocation, name: str, kind: str, attributes: Mapping[str, AttributeValue] | None
) -> RecordedSpan:
    parent = _current.get()
    return RecordedSpan(
        invocation.trace_id,
        _new_id(SPAN_ID_BYTES),
        parent.span_id if parent is not None else b"",
        name,
        kind=kind,
        start_time_unix_nano=time.time_ns(),
        attributes=dict(attributes) if attributes else None,
    )


def _end(invocation: _Invocation, recorded: RecordedSpan) -> None:
    recorded.end_time_unix_nano = time.time_ns()
    invocation.finished.append(recorded)


def _record_exception(recorded: RecordedSpan, error: BaseException) -> None:
    """As OpenTelemetry records an exception that leaves a span: an `exception` event, the span an error."""
    recorded.events.append(
        SpanEvent(
            "exception",
            time.time_ns(),
            {
                "exception.type": type(error).__name__,
                "exception.message": str(error),
                "exception.escaped": "False",
            },
        )
    )
    recorded.status_code = STATUS_ERROR
    recorded.status_message = f"{type(error).__name__}: {error}"


# ------------------------------------------------------------------ what the code uses
class _NoSpan:
    """What `span` yields when the invocation is not traced: attributes set on it go nowhere."""

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        pass


_NO_SPAN = _NoSpan()


@contextmanager
def span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, *, kind: str = "INTERNAL"
) -> Iterator[Any]:
    """A child span of the current one; nothing at all when the invocation is not traced."""
    invocation = _tracing()
    if invocation is None:
        yield _NO_SPAN
        return
    recorded = _start(invocation, name, kind, attributes)
    token = _current.set(recorded)
    try:
        yield recorded
    except BaseException as error:
        _record_exception(recorded, error)
        raise
    finally:
        _current.reset(token)
        _end(invocation, recorded)


def outgoing_trace_header() -> str | None:
    """The X-Ray header that makes a downstream call a child of the current span, None when not traced."""
    invocation = _tracing()
    current = _current.get()
    if invocation is None or current is None:
        return None
    return f"Root={_xray_root(invocation.trace_id)};Parent={current.span_id.hex()};Sampled=1"


def instrument[Client](client: Client) -> Client:
    """Every call the boto3 `client` makes becomes a span (`DynamoDB.PutItem`, ...), through botocore's
    event hooks; returns the client."""
    events = client.meta.events  # type: ignore[attr-defined]  # any botocore client
    events.register("before-parameter-build", _aws_call_parameters)
    events.register("before-call", _aws_call_started)
    events.register("after-call", _aws_call_ended)
    events.register("after-call-error", _aws_call_failed)
    return client


def _aws_call_parameters(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    # The call's own parameters: `before-call` is given the serialized request, which has no `TableName`.
    if _tracing() is not None:
        context["orders_parameters"] = params


def _aws_call_started(model: Any, context: dict[str, Any], **_: Any) -> None:
    invocation = _tracing()
    params: Mapping[str, Any] = context.pop("orders_parameters", {})
    if invocation is None:
        return
    service = model.service_model.service_id
    attributes: dict[str, AttributeValue] = {
        "rpc.system": "aws-api",
        "rpc.service": str(service),
        "rpc.method": model.name,
    }
    if table := params.get("TableName"):
        attributes["aws.dynamodb.table_names"] = [table]
    if transact := params.get("TransactItems"):
        attributes["aws.dynamodb.transact_items"] = len(transact)
    if entries := params.get("Entries"):
        attributes["aws.events.entries"] = len(entries)
    name = f"{str(service).replace(' ', '')}.{model.name}"
    context["orders_span"] = (invocation, _start(invocation, name, "CLIENT", attributes))


def _aws_call_ended(http_response: Any, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    if (started := context.pop("orders_span", None)) is None:
        return
    invocation, recorded = started
    metadata = parsed.get("ResponseMetadata", {})
    recorded.set_attribute("http.response.status_code", int(getattr(http_response, "status_code", 0) or 0))
    if request_id := metadata.get("RequestId"):
        recorded.set_attribute("aws.request_id", request_id)
    if error := parsed.get("Error", {}).get("Code"):
        recorded.status_code = STATUS_ERROR
        recorded.status_message = str(error)
    _end(invocation, recorded)


def _aws_call_failed(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
    if (started := context.pop("orders_span", None)) is None:
        return
    invocation, recorded = started
    _record_exception(recorded, exception)
    recorded.status_message = type(exception).__name__
    _end(invocation, recorded)


class Tracer:
    """What a function decorates with, named as Powertools' `Tracer` names it."""

    def capture_lambda_handler[E, C, R](self, handler: Callable[[E, C], R]) -> Callable[[E, C], R]:
        """The invocation's root span, a child of Lambda's own segment; its spans leave when it returns."""

        @functools.wraps(handler)
        def traced(event: E, context: C) -> R:
            if not (_enabled() and _sampled()):
                return handler(event, context)
            try:
                pipeline = _pipeline()
            except Exception:  # no tracing is better than no answer
                logger.debug("tracing unavailable", exc_info=True)
                return handler(event, context)
            return _traced_invocation(pipeline, handler, event, context)

        return traced

    def capture_method[**P, R](self, method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            if _tracing() is None:
                return method(*args, **kwargs)
            with span(method.__name__):
                return method(*args, **kwargs)

        return traced


_cold = [True]


def _traced_invocation[E, C, R](pipeline: _Pipeline, handler: Callable[[E, C], R], event: E, context: C) -> R:
    lambda_segment = trace_header_fields(os.environ.get(TRACE_HEADER_VARIABLE))
    trace_id = _xray_trace_id(lambda_segment.get("Root")) or _new_id(TRACE_ID_BYTES)
    try:
        parent = bytes.fromhex(lambda_segment.get("Parent", ""))
    except ValueError:
        parent = b""
    attributes: dict[str, AttributeValue] = {"faas.coldstart": _cold[0]}
    _cold[0] = False
    if request_id := getattr(context, "aws_request_id", None):
        attributes["faas.invocation_id"] = request_id
    attributes.update(_event_attributes(event))
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or str(getattr(handler, "__module__", "handler"))
    invocation = _Invocation(pipeline, trace_id)
    root = RecordedSpan(
        trace_id,
        _new_id(SPAN_ID_BYTES),
        parent if len(parent) == SPAN_ID_BYTES else b"",
        name,
        kind="SERVER",
        start_time_unix_nano=time.time_ns(),
        attributes=attributes,
        parent_is_remote=len(parent) == SPAN_ID_BYTES,
    )
    active, current = _active.set(invocation), _current.set(root)
    try:
        result = handler(event, context)
        if isinstance(result, Mapping) and isinstance(status := result.get("statusCode"), int):
            root.set_attribute("http.response.status_code", status)
            if status >= SERVER_ERROR:
                root.status_code = STATUS_ERROR
        return result
    except BaseException as error:
        _record_exception(root, error)
        raise
    finally:
        _current.reset(current)
        _active.reset(active)
        _end(invocation, root)
        pipeline.flush(invocation.finished)


def _event_attributes(event: Any) -> dict[str, AttributeValue]:
    """What the span says of the event: the API request (route, correlation id) or the batch's size."""
    if not isinstance(event, Mapping):
        return {}
    attributes: dict[str, AttributeValue] = {}
    request = event.get("requestContext")
    if isinstance(request, Mapping):
        if route := event.get("routeKey"):
            attributes["http.route"] = str(route)
        if correlation_id := request.get("requestId"):
            attributes["orders.correlation_id"] = str(correlation_id)
    records = event.get("Records")
    if isinstance(records, list):
        attributes["faas.trigger"] = "datasource"
        attributes["orders.batch_size"] = len(records)
    return attributes
