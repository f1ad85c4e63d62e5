"""orders.tracing.otlp writes OTLP's protobuf by hand (to keep opentelemetry-proto and the SDK off the cold
path). What it writes must be what OpenTelemetry writes: the same spans, recorded by the OpenTelemetry SDK
and encoded by its OTLP encoder, decode (with opentelemetry-proto) to the same message, field by field; and
every attribute value survives a round trip through the official decoder."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from orders.tracing import otlp

RESOURCE = {"service.name": "orders", "cloud.platform": "aws_lambda", "faas.name": "CreateOrderFunction"}
SCOPE = "orders"


class Kept(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def sdk_spans() -> list[ReadableSpan]:
    """A request's spans as the SDK records them: a server span under a remote parent (Lambda's segment),
    children of every kind, every attribute type, an error with its exception event."""
    kept = Kept()
    provider = TracerProvider(resource=Resource(RESOURCE))
    provider.add_span_processor(kept)
    tracer = provider.get_tracer(SCOPE)
    lambda_segment = SpanContext(
        trace_id=0x5759E988BD862E3FE1BE46A994272793,
        span_id=0x53995C3F42CD8AD8,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    parent = set_span_in_context(NonRecordingSpan(lambda_segment))
    with tracer.start_as_current_span("CreateOrderFunction", context=parent, kind=SpanKind.SERVER) as root:
        root.set_attribute("faas.coldstart", True)
        root.set_attribute("faas.invocation_id", "req-1")
        root.set_attribute("http.response.status_code", 201)
        with tracer.start_as_current_span("DynamoDB.TransactWriteItems", kind=SpanKind.CLIENT) as call:
            call.set_attribute("aws.dynamodb.table_names", ["orders"])
            call.set_attribute("aws.dynamodb.transact_items", 3)
            call.set_attribute("orders.negative", -42)
            call.set_attribute("orders.ratio", 1.5)
            call.set_attribute("orders.flags", [True, False])
            call.set_attribute("orders.counts", [1, -2, 2**62])
            call.set_attribute("orders.weights", [0.25, -3.0])
            call.set_attribute("orders.unicode", "snow ☃ 雪")
            call.set_attribute("orders.false", False)
            call.set_attribute("orders.zero", 0)
        with tracer.start_as_current_span("reserve stock", kind=SpanKind.INTERNAL) as step:
            step.add_event("retry", {"attempt": 2})
            step.set_status(Status(StatusCode.ERROR, "RuntimeError: inventory down"))
        with (
            tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER),
            tracer.start_as_current_span("consume", kind=SpanKind.CONSUMER),
        ):
            pass
        try:
            with tracer.start_as_current_span("fails"):
                raise ValueError("bad")
        except ValueError:
            pass
    return kept.spans


def recorded(span: ReadableSpan) -> otlp.RecordedSpan:
    """The SDK's span as orders.tracing records one."""
    context, parent = span.get_span_context(), span.parent
    assert context is not None and span.start_time is not None and span.end_time is not None
    copy = otlp.RecordedSpan(
        context.trace_id.to_bytes(16, "big"),
        context.span_id.to_bytes(8, "big"),
        parent.span_id.to_bytes(8, "big") if parent else b"",
        span.name,
        kind=span.kind.name,
        start_time_unix_nano=span.start_time,
        attributes=dict(span.attributes or {}),
        parent_is_remote=bool(parent and parent.is_remote),
    )
    copy.end_time_unix_nano = span.end_time
    copy.events = [
        otlp.SpanEvent(event.name, event.timestamp, dict(event.attributes or {})) for event in span.events
    ]
    copy.status_code = span.status.status_code.value
    copy.status_message = span.status.description or ""
    return copy


def test_what_orders_writes_is_what_the_opentelemetry_sdk_writes_for_the_same_spans():
    spans = sdk_spans()
    assert len(spans) == 6

    expected = encode_spans(spans)
    ours = ExportTraceServiceRequest.FromString(otlp.export_request(RESOURCE, SCOPE, map(recorded, spans)))

    assert ours == expected
    # Not vacuous: the message holds every span, kind, remote parent and error the SDK recorded.
    written = [span for scope in ours.resource_spans[0].scope_spans for span in scope.spans]
    assert {span.name for span in written} == {span.name for span in spans}
    assert sorted(span.kind for span in written) == [1, 1, 2, 3, 4, 5]
    assert sum(span.status.code == otlp.STATUS_ERROR for span in written) == 2
    assert any(span.flags == otlp.FLAG_HAS_IS_REMOTE | otlp.FLAG_IS_REMOTE for span in written)


def test_a_difference_in_any_field_is_seen():
    """Control for the comparison above: one changed attribute makes the messages differ."""
    spans = sdk_spans()
    copies = list(map(recorded, spans))
    copies[0].attributes["faas.coldstart"] = False

    assert ExportTraceServiceRequest.FromString(otlp.export_request(RESOURCE, SCOPE, copies)) != encode_spans(
        spans
    )


def decoded(value: Any) -> Any:
    message = AnyValue.FromString(otlp.any_value(value))
    kind = message.WhichOneof("value")
    if kind == "array_value":
        return [decoded_any(item) for item in message.array_value.values]
    return getattr(message, kind)


def decoded_any(message: AnyValue) -> Any:
    kind = message.WhichOneof("value")
    return getattr(message, kind)


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False)
SCALARS = st.one_of(st.text(), st.booleans(), INT64, FLOATS)


@given(
    value=st.one_of(SCALARS, st.lists(st.text()), st.lists(INT64), st.lists(st.booleans()), st.lists(FLOATS))
)
def test_every_attribute_value_survives_the_official_decoder(value):
    assert decoded(value) == value
    if isinstance(value, bool):  # a oneof: False is a value, not an absence
        assert AnyValue.FromString(otlp.any_value(value)).WhichOneof("value") == "bool_value"


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinities_survive_too(value):
    assert decoded(value) == value
