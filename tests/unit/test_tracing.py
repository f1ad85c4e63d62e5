"""orders.tracing: what a traced invocation sends to the X-Ray agent (OTLP over UDP, decoded here both by
the local stack's collector and by opentelemetry-proto itself), that no function imports a tracing library
(OpenTelemetry's SDK, protobuf, the X-Ray SDK) and an untraced one builds nothing, that an absent, full or broken exporter never fails a request, how big
invocations are split, and how the request's trace id reaches the table and the events.

The agent is a UDP socket each test binds on 127.0.0.1; AWS calls go to moto."""

from __future__ import annotations

import base64
import errno
import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from orders import tracing
from orders.domain.caller import Caller
from orders.domain.models import CreateOrderRequest
from orders.domain.status import OrderStatus
from orders.events.bus import EventBusPublisher, Pending
from orders.events.notifications import event_for
from orders.storage.history import images_by_version, stream_image
from orders.storage.repository import CHANGE_TRACE_IDS, OrderRepository
from orders.storage.repository import TRACE_ID as TRACE_ATTRIBUTE

from local.aws.traces import span_tree, spans_of
from tests.conftest import TEST_ENV
from tests.support.domain import make_service
from tests.support.dynamo import fresh_table, raw_order_item
from tests.support.stream_records import order_item
from tests.support.streams import stream_records
from tests.support.traces import named, nodes

ROOT = Path(__file__).resolve().parents[2]
TABLE = TEST_ENV["TABLE_NAME"]
FUNCTION = TEST_ENV["AWS_LAMBDA_FUNCTION_NAME"]  # the root span's name and the resource's faas.name
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"  # Lambda's own segment: the root span's parent
SAMPLED = f"Root={TRACE_ID};Parent={PARENT};Sampled=1"
UNSAMPLED = f"Root={TRACE_ID};Parent={PARENT};Sampled=0"
MAX_UDP_PAYLOAD = 65_507  # what one IPv4 UDP datagram can carry
API_EVENT = {"routeKey": "POST /api/orders", "requestContext": {"requestId": "corr-1"}, "body": "{}"}
CONTEXT = SimpleNamespace(aws_request_id="req-1")
KEY = {"PK": {"S": "ORDER#o-1"}, "SK": {"S": "ORDER"}}
ORDER_REQUEST = {
    "items": [{"productId": "prod-456", "quantity": 2}],
    "shippingAddress": {"street": "1 Main St", "city": "X", "zipCode": "10001"},
}

tracer = tracing.Tracer()


