"""Every API sample in events/ runs through its function's real handler, as `sam local invoke -e` would
use it, and matches the route template.yaml declares for that function."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from orders import wiring
from orders.domain.caller import Caller
from orders.domain.models import CreateOrderRequest
from orders.domain.status import OrderStatus
from orders.storage.repository import OrderRepository

from local.template import load_template, resources_of_type
from tests.support.api_calls import assert_problem
from tests.support.domain import make_service
from tests.support.lambda_runtime import EVENTS, HttpResult, invoke, sample_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def http_event_files() -> list[Path]:
    """API Gateway HTTP API (payload 2.0) samples; stream-record samples belong to the consumer's tests."""
    return sorted(path for path in EVENTS.glob("*.json") if "routeKey" in json.loads(path.read_text()))


def seed_sample_order(function: str) -> str:
    """The order the get/update samples name, owned by their caller, created by the domain itself."""
    event = sample_event(function)
    order_id = event["pathParameters"]["id"]
    owner = event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    service = make_service(
        OrderRepository(wiring.dynamodb_client(), wiring.table_name()), new_id=lambda moment: order_id
    )
    request = CreateOrderRequest.model_validate(json.loads(sample_event("create_order")["body"]))
    service.create(Caller(owner, False), request.model_copy(update={"user_id": owner}))
    return order_id


def check_create(result: HttpResult) -> None:
    assert result.status == 201, result.raw_body
    assert '"total":59.98' in result.raw_body and '"lineTotal":59.98' in result.raw_body
    assert result.headers["Location"] == f"/api/orders/{result.body['id']}"
    assert result.headers["ETag"] == '"1"'


def check_get(result: HttpResult) -> None:
    assert result.status == 200, result.raw_body
    assert result.body["id"] == sample_event("get_order")["pathParameters"]["id"]
    assert result.headers["ETag"] == '"1"'


def check_update(result: HttpResult) -> None:
    assert result.status == 200, result.raw_body
    assert result.body["status"] == json.loads(sample_event("update_order_status")["body"])["status"]
    assert result.body["version"] == 2
    assert result.headers["ETag"] == '"2"'


def check_list(result: HttpResult) -> None:
    assert result.status == 200, result.raw_body
    assert [order["userId"] for order in result.body["items"]] == ["user-123"]
    assert result.body["nextCursor"] is None


def seed_confirmed_order() -> str:
    """An order confirmed just now: what the cross-user sample (an admin's confirmed orders of the last day,
    oldest first) lists."""
    order_id = seed_sample_order("get_order")
    make_service(OrderRepository(wiring.dynamodb_client(), wiring.table_name())).change_status(
        Caller("admin-1", True), order_id, OrderStatus.CONFIRMED
    )
    return order_id


def check_list_across_users(result: HttpResult) -> None:
    assert result.status == 200, result.raw_body
    assert [(order["id"], order["status"]) for order in result.body["items"]] == [
        (sample_event("get_order")["pathParameters"]["id"], "confirmed")
    ]
    assert result.body["nextCursor"] is None


def check_health(result: HttpResult) -> None:
    assert result.status == 200
    assert result.body == {"status": "ok", "service": "orders"}


CHECKS: dict[str, tuple[Callable[[], object] | None, Callable[[HttpResult], None]]] = {
    "create_order": (None, check_create),
    "get_order": (lambda: seed_sample_order("get_order"), check_get),
    "update_order_status": (lambda: seed_sample_order("update_order_status"), check_update),
    "list_user_orders": (lambda: seed_sample_order("get_order"), check_list),
    "list_orders": (seed_confirmed_order, check_list_across_users),
    "health": (None, check_health),
}


def test_the_samples_are_the_api_events():
    assert [path.stem for path in http_event_files()] == sorted(CHECKS)


@pytest.mark.parametrize("path", http_event_files(), ids=lambda path: path.name)
def test_sample_event_through_its_handler(api, path):
    assert path.stem in CHECKS, f"events/{path.name} has no test"
    seed, check = CHECKS[path.stem]
    if seed:
        seed()
    check(invoke(path.stem, json.loads(path.read_text())))


@pytest.mark.parametrize("function", ["get_order", "update_order_status"])
def test_sample_event_for_an_order_that_does_not_exist(api, function):
    assert_problem(invoke(function, sample_event(function)), 404)


def test_sample_event_for_a_user_without_orders(api):
    result = invoke("list_user_orders", sample_event("list_user_orders"))
    assert result.status == 200
    assert result.body == {"items": [], "nextCursor": None}


def template_routes() -> dict[str, str]:
    """Function folder name -> "METHOD /path" of its HttpApi event in template.yaml."""
    routes = {}
    for resource in resources_of_type(load_template(), "AWS::Serverless::Function").values():
        properties = resource["Properties"]
        for event in (properties.get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                folder = Path(properties["CodeUri"]).name
                routes[folder] = f"{event['Properties']['Method']} {event['Properties']['Path']}"
    return routes


def test_every_routed_function_has_a_sample_with_its_route():
    routes = template_routes()
    samples = {path.stem: json.loads(path.read_text()) for path in http_event_files()}
    assert sorted(routes) == sorted(samples)
    for function, route in routes.items():
        event = samples[function]
        assert event["routeKey"] == route == event["requestContext"]["routeKey"], function
        assert event["requestContext"]["http"]["method"] == route.split()[0]
        assert event["rawPath"] == event["requestContext"]["http"]["path"]
