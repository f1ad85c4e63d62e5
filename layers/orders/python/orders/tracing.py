"""Traces without the X-Ray SDK: OpenTelemetry spans, sent as OTLP over UDP to the X-Ray agent that Lambda
runs beside every function with active tracing (`AWS_XRAY_DAEMON_ADDRESS`).

Why this shape (the README's observability section has the measurements):
- The agent forwards OTLP to X-Ray outside the invocation: a datagram is the daemon's JSON header line,
  `T1S` (a sampled trace) and the base64 of an OTLP `ExportTraceServiceRequest`. This is the transport the
  AWS Distro for OpenTelemetry uses in Lambda; it outlives the X-Ray SDK (end of support 2027-02-25).
  Sending a datagram never waits for the agent, so an absent or slow agent costs a request nothing but
  the encoding, and a failed send only drops spans.
- Lambda decides sampling (`Sampled=` in `_X_AMZN_TRACE_ID`, X-Ray's rules). An unsampled invocation,
  or `OTEL_SDK_DISABLED=true`, imports nothing of OpenTelemetry: the SDK and the encoder load on the first
  sampled invocation, so a process that is never sampled never pays for them.
- The spans of one invocation are exported together when its handler returns (one datagram, split only
  near UDP's size limit), not from a background thread: Lambda freezes the process after the response,
  and SnapStart must snapshot no thread or socket.
- AWS calls are spans through botocore's own event hooks (`instrument`), HTTP calls to the upstream
  services and any other step through `span`.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
    from opentelemetry.trace import Tracer as OtelTracer
    from opentelemetry.util.types import AttributeValue

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


class InvocationSpans(Protocol):
    processor: SpanProcessor

    def take(self) -> list[ReadableSpan]: ...


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

    def __init__(self, address: tuple[str, int]) -> None:
        self._address = address
        self._socket: socket.socket | None = None  # opened on first export: nothing to snapshot
        self.dropped = 0

    def export(self, spans: Sequence[ReadableSpan]) -> None:
        batches = _encoded_batches(spans)
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


def _encoded_batches(spans: Sequence[ReadableSpan]) -> list[bytes]:
    """The spans as few OTLP requests as fit a datagram each (halving a batch that does not fit)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    if not spans:
        return []
    encoded = encode_spans(spans).SerializeToString()
    if len(encoded) <= MAX_ENCODED_BYTES or len(spans) == 1:
        return [encoded]  # one span too big to send: the exporter drops it
    middle = len(spans) // 2
    return _encoded_batches(spans[:middle]) + _encoded_batches(spans[middle:])


# ------------------------------------------------------------------ the per-process pipeline
class _Pipeline:
    """Built on the first sampled invocation and kept: the SDK's provider, our processor and exporter."""

    def __init__(self) -> None:
        from opentelemetry.propagators.aws import AwsXRayPropagator
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        # First: a malformed address fails here, before a provider (and its atexit hook) is made for nothing
        # on each invocation that tries again.
        self.exporter = UdpOtlpExporter(agent_address(os.environ.get(AGENT_ADDRESS_VARIABLE)))
        self.spans = _invocation_spans()
        # Given, not detected: the SDK's resource detectors would read entry points of every package.
        resource = Resource(
            {
                "service.name": os.environ.get("OTEL_SERVICE_NAME")
                or os.environ.get("POWERTOOLS_SERVICE_NAME")
                or "orders",
                "cloud.provider": "aws",
                "cloud.platform": "aws_lambda",
                "cloud.region": os.environ.get("AWS_REGION", ""),
                "faas.name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
                "faas.version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", ""),
            }
        )
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(self.spans.processor)
        self.tracer: OtelTracer = provider.get_tracer(SCOPE)
        self.propagator = AwsXRayPropagator()

    def flush(self) -> None:
        try:
            self.exporter.export(self.spans.take())
        except Exception:  # an encoding bug must not fail the request it traced
            self.exporter.dropped += 1
            logger.debug("spans not exported", exc_info=True)


def _invocation_spans() -> InvocationSpans:
    """An OpenTelemetry span processor that keeps the finished spans of the running invocation."""
    from opentelemetry.sdk.trace import SpanProcessor

    class Kept(SpanProcessor):
        def __init__(self) -> None:
            self.finished: list[ReadableSpan] = []
            self.processor: SpanProcessor = self

        def on_end(self, span: ReadableSpan) -> None:
            self.finished.append(span)

        def take(self) -> list[ReadableSpan]:
            taken, self.finished = self.finished, []
            return taken

    return Kept()


@functools.cache
def _pipeline() -> _Pipeline:
    return _Pipeline()


# The pipeline of the invocation being traced; None when it is not sampled (or tracing is off).
_active: ContextVar[_Pipeline | None] = ContextVar("orders_tracing", default=None)


def _tracing() -> _Pipeline | None:
    return _active.get()


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
    pipeline = _tracing()
    if pipeline is None:
        yield _NO_SPAN
        return
    from opentelemetry.trace import SpanKind

    with pipeline.tracer.start_as_current_span(name, kind=SpanKind[kind], attributes=attributes) as current:
        yield current


def outgoing_trace_header() -> str | None:
    """The X-Ray header that makes a downstream call a child of the current span, None when not traced."""
    pipeline = _tracing()
    if pipeline is None:
        return None
    carrier: dict[str, str] = {}
    pipeline.propagator.inject(carrier)
    return carrier.get("X-Amzn-Trace-Id")


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
    pipeline = _tracing()
    params: Mapping[str, Any] = context.pop("orders_parameters", {})
    if pipeline is None:
        return
    from opentelemetry.trace import SpanKind

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
    context["orders_span"] = pipeline.tracer.start_span(
        f"{str(service).replace(' ', '')}.{model.name}", kind=SpanKind.CLIENT, attributes=attributes
    )


def _aws_call_ended(http_response: Any, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    if (current := context.pop("orders_span", None)) is None:
        return
    metadata = parsed.get("ResponseMetadata", {})
    current.set_attribute("http.response.status_code", int(getattr(http_response, "status_code", 0) or 0))
    if request_id := metadata.get("RequestId"):
        current.set_attribute("aws.request_id", request_id)
    if error := parsed.get("Error", {}).get("Code"):
        from opentelemetry.trace import Status, StatusCode

        current.set_status(Status(StatusCode.ERROR, error))
    current.end()


def _aws_call_failed(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
    if (current := context.pop("orders_span", None)) is None:
        return
    from opentelemetry.trace import Status, StatusCode

    current.record_exception(exception)
    current.set_status(Status(StatusCode.ERROR, type(exception).__name__))
    current.end()


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
    from opentelemetry.trace import SpanKind, Status, StatusCode

    parent = pipeline.propagator.extract({"X-Amzn-Trace-Id": os.environ.get(TRACE_HEADER_VARIABLE, "")})
    attributes: dict[str, AttributeValue] = {"faas.coldstart": _cold[0]}
    _cold[0] = False
    if request_id := getattr(context, "aws_request_id", None):
        attributes["faas.invocation_id"] = request_id
    attributes.update(_event_attributes(event))
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or str(getattr(handler, "__module__", "handler"))
    token = _active.set(pipeline)
    try:
        with pipeline.tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        ) as root:
            result = handler(event, context)
            if isinstance(result, Mapping) and isinstance(status := result.get("statusCode"), int):
                root.set_attribute("http.response.status_code", status)
                if status >= SERVER_ERROR:
                    root.set_status(Status(StatusCode.ERROR))
            return result
    finally:
        _active.reset(token)
        pipeline.flush()


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