# ------------------------------------------------------------------------------------------ the agent
class Agent:
    """Lambda's X-Ray agent, as far as the function can tell: a UDP socket."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = "{}:{}".format(*self.socket.getsockname())

    def receive(self) -> bytes:
        self.socket.settimeout(10)
        return self.socket.recv(65_535)

    def waiting(self) -> list[bytes]:
        """The datagrams already here, without waiting for more."""
        self.socket.setblocking(False)
        found = []
        while True:
            try:
                found.append(self.socket.recv(65_535))
            except BlockingIOError:
                return found


def closed_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def forget_pipeline() -> None:
    if tracing._pipeline.cache_info().currsize:
        exporter = tracing._pipeline().exporter
        if exporter._socket is not None:
            exporter._socket.close()
    tracing._pipeline.cache_clear()


def exporter() -> tracing.UdpOtlpExporter:
    assert tracing._pipeline.cache_info().currsize == 1, "no sampled invocation has built the pipeline"
    return tracing._pipeline().exporter


@pytest.fixture
def agent() -> Iterator[Agent]:
    listening = Agent()
    yield listening
    listening.socket.close()


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch, agent: Agent) -> Iterator[Agent]:
    """A sampled invocation's environment, its spans sent to `agent`; a pipeline of its own (the process
    keeps one, built from the environment of the first sampled invocation)."""
    forget_pipeline()
    monkeypatch.setenv(tracing.TRACE_HEADER_VARIABLE, SAMPLED)
    monkeypatch.setenv(tracing.AGENT_ADDRESS_VARIABLE, agent.address)
    monkeypatch.delenv(tracing.DISABLED_VARIABLE, raising=False)
    monkeypatch.setattr(tracing, "_cold", [True])
    yield agent
    forget_pipeline()


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """An instrumented DynamoDB client on moto, with the table template.yaml declares."""
    with mock_aws():
        client = tracing.instrument(boto3.client("dynamodb", region_name=TEST_ENV["AWS_REGION"]))
        fresh_table(client)
        yield client


def only_root(spans: list[dict[str, Any]]) -> dict[str, Any]:
    (root,) = span_tree(spans)
    return root


def otlp_request(datagram: bytes) -> ExportTraceServiceRequest:
    """The datagram decoded without the collector: header line, `T1S`, base64 of the OTLP request."""
    header, separator, payload = datagram.partition(b"\n")
    assert separator and json.loads(header) == {"format": "json", "version": 1}
    assert payload[:3] == b"T1S"
    return ExportTraceServiceRequest.FromString(base64.b64decode(payload[3:], validate=True))


# ------------------------------------------------------------------------------------------ handlers
@tracer.capture_method
def price_lines(count: int) -> int:
    return count * 2


def loading_handler(client: Any) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A handler with one step of its own holding one DynamoDB call."""

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with tracing.span("load order") as step:
            step.set_attribute("orders.order_id", "o-1")
            item = client.get_item(TableName=TABLE, Key=KEY)["Item"]
            downstream = tracing.outgoing_trace_header()
        return {"statusCode": 201, "body": item["id"]["S"], "downstream": downstream, "lines": price_lines(3)}

    return handler


