"""Functions that read orders never load pydantic (about a fifth of a cold start, see bench/), no valid request
loads Powertools' resolver, its event classes or its batch utility (issue 20: off the request path), and the
health check loads nothing but `json`.

Each check runs the real handler in a fresh interpreter with Lambda's layout on `sys.path` (the function's
folder, the orders layer, the packages), its AWS clients answered by botocore's Stubber, and reports which
modules it loaded from import to the end of its first invocation. Traced (Lambda's sampled header, an agent
socket), no function loads the X-Ray SDK, OpenTelemetry's SDK or protobuf: orders.tracing records OTLP spans
and writes their protobuf itself.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from orders.domain.caller import Caller
from orders.domain.models import CreateOrderRequest
from orders.storage import repository

from bench.infra import LIBRARY_IMPORTS
from local.aws.traces import spans_of
from tests.support.domain import make_service
from tests.support.fake_repository import FakeOrderRepository
from tests.support.lambda_runtime import sample_event
from tests.support.servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
ALICE = Caller("alice", False)

CHILD = r"""
import contextlib, json, sys
from botocore.stub import Stubber

config = json.loads(sys.argv[1])
app = __import__("app")

with contextlib.ExitStack() as stubs:
    if config["client"]:  # a function that calls AWS (the health check does not)
        from orders import wiring as settings

        stubber = stubs.enter_context(Stubber(getattr(settings, config["client"])()))
        stubber.add_response(config["operation"], config["response"])
    context = type("Context", (), {
        "function_name": "test", "memory_limit_in_mb": 256, "aws_request_id": "req-1",
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:test",
        "get_remaining_time_in_millis": lambda self: 10_000,
    })()
    result = app.lambda_handler(config["event"], context)
    if config["client"]:
        stubber.assert_no_pending_responses()
print(json.dumps({"result": result, "modules": sorted(sys.modules)}))
"""


def run_first_invocation(
    function: str,
    client: str | None,
    operation: str | None,
    response: dict | None,
    event: dict,
    extra_env: dict[str, str] | None = None,
) -> dict:
    """`extra_env`: more of the function's environment (tracing's variables, upstream URLs)."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TABLE_NAME": "orders",
        "EVENT_BUS_NAME": "orders",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_METRICS_NAMESPACE": "Orders",
        "PYTHONPATH": "",
        **(extra_env or {}),
    }
    path = [
        str(ROOT / "functions" / function),
        str(ROOT / "layers/orders/python"),
        sysconfig.get_paths()["purelib"],
    ]
    script = f"import sys; sys.path[:0] = {path!r}\n" + CHILD
    config = {"client": client, "operation": operation, "response": response, "event": event}
    completed = subprocess.run(
        [sys.executable, "-I", "-c", script, json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def stored_item() -> dict:
    request = CreateOrderRequest.model_validate(
        {
            "items": [{"productId": "prod-1", "quantity": 2}, {"productId": "prod-2", "quantity": 1}],
            "shippingAddress": {"street": "1 Main St", "city": "Springfield", "zipCode": "12345"},
        }
    )
    fake = FakeOrderRepository()
    order = make_service(fake, currency="USD").create(ALICE, request)
    item = repository._to_item(order, correlation_id="corr-1")
    return json.loads(json.dumps(item))


def test_get_order_answers_without_loading_pydantic():
    item = stored_item()
    order_id = item["id"]["S"]
    event = sample_event("get_order")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/api/orders/{order_id}"
    event["pathParameters"] = {"id": order_id}
    event["requestContext"]["authorizer"]["jwt"]["claims"].update(
        sub=ALICE.user_id, **{"cognito:groups": "[users]"}
    )

    report = run_first_invocation("get_order", "dynamodb_client", "get_item", {"Item": item}, event)

    assert report["result"]["statusCode"] == 200, report["result"]
    body = json.loads(report["result"]["body"])
    assert body["id"] == order_id and body["userId"] == ALICE.user_id
    assert not [name for name in report["modules"] if name.split(".")[0] in ("pydantic", "pydantic_core")]
    assert not off_the_request_path(report["modules"])


# Powertools' resolver, its validation and OpenAPI machinery, its event classes and its batch utility: only for
# the OpenAPI document and for requests the router leaves to Powertools (orders.http.routes), never a valid one.
OFF_THE_PATH = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.batch",
    "asyncio",
)


def off_the_request_path(modules: list[str]) -> list[str]:
    return [name for name in modules if name.startswith(OFF_THE_PATH)]


def test_a_listing_answers_without_loading_pydantic():
    """The listing's parameters are checked by the router and its page is built from the items (`list_wire`)."""
    item = stored_item()
    event = sample_event("list_user_orders")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/api/users/{ALICE.user_id}/orders"
    event["pathParameters"] = {"userId": ALICE.user_id}
    event["requestContext"]["authorizer"]["jwt"]["claims"].update(
        sub=ALICE.user_id, **{"cognito:groups": "[users]"}
    )

    report = run_first_invocation("list_user_orders", "dynamodb_client", "query", {"Items": [item]}, event)

    assert report["result"]["statusCode"] == 200, report["result"]
    assert [order["id"] for order in json.loads(report["result"]["body"])["items"]] == [item["id"]["S"]]
    assert not [name for name in report["modules"] if name.split(".")[0] in ("pydantic", "pydantic_core")]
    assert not off_the_request_path(report["modules"])


def test_stream_consumer_publishes_without_loading_pydantic():
    event = sample_event("order_events")
    event["Records"] = [record for record in event["Records"] if record["eventName"] == "INSERT"]
    assert event["Records"]

    report = run_first_invocation(
        "order_events",
        "events_client",
        "put_events",
        {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]},
        event,
    )

    assert report["result"] == {"batchItemFailures": []}
    assert not [name for name in report["modules"] if name.split(".")[0] in ("pydantic", "pydantic_core")]
    assert not off_the_request_path(report["modules"])


