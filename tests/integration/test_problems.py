"""Every 4xx/5xx any function returns is RFC 9457 problem+json: unknown routes, missing claims, and a
failure on our side (500, with a correlation id and nothing internal)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from orders import wiring

from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, SAMPLE_USER, assert_problem, order_body
from tests.support.dynamo import order_items
from tests.support.lambda_runtime import http_event, invoke

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

API_FUNCTIONS = ["create_order", "get_order", "update_order_status", "list_user_orders"]


def event_for(function: str, method: str, path: str, user: str | None = SAMPLE_USER) -> dict:
    event = http_event(function, user=user, path=path, path_parameters={})
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = "$default"
    event["requestContext"]["routeKey"] = "$default"
    return event


@pytest.mark.parametrize("function", API_FUNCTIONS)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/nope"), ("DELETE", "/api/orders/019ac0a1-2b3c-7d4e-8f60-123456789abc"), ("GET", "/")],
)
def test_unknown_route_is_a_404_problem(api, function, method, path):
    assert_problem(invoke(function, event_for(function, method, path)), 404)


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_sample_event_without_claims_is_a_401_problem(api, function):
    result = invoke(function, http_event(function, user=None))
    assert_problem(result, 401)


@pytest.mark.parametrize("function", API_FUNCTIONS)
@pytest.mark.parametrize(
    "claims",
    [{}, {"iss": "https://issuer.example"}, {"sub": ""}, {"sub": "user#1"}, {"cognito:groups": "[admin]"}],
    ids=["empty", "no-sub", "blank-sub", "odd-sub", "admin-group-without-sub"],
)
def test_claims_without_a_usable_subject_are_401(api, function, claims):
    event = http_event(function)
    event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    assert_problem(invoke(function, event), 401)


def test_a_failure_on_our_side_is_a_500_problem_with_a_correlation_id(api):
    order_id = calls.create_ok()["id"]
    api.delete_table(TableName="orders-test")
    results = [
        calls.create(SAMPLE_USER, order_body()),
        calls.get(order_id),
        calls.change_status(order_id, "cancelled"),
        calls.list_orders(SAMPLE_USER),
    ]
    for result in results:
        problem = assert_problem(result, 500)
        assert problem.get("correlationId")
        for internal in ("Traceback", "ResourceNotFound", "orders-test", "botocore"):
            assert internal not in result.raw_body


def test_problem_type_is_a_stable_uri_per_kind(api):
    forbidden = assert_problem(calls.list_orders(SAMPLE_USER, "user-456"), 403)
    not_found = assert_problem(calls.get("019ac0a1-2b3c-7d4e-8f60-123456789abc"), 404)
    invalid = assert_problem(calls.list_orders(SAMPLE_USER, limit="0"), 400)
    unauthenticated = assert_problem(calls.get("019ac0a1-2b3c-7d4e-8f60-123456789abc", None), 401)
    types = {forbidden["type"], not_found["type"], invalid["type"], unauthenticated["type"]}
    assert len(types) == 4
    assert all(":" in kind for kind in types)  # URIs (RFC 9457 3.1.1)
    again = assert_problem(calls.list_orders(ADMIN_USER, "user-456"), 403)
    assert again["type"] == forbidden["type"]


def test_health_needs_no_token_and_no_table(api):
    api.delete_table(TableName="orders-test")
    result = invoke("health", http_event("health", user=None))
    assert result.status == 200
    assert result.body["status"] == "ok"


def test_a_non_json_content_type_is_a_415_problem(api):
    event = http_event(
        "create_order", body=calls.json_text(order_body()), headers={"content-type": "text/plain"}
    )
    event["headers"].pop("idempotency-key", None)
    assert_problem(invoke("create_order", event), 415)


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8"])
def test_a_json_content_type_in_any_case_is_json(api, content_type):
    """Media types are case-insensitive (RFC 9110 8.3.1): the body is read, not refused with a 415."""
    created = calls.create(SAMPLE_USER, order_body(), headers={"content-type": content_type})
    assert created.status == 201, created.raw_body
    event = http_event(
        "update_order_status",
        path=f"/api/orders/{created.body['id']}/status",
        path_parameters={"id": created.body["id"]},
        body={"status": "cancelled"},
        headers={"content-type": content_type},
    )
    changed = invoke("update_order_status", event)
    assert changed.status == 200, changed.raw_body
    assert changed.body["status"] == "cancelled"


# ---------------------------------------------------------------------------------------- AWS unavailable
def _aws_fails(operation: str, error: Exception) -> None:
    """Every DynamoDB `operation` call raises `error`, as it reaches the code after botocore's retries."""

    def failed(**_: object) -> None:
        raise error

    wiring.dynamodb_client().meta.events.register(f"before-call.dynamodb.{operation}", failed)


THROTTLED = ClientError(
    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"}}, "Op"
)
UNAVAILABLE = ClientError(
    {"Error": {"Code": "ServiceUnavailable"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "Op"
)
TIMED_OUT = ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
ENDPOINTS = {  # each endpoint that reads or writes the table, and the call it makes first
    "get": ("GetItem", calls.get),
    "change status": ("UpdateItem", lambda order_id: calls.change_status(order_id, "cancelled")),
    "list a user's": ("Query", lambda _: calls.list_orders(SAMPLE_USER)),
    "list across users": (
        "Query",
        lambda _: invoke(
            "list_orders", http_event("list_orders", user=ADMIN_USER, admin=True, path="/api/orders")
        ),
    ),
    "create": ("PutItem", lambda _: calls.create(SAMPLE_USER, order_body())),
}


@pytest.mark.parametrize("error", [THROTTLED, UNAVAILABLE, TIMED_OUT], ids=["throttled", "5xx", "timeout"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_dynamodb_unavailable_is_a_503_with_retry_after(api, upstream, endpoint, error):
    """Busy or unreachable after botocore's retries: the client is told to retry, not that we have a bug; and
    nothing is half-written (a create's stock is released)."""
    order_id = calls.create_ok()["id"]
    operation, request = ENDPOINTS[endpoint]
    _aws_fails(operation, error)
    answer = request(order_id)
    assert_problem(answer, 503, "service-unavailable")
    assert answer.headers["Retry-After"] == "2"
    assert [item["id"]["S"] for item in order_items(api)] == [order_id]
    assert list(upstream.live_reservations()) == [order_id]


def test_a_dynamodb_refusal_no_code_expects_is_still_a_500(api):
    """A ValidationException is a request of ours DynamoDB refuses: a bug to fix, not a reason to retry."""
    order_id = calls.create_ok()["id"]
    refused = {"Error": {"Code": "ValidationException"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    _aws_fails("GetItem", ClientError(refused, "GetItem"))
    assert_problem(calls.get(order_id), 500, "internal-error")