@tracer.capture_lambda_handler
def answering(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with tracing.span("step"):
        return {"statusCode": event.get("status", 200), "lines": price_lines(2)}


# ------------------------------------------------------------------------------------------ what is sent
def test_a_sampled_invocation_sends_its_spans_as_an_otlp_datagram_under_lambdas_segment(traced, dynamodb):
    dynamodb.put_item(TableName=TABLE, Item={**KEY, "id": {"S": "o-1"}})  # not traced: no invocation yet

    result = loading_handler(dynamodb)(API_EVENT, CONTEXT)

    datagram = traced.receive()
    assert datagram.startswith(b'{"format":"json","version":1}\nT1S')
    assert len(datagram) <= MAX_UDP_PAYLOAD
    spans = spans_of(datagram)
    root = only_root(spans)
    assert (root["name"], root["kind"], root["function"]) == (FUNCTION, "SERVER", FUNCTION)
    assert root["traceId"] == TRACE_ID and root["parentSpanId"] == PARENT
    assert (
        root["attributes"].items()
        >= {
            "faas.coldstart": True,
            "faas.invocation_id": "req-1",
            "http.route": "POST /api/orders",
            "orders.correlation_id": "corr-1",
            "http.response.status_code": 201,
        }.items()
    )
    assert [child["name"] for child in root["children"]] == ["load order", "price_lines"]
    step, lines = root["children"]
    assert step["kind"] == "INTERNAL" and step["attributes"] == {"orders.order_id": "o-1"}
    assert lines["kind"] == "INTERNAL" and lines["children"] == []
    (call,) = step["children"]
    assert (call["name"], call["kind"]) == ("DynamoDB.GetItem", "CLIENT")
    assert call["attributes"]["rpc.system"] == "aws-api"
    assert call["attributes"]["rpc.service"] == "DynamoDB" and call["attributes"]["rpc.method"] == "GetItem"
    assert call["attributes"]["aws.dynamodb.table_names"] == [TABLE]
    assert call["attributes"]["http.response.status_code"] == 200
    assert call["attributes"]["aws.request_id"]
    assert all(span["traceId"] == TRACE_ID and span["status"] == "UNSET" for span in spans)
    # The handler's answer is its own; a downstream call made in the step would be the step's child.
    assert (result["statusCode"], result["body"], result["lines"]) == (201, "o-1", 6)
    assert result["downstream"] == f"Root={TRACE_ID};Parent={step['spanId']};Sampled=1"

    # The same datagram read with opentelemetry-proto alone, not the collector.
    request = otlp_request(datagram)
    (resource_spans,) = request.resource_spans
    resource = {item.key: item.value.string_value for item in resource_spans.resource.attributes}
    assert resource["faas.name"] == FUNCTION and resource["cloud.platform"] == "aws_lambda"
    assert resource["service.name"] == TEST_ENV["POWERTOOLS_SERVICE_NAME"]
    assert resource["cloud.region"] == TEST_ENV["AWS_REGION"]
    raw = [span for scope in resource_spans.scope_spans for span in scope.spans]
    assert {scope.scope.name for scope in resource_spans.scope_spans} == {tracing.SCOPE}
    assert {span.span_id.hex(): span.name for span in raw} == {span["spanId"]: span["name"] for span in spans}
    (server,) = [span for span in raw if span.kind == Span.SpanKind.SPAN_KIND_SERVER]
    assert server.trace_id == bytes.fromhex(TRACE_ID[2:].replace("-", ""))
    assert server.parent_span_id == bytes.fromhex(PARENT)
    assert all(span.end_time_unix_nano >= span.start_time_unix_nano > 0 for span in raw)
    # Exactly the spans of this invocation, and the socket never blocks a request.
    assert traced.waiting() == []
    assert exporter().dropped == 0 and exporter()._socket is not None
    assert exporter()._socket.gettimeout() == 0.0


def test_only_the_first_invocation_of_the_process_is_a_cold_start(traced):
    answering({}, CONTEXT)
    answering({}, CONTEXT)

    first, second = (only_root(spans_of(traced.receive())) for _ in range(2))
    assert first["attributes"]["faas.coldstart"] is True
    assert second["attributes"]["faas.coldstart"] is False
    # Each datagram holds its own invocation's spans only: nothing is carried over.
    assert first["spanId"] != second["spanId"]
    assert len(list(nodes([second]))) == 3


def test_capture_method_makes_a_child_span_of_the_current_one_per_call(traced):
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> list[int]:
        with tracing.span("price"):
            nested = price_lines(1)
        return [price_lines(2), price_lines(3), nested]

    assert handler({}, CONTEXT) == [4, 6, 2]

    root = only_root(spans_of(traced.receive()))
    assert [child["name"] for child in root["children"]] == ["price", "price_lines", "price_lines"]
    assert [child["name"] for child in root["children"][0]["children"]] == ["price_lines"]
    assert all(span["kind"] == "INTERNAL" for span in named([root], "price_lines"))


def test_a_failing_handler_still_sends_its_spans_marked_as_errors_and_raises(traced):
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> None:
        with tracing.span("reserve"):
            raise RuntimeError("inventory down")

    with pytest.raises(RuntimeError, match="inventory down"):
        handler(API_EVENT, CONTEXT)

    root = only_root(spans_of(traced.receive()))
    (step,) = root["children"]
    assert (root["status"], step["status"]) == ("ERROR", "ERROR")
    assert "RuntimeError" in root["statusMessage"] and "exception" in root["events"]
    # The next invocation is traced afresh: its own spans, none of the failed one's.
    assert answering({}, CONTEXT)["statusCode"] == 200
    assert {span["name"] for span in spans_of(traced.receive())} == {FUNCTION, "step", "price_lines"}


@pytest.mark.parametrize(("status", "span_status"), [(503, "ERROR"), (404, "UNSET"), (200, "UNSET")])
def test_a_server_error_answer_marks_the_root_span_failed_and_a_client_error_does_not(
    traced, status, span_status
):
    assert answering({"status": status}, CONTEXT)["statusCode"] == status

    root = only_root(spans_of(traced.receive()))
    assert root["attributes"]["http.response.status_code"] == status
    assert root["status"] == span_status


def test_a_failed_aws_call_is_an_error_span(traced, dynamodb):
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> str:
        try:
            dynamodb.get_item(TableName="no-such-table", Key=KEY)
        except dynamodb.exceptions.ResourceNotFoundException:
            return "handled"
        return "found"

    assert handler({}, CONTEXT) == "handled"

    (call,) = named(span_tree(spans_of(traced.receive())), "DynamoDB.GetItem")
    assert call["status"] == "ERROR" and call["statusMessage"] == "ResourceNotFoundException"
    assert call["attributes"]["http.response.status_code"] == 400
    assert call["attributes"]["aws.dynamodb.table_names"] == ["no-such-table"]


# ------------------------------------------------------------------------------------------ tracing off
UNTRACED = {
    "unsampled": {tracing.TRACE_HEADER_VARIABLE: UNSAMPLED},
    "disabled": {tracing.TRACE_HEADER_VARIABLE: SAMPLED, tracing.DISABLED_VARIABLE: "true"},
    "disabled, as written by hand": {
        tracing.TRACE_HEADER_VARIABLE: SAMPLED,
        tracing.DISABLED_VARIABLE: " TRUE ",
    },
    "outside Lambda's tracing": {},
}


@pytest.mark.parametrize("environment", UNTRACED.values(), ids=UNTRACED.keys())
def test_an_untraced_invocation_runs_the_handler_and_sends_nothing(
    traced, dynamodb, monkeypatch, environment
):
    dynamodb.put_item(TableName=TABLE, Item={**KEY, "id": {"S": "o-1"}})
    monkeypatch.delenv(tracing.TRACE_HEADER_VARIABLE)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    result = loading_handler(dynamodb)(API_EVENT, CONTEXT)

    assert (result["statusCode"], result["body"], result["lines"]) == (201, "o-1", 6)
    assert result["downstream"] is None  # no span to be the parent of a downstream call
    assert tracing._pipeline.cache_info().currsize == 0
    assert traced.waiting() == []
    # Control: the same socket gets the next sampled invocation's spans, and those first.
    monkeypatch.setenv(tracing.TRACE_HEADER_VARIABLE, SAMPLED)
    monkeypatch.delenv(tracing.DISABLED_VARIABLE, raising=False)
    answering({}, CONTEXT)
    assert {span["name"] for span in spans_of(traced.receive())} == {FUNCTION, "step", "price_lines"}


CHILD = r"""
import json, sys
from botocore.stub import Stubber
import boto3
from orders import tracing

tracer = tracing.Tracer()
client = tracing.instrument(boto3.client("dynamodb", region_name="us-east-1"))

@tracer.capture_method
def step():
    with tracing.span("inner") as inner:
        inner.set_attribute("orders.step", 1)
        return client.get_item(TableName="orders", Key={"PK": {"S": "x"}})["Item"]["id"]["S"]

@tracer.capture_lambda_handler
def handler(event, context):
    return {"statusCode": 200, "id": step(), "downstream": tracing.outgoing_trace_header()}

with Stubber(client) as stubber:
    stubber.add_response("get_item", {"Item": {"id": {"S": "o-1"}}})
    result = handler({"routeKey": "GET /api/orders/{id}", "requestContext": {"requestId": "r-1"}}, None)
print(json.dumps({
    "result": result,
    "opentelemetry": sorted(
        name for name in sys.modules if name.partition(".")[0] in ("opentelemetry", "google", "aws_xray_sdk")
    ),
    "pipelines": tracing._pipeline.cache_info().currsize,
}))
"""


@pytest.mark.parametrize(
    ("environment", "traced_here"),
    [
        *((environment, False) for environment in UNTRACED.values()),
        ({tracing.TRACE_HEADER_VARIABLE: SAMPLED}, True),
    ],
    ids=[*UNTRACED.keys(), "sampled (control)"],
)
def test_no_process_imports_a_tracing_library_and_an_untraced_one_builds_nothing(
    agent, environment, traced_here
):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in (tracing.TRACE_HEADER_VARIABLE, tracing.DISABLED_VARIABLE)
    }
    env |= environment | {
        tracing.AGENT_ADDRESS_VARIABLE: agent.address,
        "PYTHONPATH": str(ROOT / "layers/orders/python"),
    }
    completed = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["result"]["statusCode"] == 200 and report["result"]["id"] == "o-1"
    # Neither OpenTelemetry's SDK nor protobuf nor the X-Ray SDK: orders.tracing writes OTLP itself.
    assert report["opentelemetry"] == []
    if traced_here:
        assert report["pipelines"] == 1
        assert report["result"]["downstream"].startswith(f"Root={TRACE_ID};Parent=")
        assert {span["name"] for span in spans_of(agent.receive())} >= {"step", "inner"}
    else:
        assert report["pipelines"] == 0
        assert report["result"]["downstream"] is None
        assert agent.waiting() == []