HEALTH_CHILD = r"""
import sys
before = set(sys.modules)
import json  # what the health check may load: json and what json loads
with_json = set(sys.modules)
app = __import__("app")
result = app.lambda_handler({"rawPath": "/health"}, None)
print(json.dumps({"result": result, "json": sorted(with_json - before), "loaded": sorted(set(sys.modules) - with_json)}))
"""


def test_the_health_check_loads_nothing_but_json():
    # Not even `typing` (several milliseconds of a cold start): its annotations are never evaluated.
    script = f"import sys; sys.path[:0] = [{str(ROOT / 'functions' / 'health')!r}]\n" + HEALTH_CHILD
    completed = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["result"]["statusCode"] == 200
    assert report["loaded"] == ["__future__", "app"]


# ------------------------------------------------------------------------------------------ traced
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
# Every function of the template's folders: one without a case below fails, rather than go unchecked.
FUNCTIONS = sorted(path.name for path in (ROOT / "functions").iterdir() if (path / "app.py").exists())


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    """The user and inventory stubs (local/stubs/upstream.py, seeded as `make dev`'s) for create_order."""
    servers = ServerProcess("stub")
    try:
        yield servers.urls["upstream"]
    finally:
        servers.stop()


def api_event(function: str, path: str, **path_parameters: str) -> dict:
    event = sample_event(function)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = path_parameters
    event["requestContext"]["authorizer"]["jwt"]["claims"].update(sub=ALICE.user_id)
    return event


def first_invocation_env(upstream_url: str) -> dict[str, str]:
    """What every function's first invocation (`first_invocation_of`) needs of its environment besides
    run_first_invocation's: the cursor secret, the upstream stubs."""
    return {
        "CURSOR_SECRET": "test-cursor-secret-0123456789abcdef",
        # One shard: the cross-user listing's page is then one Query, the one response stubbed.
        "STATUS_INDEX_SHARDS": "1",
        "USERS_API_URL": upstream_url,
        "INVENTORY_API_URL": upstream_url,
    }


def first_invocation_of(function: str) -> tuple[str | None, str | None, dict | None, dict, object]:
    """(client, operation, response, event, the handler's expected answer: a status code or the result)."""
    if function == "health":
        return None, None, None, sample_event("health"), 200
    item = stored_item()
    order_id = item["id"]["S"]
    if function == "get_order":
        event = api_event(function, f"/api/orders/{order_id}", id=order_id)
        return "dynamodb_client", "get_item", {"Item": item}, event, 200
    if function == "list_user_orders":
        event = api_event(function, f"/api/users/{ALICE.user_id}/orders", userId=ALICE.user_id)
        return "dynamodb_client", "query", {"Items": [item]}, event, 200
    if function == "list_orders":
        return "dynamodb_client", "query", {"Items": [item]}, sample_event(function), 200
    if function == "create_order":
        event = sample_event(function)  # user-123 orders the README's prod-456, from the seeded stubs
        event["headers"].pop("idempotency-key")
        return "dynamodb_client", "put_item", {}, event, 201
    if function == "update_order_status":
        history = item["statusHistory"]["L"]
        cancelled = {"M": {**history[0]["M"], "status": {"S": "cancelled"}}}
        changed = item | {
            "status": {"S": "cancelled"},
            "version": {"N": "2"},
            "statusHistory": {"L": [*history, cancelled]},
        }
        event = api_event(function, f"/api/orders/{order_id}/status", id=order_id)
        return "dynamodb_client", "update_item", {"Attributes": changed}, event, 200
    if function == "order_events":
        event = sample_event(function)
        event["Records"] = [record for record in event["Records"] if record["eventName"] == "INSERT"]
        put = {
            "FailedEntryCount": 0,
            "Entries": [{"EventId": f"e-{index}"} for index in range(len(event["Records"]))],
        }
        return "events_client", "put_events", put, event, {"batchItemFailures": []}
    raise AssertionError(f"no first invocation written for {function}")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_traced_cold_start_loads_no_tracing_library(function, upstream_url):
    agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    agent.bind(("127.0.0.1", 0))
    agent.settimeout(10)
    traced = {
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_DAEMON_ADDRESS": "{}:{}".format(*agent.getsockname()),
        "AWS_LAMBDA_FUNCTION_NAME": function,
        **first_invocation_env(upstream_url),
    }
    client, operation, response, event, expected = first_invocation_of(function)
    with agent:
        report = run_first_invocation(function, client, operation, response, event, traced)
        datagram = None if function == "health" else agent.recv(65_535)

    result = report["result"]
    assert (result["statusCode"] if isinstance(expected, int) else result) == expected, result
    loaded = report["modules"]
    assert not [name for name in loaded if name.split(".")[0] in ("aws_xray_sdk", "opentelemetry", "google")]
    if function == "health":  # it traces nothing, so loads nothing of tracing either
        assert "orders.tracing" not in loaded
        return
    # The control: this invocation was traced, and its spans reached the agent.
    assert "orders.tracing.otlp" in loaded
    assert datagram is not None
    roots = [span for span in spans_of(datagram) if span["kind"] == "SERVER"]
    assert [root["name"] for root in roots] == [function]


