"""Traces through the local stack: each invocation is sampled (as Lambda's active tracing may decide) and
its functions send their spans to the stack's collector (`GET /_local/traces`), as they would to Lambda's
X-Ray agent. A request is one trace, from its function's root span down to each upstream and DynamoDB
call; the stream consumer's batches are traces of their own, joined to the requests by the events'
`traceId`."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest

from local.aws.traces import MAX_TRACES
from tests.e2e.harness import wait_for
from tests.e2e.test_readme import CREATE_BODY
from tests.e2e.test_streams import events_of
from tests.support.traces import named, nodes

pytestmark = pytest.mark.e2e

XRAY_TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")


def traces(stack, **query: Any) -> list[dict[str, Any]]:
    reply = stack.request("GET", "/_local/traces?" + urlencode(query))
    assert reply.status == 200, reply.text
    return reply.json()


def trace_of_request(stack, reply) -> dict[str, Any]:
    """The one trace of the API request that gave `reply` (found by its `apigw-requestid`)."""
    correlation_id = reply.headers["apigw-requestid"]
    found = wait_for(lambda: traces(stack, correlationId=correlation_id), timeout=15)
    assert len(found) == 1, found
    return found[0]


def event_of(stack, order_id: str, detail_type: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        matching = [event for event in events_of(stack, order_id) if event["detail-type"] == detail_type]
        return matching[0] if matching else None

    return wait_for(found, timeout=20)


def consumer_traces(stack) -> list[dict[str, Any]]:
    return [
        trace
        for trace in traces(stack, limit=MAX_TRACES)
        if [root["function"] for root in trace["spans"]] == ["OrderEventsFunction"]
    ]


def check_request_root(trace: dict[str, Any], function: str, route: str, status: int, correlation_id: str):
    (root,) = trace["spans"]
    assert (root["name"], root["kind"], root["function"]) == (function, "SERVER", function)
    assert root["attributes"]["http.route"] == route
    assert root["attributes"]["http.response.status_code"] == status
    assert root["attributes"]["orders.correlation_id"] == correlation_id
    assert XRAY_TRACE_ID.fullmatch(trace["traceId"])
    every = list(nodes(trace["spans"]))
    assert trace["spanCount"] == len(every)
    assert all(span["traceId"] == trace["traceId"] and span["function"] == function for span in every)
    assert root["status"] == ("ERROR" if status >= 500 else "UNSET")
    return root


def check_no_error(trace: dict[str, Any]) -> None:
    every = list(nodes(trace["spans"]))
    assert [span["name"] for span in every if span["status"] == "ERROR"] == [], every


def check_dynamodb_write(span: dict[str, Any], method: str) -> None:
    assert (span["name"], span["kind"]) == (f"DynamoDB.{method}", "CLIENT")
    assert span["attributes"]["rpc.service"] == "DynamoDB" and span["attributes"]["rpc.method"] == method
    assert span["attributes"]["http.response.status_code"] == 200
    assert span["attributes"]["aws.dynamodb.table_names"] == ["OrdersTable"]


# ------------------------------------------------------------------------------------------ a request
def test_a_create_is_one_trace_from_the_function_to_each_call_it_made(stack, mint):
    created = stack.request("POST", "/api/orders", token=mint("user-123"), body=CREATE_BODY)
    assert created.status == 201, created.text
    order_id = created.json()["id"]

    trace = trace_of_request(stack, created)

    root = check_request_root(
        trace, "CreateOrderFunction", "POST /api/orders", 201, created.headers["apigw-requestid"]
    )
    check_no_error(trace)
    (create,) = (child for child in root["children"] if child["name"] == "create_order")
    assert create["kind"] == "INTERNAL"
    calls = create["children"]  # in the order they started
    assert [call["name"] for call in calls[:2]] == ["user GET", "inventory POST"], calls
    user, inventory, *writes = calls
    assert user["kind"] == "CLIENT" and user["attributes"]["url.path"] == "/api/users/user-123"
    assert user["attributes"]["http.request.method"] == "GET"
    assert user["attributes"]["http.response.status_code"] == 200
    assert (
        inventory["kind"] == "CLIENT" and inventory["attributes"]["url.path"] == "/api/inventory/reservations"
    )
    assert inventory["attributes"]["http.request.method"] == "POST"
    assert inventory["attributes"]["http.response.status_code"] == 201
    assert writes, calls
    for write in writes:
        check_dynamodb_write(write, "PutItem")
    # The trace is also found by its id; and the order's event names it.
    assert traces(stack, traceId=trace["traceId"]) == [trace]
    assert event_of(stack, order_id, "OrderCreated")["detail"]["traceId"] == trace["traceId"]


# ------------------------------------------------------------------------------------------ the consumer
def test_the_consumers_batches_are_traces_of_their_own_joined_to_the_requests_by_the_events(stack, mint):
    owner = mint("user-123")
    created = stack.request("POST", "/api/orders", token=owner, body=CREATE_BODY)
    assert created.status == 201, created.text
    order_id = created.json()["id"]
    created_event = event_of(stack, order_id, "OrderCreated")  # published: the cancel is a later batch
    cancelled = stack.request(
        "PATCH", f"/api/orders/{order_id}/status", token=owner, body='{"status": "cancelled"}'
    )
    assert cancelled.status == 200, cancelled.text

    create_trace = trace_of_request(stack, created)
    cancel_trace = trace_of_request(stack, cancelled)
    root = check_request_root(
        cancel_trace,
        "UpdateOrderStatusFunction",
        "PATCH /api/orders/{id}/status",
        200,
        cancelled.headers["apigw-requestid"],
    )
    check_no_error(cancel_trace)
    (change,) = named([root], "update_order_status")
    (update,) = change["children"]
    check_dynamodb_write(update, "UpdateItem")
    # Each event carries the trace of the request that caused it.
    cancelled_event = event_of(stack, order_id, "OrderStatusChanged")
    assert created_event["detail"]["traceId"] == create_trace["traceId"]
    assert cancelled_event["detail"]["traceId"] == cancel_trace["traceId"]
    assert create_trace["traceId"] != cancel_trace["traceId"]

    def publishing(trace_id: str) -> list[dict[str, Any]]:
        """The consumer's traces whose `publish events` span names the request's trace."""
        return [
            trace
            for trace in consumer_traces(stack)
            for publish in named(trace["spans"], "publish events")
            if trace_id in publish["attributes"]["orders.source_trace_ids"]
        ]

    def releasing() -> list[dict[str, Any]]:
        return [
            trace
            for trace in consumer_traces(stack)
            if any(
                call["attributes"].get("url.path") == f"/api/inventory/reservations/{order_id}"
                for call in named(trace["spans"], "inventory DELETE")
            )
        ]

    # A batch retried (another test's fault, say) publishes again: every one of them is checked.
    published_created = wait_for(lambda: publishing(create_trace["traceId"]), timeout=20)
    published_cancel = wait_for(lambda: publishing(cancel_trace["traceId"]), timeout=20)
    released = wait_for(releasing, timeout=20)
    consumers = [*published_created, *published_cancel, *released]
    request_ids = {create_trace["traceId"], cancel_trace["traceId"]}
    assert not {trace["traceId"] for trace in consumers} & request_ids  # separate traces

    for trace in consumers:
        (batch,) = trace["spans"]
        assert (batch["name"], batch["kind"]) == ("OrderEventsFunction", "SERVER")
        assert batch["attributes"]["faas.trigger"] == "datasource"
        assert batch["attributes"]["orders.batch_size"] >= 1
        assert "http.route" not in batch["attributes"]
    for trace in [*published_created, *published_cancel]:
        puts = named(trace["spans"], "EventBridge.PutEvents")
        assert puts, trace
        for put in puts:
            assert put["kind"] == "CLIENT"
            assert put["attributes"]["rpc.service"] == "EventBridge"
            assert put["attributes"]["aws.events.entries"] >= 1
    # The batch that released the cancel's reservation also published its event (one record, one batch).
    cancel_batches = {trace["traceId"] for trace in published_cancel}
    both = [trace for trace in released if trace["traceId"] in cancel_batches]  # the newest first
    assert both, (released, published_cancel)
    (release,) = [
        call
        for call in named(both[0]["spans"], "inventory DELETE")
        if call["attributes"]["url.path"] == f"/api/inventory/reservations/{order_id}"
    ]
    assert release["kind"] == "CLIENT" and release["attributes"]["http.request.method"] == "DELETE"
    assert release["attributes"]["http.response.status_code"] == 204


# ------------------------------------------------------------------------------------------ the endpoint
def test_the_traces_endpoint_filters_and_refuses_a_bad_limit(stack, mint):
    missing = stack.request("GET", "/api/orders/01a241ef-b53e-7f22-826b-4f1588f0ea9e", token=mint("user-123"))
    assert missing.status == 404, missing.text
    trace = trace_of_request(stack, missing)
    check_request_root(
        trace, "GetOrderFunction", "GET /api/orders/{id}", 404, missing.headers["apigw-requestid"]
    )

    assert traces(stack, correlationId="no-such-request") == []
    assert traces(stack, traceId="1-00000000-000000000000000000000000") == []
    assert len(traces(stack, limit=1)) == 1
    for limit in ("0", str(MAX_TRACES + 1), "-1", "many"):
        refused = stack.request("GET", "/_local/traces?" + urlencode({"limit": limit}))
        assert refused.status == 400, (limit, refused.text)