# ------------------------------------------------------------------------------------------ exporter trouble
def test_an_agent_that_is_not_listening_costs_the_request_nothing(traced, monkeypatch):
    monkeypatch.setenv(tracing.AGENT_ADDRESS_VARIABLE, f"127.0.0.1:{closed_port()}")

    # The second send follows the first one's ICMP "port unreachable": still no error reaches the handler.
    results = [answering({"status": 201}, CONTEXT) for _ in range(3)]

    assert results == [{"statusCode": 201, "lines": 4}] * 3
    assert exporter()._socket is not None and exporter()._socket.gettimeout() == 0.0
    assert traced.waiting() == []


def test_an_unresolvable_agent_drops_the_spans_and_counts_them(traced, monkeypatch):
    monkeypatch.setenv(tracing.AGENT_ADDRESS_VARIABLE, "no-such-agent.invalid:2000")

    results = [answering({"status": 201}, CONTEXT) for _ in range(2)]

    assert results == [{"statusCode": 201, "lines": 4}] * 2
    assert exporter().dropped == 2


def test_an_agent_port_out_of_range_drops_the_spans_and_counts_them(traced, monkeypatch):
    monkeypatch.setenv(tracing.AGENT_ADDRESS_VARIABLE, "127.0.0.1:70000")

    assert answering({"status": 201}, CONTEXT) == {"statusCode": 201, "lines": 4}
    assert exporter().dropped == 1