@pytest.mark.parametrize("function", sorted(LIBRARY_IMPORTS))
def test_the_benchmarks_floor_imports_only_what_the_function_loads(function, upstream_url):
    """bench's "baseline + libraries" cold start is the floor under a function's ratio: the raw-boto3 baseline
    importing the libraries the function is built on (bench.infra.LIBRARY_IMPORTS). A library there that the
    function's first invocation does not load would raise the floor above what the function pays."""
    client, operation, response, event, _ = first_invocation_of(function)
    env = first_invocation_env(upstream_url)
    loaded = set(run_first_invocation(function, client, operation, response, event, env)["modules"])
    assert LIBRARY_IMPORTS[function] and not set(LIBRARY_IMPORTS[function]) - loaded


def status_change(body: dict) -> tuple[dict, dict]:
    """A customer's status change of the stored order (the event) and the new image UpdateItem answers it with."""
    item = stored_item()
    order_id = item["id"]["S"]
    changed = {**item, "status": {"S": "cancelled"}, "version": {"N": "2"}}
    change = {
        "status": {"S": "cancelled"},
        "at": {"S": "2026-01-01T00:00:00.000Z"},
        "by": {"S": ALICE.user_id},
    }
    changed["statusHistory"] = {"L": [*item["statusHistory"]["L"], {"M": change}]}
    event = sample_event("update_order_status")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/api/orders/{order_id}/status"
    event["pathParameters"] = {"id": order_id}
    event["requestContext"]["authorizer"]["jwt"]["claims"].update(
        sub=ALICE.user_id, **{"cognito:groups": "[users]"}
    )
    event["body"] = json.dumps(body)
    event["headers"].pop("if-match", None)
    return event, changed


def test_a_validated_body_is_read_without_powertools_resolver():
    """A status change's body is checked in the router: nothing of Powertools' resolver, its validation or its
    event classes is loaded for a valid request."""
    event, changed = status_change({"status": "cancelled"})

    report = run_first_invocation(
        "update_order_status", "dynamodb_client", "update_item", {"Attributes": changed}, event
    )

    assert report["result"]["statusCode"] == 200, report["result"]
    assert json.loads(report["result"]["body"])["status"] == "cancelled"
    assert not off_the_request_path(report["modules"])


def test_a_status_change_answers_without_loading_pydantic():
    """Its body is read from its description (orders.domain.bodies), the history entry is plain data and the
    answer is built from UpdateItem's new image (orders.storage.wire): no model anywhere on the way."""
    event, changed = status_change({"status": "cancelled"})

    report = run_first_invocation(
        "update_order_status", "dynamodb_client", "update_item", {"Attributes": changed}, event
    )

    assert report["result"]["statusCode"] == 200, report["result"]
    body = json.loads(report["result"]["body"])
    assert body["status"] == "cancelled" and [change["status"] for change in body["statusHistory"]] == [
        "pending",
        "cancelled",
    ]
    assert report["result"]["headers"]["ETag"] == '"2"'
    assert not [name for name in report["modules"] if name.split(".")[0] in ("pydantic", "pydantic_core")]
    assert not off_the_request_path(report["modules"])


@pytest.mark.parametrize("body", [{"status": "lost"}, {"status": "cancelled", "note": "x"}, {}])
def test_an_invalid_status_change_is_refused_by_powertools_validation(body):
    """The control: a body its description does not settle is Powertools' to refuse, with the model (pydantic
    loaded), and nothing is written (no UpdateItem: the invocation calls no AWS)."""
    event, _ = status_change(body)

    report = run_first_invocation("update_order_status", None, None, None, event)

    assert report["result"]["statusCode"] == 400, report["result"]
    problem = json.loads(report["result"]["body"])
    assert problem["type"].endswith(":validation-error") and problem["errors"]
    loaded = report["modules"]
    assert "pydantic" in loaded and "orders.domain.models" in loaded
    assert "aws_lambda_powertools.event_handler.openapi.params" in loaded
