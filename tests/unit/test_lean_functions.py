"""Functions that read orders never load pydantic (about a fifth of a cold start, see bench/), and the health
check loads nothing but `json`.

Each check runs the real handler in a fresh interpreter with Lambda's layout on `sys.path` (the function's
folder, the orders layer, the packages), its AWS clients answered by botocore's Stubber, and reports which
modules it loaded from import to the end of its first invocation.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

from orders.domain.caller import Caller
from orders.domain.models import CreateOrderRequest
from orders.storage import repository

from tests.support.domain import make_service
from tests.support.fake_repository import FakeOrderRepository
from tests.support.lambda_runtime import sample_event

ROOT = Path(__file__).resolve().parents[2]
ALICE = Caller("alice", False)

CHILD = r"""
import json, sys
from botocore.stub import Stubber

config = json.loads(sys.argv[1])
app = __import__("app")
from orders import wiring as settings

client = getattr(settings, config["client"])()
with Stubber(client) as stubber:
    stubber.add_response(config["operation"], config["response"])
    context = type("Context", (), {
        "function_name": "test", "memory_limit_in_mb": 256, "aws_request_id": "req-1",
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:test",
        "get_remaining_time_in_millis": lambda self: 10_000,
    })()
    result = app.lambda_handler(config["event"], context)
    stubber.assert_no_pending_responses()
print(json.dumps({"result": result, "modules": sorted(sys.modules)}))
"""


def run_first_invocation(function: str, client: str, operation: str, response: dict, event: dict) -> dict:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TABLE_NAME": "orders",
        "EVENT_BUS_NAME": "orders",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_METRICS_NAMESPACE": "Orders",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": "",
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