def test_a_malformed_agent_address_leaves_the_invocation_untraced_and_builds_nothing(traced, monkeypatch):
    monkeypatch.setenv(tracing.AGENT_ADDRESS_VARIABLE, "not-an-address")

    results = [answering({"status": 201}, CONTEXT) for _ in range(3)]

    assert results == [{"statusCode": 201, "lines": 4}] * 3
    assert tracing._pipeline.cache_info().currsize == 0
    assert traced.waiting() == []
    # Control: once the address is right, the same process traces.
    monkeypatch.setenv(tracing.AGENT_ADDRESS_VARIABLE, traced.address)
    answering({}, CONTEXT)
    assert {span["name"] for span in spans_of(traced.receive())} == {FUNCTION, "step", "price_lines"}


class FullBufferSocket(socket.socket):
    """The agent is slow: the socket's send buffer is full, a non-blocking send fails at once."""

    def sendto(self, *_: Any) -> int:
        raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))


def test_a_full_send_buffer_drops_the_spans_and_never_waits(traced, monkeypatch):
    sockets = SimpleNamespace(socket=FullBufferSocket, AF_INET=socket.AF_INET, SOCK_DGRAM=socket.SOCK_DGRAM)
    monkeypatch.setattr(tracing, "socket", sockets)

    results = [answering({"status": 201}, CONTEXT) for _ in range(2)]

    assert results == [{"statusCode": 201, "lines": 4}] * 2
    assert isinstance(exporter()._socket, FullBufferSocket)
    assert exporter()._socket.gettimeout() == 0.0  # non-blocking: a full buffer is an error, not a wait
    assert exporter().dropped == 2
    assert traced.waiting() == []


def test_an_encoder_failure_drops_that_invocations_spans_only(traced, monkeypatch):
    encode = tracing.export_request
    broken = [True]

    def failing(*args: Any) -> bytes:
        if broken[0]:
            raise RuntimeError("encoder bug")
        return encode(*args)

    monkeypatch.setattr(tracing, "export_request", failing)

    assert answering({"status": 201}, CONTEXT) == {"statusCode": 201, "lines": 4}
    assert exporter().dropped == 1
    assert traced.waiting() == []

    broken[0] = False
    answering({}, CONTEXT)
    assert len(spans_of(traced.receive())) == 3  # the next invocation's, not the lost ones again
    assert exporter().dropped == 1


def test_a_span_too_big_for_any_datagram_is_dropped_and_counted_and_the_others_leave(traced):
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> str:
        with tracing.span("huge") as huge:
            huge.set_attribute("orders.blob", "x" * 100_000)
        with tracing.span("small"):
            pass
        return "answered"

    assert handler({}, CONTEXT) == "answered"

    assert {span["name"] for span in spans_of(traced.receive())} == {FUNCTION, "small"}
    assert exporter().dropped == 1


# ------------------------------------------------------------------------------------------ big invocations
class RecordingSocket(socket.socket):
    """A real socket that keeps what it sends (a receiver could not keep up with this burst)."""

    sent: list[bytes]

    def sendto(self, data: Any, *rest: Any) -> int:
        RecordingSocket.sent.append(bytes(data))
        return int(super().sendto(data, *rest))


def test_a_big_invocation_is_split_into_datagrams_that_fit_and_hold_every_span(traced, monkeypatch):
    RecordingSocket.sent = []
    sockets = SimpleNamespace(socket=RecordingSocket, AF_INET=socket.AF_INET, SOCK_DGRAM=socket.SOCK_DGRAM)
    monkeypatch.setattr(tracing, "socket", sockets)

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> int:
        for index in range(2_000):
            with tracing.span(f"step {index}") as step:
                step.set_attribute("orders.detail", f"{index:05d}" + "d" * 400)
        return 2_000

    assert handler({}, CONTEXT) == 2_000

    sent = RecordingSocket.sent
    assert len(sent) > 1
    assert all(len(datagram) <= MAX_UDP_PAYLOAD for datagram in sent)
    spans = [span for datagram in sent for span in spans_of(datagram)]
    assert len(spans) == 2_001 and len({span["spanId"] for span in spans}) == 2_001
    assert {span["name"] for span in spans} == {FUNCTION} | {f"step {index}" for index in range(2_000)}
    root = only_root(spans)  # one tree again once every datagram is read
    assert len(root["children"]) == 2_000
    assert exporter().dropped == 0


# ------------------------------------------------------------------------------------------ reading settings
@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("127.0.0.1:2000", ("127.0.0.1", 2000)),
        ("169.254.79.129:2000", ("169.254.79.129", 2000)),
        ("tcp:127.0.0.1:2000 udp:169.254.79.129:3000", ("169.254.79.129", 3000)),
        ("udp:10.0.0.1:2001 tcp:10.0.0.2:2002", ("10.0.0.1", 2001)),
        ("localhost:4000", ("localhost", 4000)),
        (None, ("127.0.0.1", 2000)),
        ("", ("127.0.0.1", 2000)),
    ],
)
def test_the_agent_address_is_the_udp_one(value, address):
    assert tracing.agent_address(value) == address


@pytest.mark.parametrize("value", ["not-an-address", "127.0.0.1:", "127.0.0.1:port"])
def test_an_agent_address_without_a_port_is_refused(value):
    with pytest.raises(ValueError):
        tracing.agent_address(value)


@pytest.mark.parametrize(
    ("header", "fields"),
    [
        (SAMPLED, {"Root": TRACE_ID, "Parent": PARENT, "Sampled": "1"}),
        (f"Root={TRACE_ID}; Sampled=0", {"Root": TRACE_ID, "Sampled": "0"}),
        (
            f"Root={TRACE_ID};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1|68fd508a:5",
            {"Root": TRACE_ID, "Parent": PARENT, "Sampled": "1", "Lineage": "a87bd80c:1|68fd508a:5"},
        ),
        ("Sampled=?;Root=;;Parent", {"Sampled": "?"}),
        ("", {}),
        (None, {}),
    ],
)
def test_the_trace_header_fields(header, fields):
    assert tracing.trace_header_fields(header) == fields


def test_the_current_trace_id_is_read_without_opentelemetry_sampled_or_not(monkeypatch):
    monkeypatch.setenv(tracing.TRACE_HEADER_VARIABLE, UNSAMPLED)
    assert tracing.current_trace_id() == TRACE_ID
    monkeypatch.setenv(tracing.TRACE_HEADER_VARIABLE, f"Parent={PARENT};Sampled=1")
    assert tracing.current_trace_id() is None
    monkeypatch.delenv(tracing.TRACE_HEADER_VARIABLE)
    assert tracing.current_trace_id() is None


# ------------------------------------------------------------------------------------------ storage and events
def header(trace_id: str) -> str:
    return f"Root={trace_id};Parent={PARENT};Sampled=0"


CREATE_TRACE, CONFIRM_TRACE, CANCEL_TRACE = (f"1-6b12ed7{digit}-{digit * 24}" for digit in "123")


def test_each_version_keeps_the_trace_id_of_the_request_that_made_it_and_its_event_carries_it(
    dynamodb, monkeypatch
):
    repository = OrderRepository(dynamodb, TABLE)
    service = make_service(repository)
    admin = Caller("admin-1", True)
    monkeypatch.setenv(tracing.TRACE_HEADER_VARIABLE, header(CREATE_TRACE))
    order = service.create(Caller("user-1", False), CreateOrderRequest.model_validate(ORDER_REQUEST))
    monkeypatch.setenv(tracing.TRACE_HEADER_VARIABLE, header(CONFIRM_TRACE))
    service.change_status(admin, order.id, OrderStatus.CONFIRMED)
    monkeypatch.delenv(tracing.TRACE_HEADER_VARIABLE)  # a change made outside Lambda's tracing
    service.change_status(admin, order.id, OrderStatus.PROCESSING)
    monkeypatch.setenv(tracing.TRACE_HEADER_VARIABLE, header(CANCEL_TRACE))
    changed = service.change_status(admin, order.id, OrderStatus.CANCELLED)

    item = raw_order_item(dynamodb, order.id, TABLE)
    assert item is not None
    assert item[TRACE_ATTRIBUTE] == {"S": CANCEL_TRACE}
    assert item[CHANGE_TRACE_IDS] == {
        "L": [{"S": trace} for trace in (CREATE_TRACE, CONFIRM_TRACE, "", CANCEL_TRACE)]
    }
    # Bookkeeping, not part of the order the API returns.
    assert TRACE_ATTRIBUTE not in changed.model_dump(
        by_alias=True
    ) and CHANGE_TRACE_IDS not in changed.model_dump(by_alias=True)
    wire = repository.get_wire(order.id)
    assert wire is not None and TRACE_ATTRIBUTE not in wire and CHANGE_TRACE_IDS not in wire

    # Rebuilt (backfill): each version its own trace id, and its event says so.
    images = images_by_version(stream_image(item))
    assert [image.get(TRACE_ATTRIBUTE) or None for image in images] == [
        CREATE_TRACE,
        CONFIRM_TRACE,
        None,
        CANCEL_TRACE,
    ]
    rebuilt = [event_for("INSERT", None, images[0])] + [
        event_for("MODIFY", old, new) for old, new in itertools.pairwise(images)
    ]
    expected = [CREATE_TRACE, CONFIRM_TRACE, None, CANCEL_TRACE]
    assert [event.detail.get("traceId") if event else "no event" for event in rebuilt] == expected
    # Live: the table's own stream records make the same events.
    live = []
    for record in stream_records(TABLE):
        new, old = (
            stream_image(record["dynamodb"].get(side, {})) or None for side in ("NewImage", "OldImage")
        )
        if (event := event_for(record["eventName"], old, new)) is not None:
            live.append(event.detail.get("traceId"))
    assert live == expected


class RecordingEvents:
    """EventBridge as the publisher calls it: accepts every entry, keeps them."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {
            "FailedEntryCount": 0,
            "Entries": [{"EventId": f"e-{index}"} for index, _ in enumerate(Entries)],
        }


def order_events(*trace_ids: str | None) -> list[Pending]:
    """The OrderCreated event of one order per trace id (None: an order created outside tracing)."""
    pending = []
    for index, trace_id in enumerate(trace_ids):
        image = order_item(f"o-{index}") | ({TRACE_ATTRIBUTE: trace_id} if trace_id else {})
        event = event_for("INSERT", None, image)
        assert event is not None
        pending.append(Pending(f"seq-{index}", event))
    return pending


def test_put_events_entries_carry_the_trace_header_of_the_request_that_caused_them():
    bus = RecordingEvents()
    pending = order_events(CREATE_TRACE, None, CANCEL_TRACE)

    assert EventBusPublisher(bus, "orders-test").publish_in_order(pending) == set()

    assert [entry.get("TraceHeader") for entry in bus.entries] == [
        f"Root={CREATE_TRACE}",
        None,
        f"Root={CANCEL_TRACE}",
    ]
    assert [json.loads(entry["Detail"]).get("traceId") for entry in bus.entries] == [
        CREATE_TRACE,
        None,
        CANCEL_TRACE,
    ]


def test_the_consumers_publish_span_names_the_requests_that_caused_its_events(traced):
    with mock_aws():
        events = tracing.instrument(boto3.client("events", region_name=TEST_ENV["AWS_REGION"]))
        publisher = EventBusPublisher(events, "default")

        @tracer.capture_lambda_handler
        def consumer(event: dict[str, Any], context: Any) -> set[str]:
            return publisher.publish_in_order(order_events(CANCEL_TRACE, None, CREATE_TRACE, CREATE_TRACE))

        assert consumer({"Records": [{}, {}, {}, {}]}, CONTEXT) == set()

    root = only_root(spans_of(traced.receive()))
    assert root["attributes"]["faas.trigger"] == "datasource" and root["attributes"]["orders.batch_size"] == 4
    (publish,) = root["children"]
    assert publish["name"] == "publish events"
    assert publish["attributes"]["orders.source_trace_ids"] == sorted([CANCEL_TRACE, CREATE_TRACE])
    (put,) = publish["children"]
    assert (put["name"], put["kind"], put["status"]) == ("EventBridge.PutEvents", "CLIENT", "UNSET")
    assert put["attributes"]["rpc.service"] == "EventBridge" and put["attributes"]["aws.events.entries"] == 4
    assert put["attributes"]["http.response.status_code"] == 200
    # The consumer's trace is its own (Lambda's for the batch); the requests' traces are joined by id.
    assert root["traceId"] == TRACE_ID
