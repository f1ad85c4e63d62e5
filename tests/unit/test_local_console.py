"""The console's parts without a running stack: the bounded logs it reads (access log, stream records, events,
the stubs' calls), an order's timeline assembled from them, and the pages rendered from plain values
(escaping, no address outside a timeline, the fault form's fields)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from werkzeug.test import Client

from local.aws.access_log import AccessLog, AccessLogEntry, resource_id
from local.aws.bus import EventLog
from local.aws.streams import SeenRecord, StreamRecordLog, _reported_failures
from local.front import console
from local.front.control import _same_origin
from local.front.timeline import (
    EVENT,
    INVENTORY,
    REQUEST,
    STREAM_RECORD,
    VERSION,
    is_order_id,
    order_timeline,
)
from local.stubs.upstream import StubCall, UpstreamStubs

ORDER_ID = "01a24737-009c-7154-bbb8-cc7fcfd5cba3"
OTHER_ID = "01a24737-009c-7154-bbb8-000000000000"
SCRIPT = '<script>alert("owned")</script>'


def request(at: float, method: str, path: str, status: int, resource: str | None, **extra) -> AccessLogEntry:
    return AccessLogEntry(at, method, path, status, 12.0, resource_id=resource, **extra)


def order_wire(version: int, status: str, street: str = "1 Main St") -> dict:
    return {
        "PK": {"S": f"ORDER#{ORDER_ID}"},
        "SK": {"S": "ORDER"},
        "id": {"S": ORDER_ID},
        "userId": {"S": "user-123"},
        "status": {"S": status},
        "version": {"N": str(version)},
        "total": {"N": "59.98"},
        "currency": {"S": "USD"},
        "items": {"L": [{"M": {"productId": {"S": "prod-456"}, "quantity": {"N": "2"}}}]},
        "shippingAddress": {"M": {"street": {"S": street}, "city": {"S": "New York"}}},
        "correlationId": {"S": f"corr-{version}"},
    }


def seen(sequence: str, at: float, new: dict | None, old: dict | None = None, **extra) -> SeenRecord:
    keys = {"PK": (new or old or {})["PK"], "SK": (new or old or {})["SK"]}
    return SeenRecord(
        function=extra.pop("function", "OrderEventsFunction"),
        table="OrdersTable",
        shard_id="shard-1",
        sequence=sequence,
        event_name="INSERT" if old is None else "MODIFY",
        keys=keys,
        new_image=new,
        old_image=old,
        written_at=at,
        read_at=at + 0.1,
        filtered_out=extra.pop("filtered_out", False),
    )


# ---------------------------------------------------------------------------------------- bounded logs
def test_the_access_log_keeps_only_its_latest_entries():
    log = AccessLog(limit=3)
    for index in range(5):
        log.append(request(float(index), "GET", f"/api/orders/{index}", 200, str(index)))
    assert [entry.resource_id for entry in log.entries()] == ["2", "3", "4"]
    assert log.limit == 3


def test_the_stream_record_log_keeps_only_its_latest_records_and_forgets_their_deliveries():
    log = StreamRecordLog(limit=2)
    for sequence in ("1", "2", "3"):
        log.read(seen(sequence, 1.0, order_wire(int(sequence), "pending")))
    log.delivered("OrderEventsFunction", {"1": "ok", "3": "ok"}, at=5.0)
    records = log.records()
    assert [record.sequence for record in records] == ["2", "3"]
    assert records[0].deliveries == []
    assert [(delivery.at, delivery.outcome) for delivery in records[1].deliveries] == [(5.0, "ok")]
    # A reader's copy does not change under it when a later delivery comes.
    log.delivered("OrderEventsFunction", {"3": "function error"}, at=6.0)
    assert len(records[1].deliveries) == 1
    assert len(log.records()[1].deliveries) == 2


def test_the_event_log_is_bounded_and_says_when_it_saw_each_event():
    log = EventLog(limit=2)
    for index in range(3):
        log.append("OrderCreated", "test", {"orderId": str(index)})
    assert [entry["detail"]["orderId"] for entry in log.entries()] == ["1", "2"]
    timed = log.timed_entries()
    assert [entry for _, entry in timed] == log.entries()
    assert timed[0][0] <= timed[1][0]


def test_the_stubs_keep_only_their_latest_calls_with_reservation_status_and_fault():
    stubs = UpstreamStubs(call_log_limit=3)
    client = Client(stubs)
    body = {"reservationId": ORDER_ID, "items": [{"productId": "prod-456", "quantity": 1}]}
    assert client.get("/api/users/user-123").status_code == 200
    assert client.post("/api/inventory/reservations", json=body).status_code == 201
    stubs.set_faults(failNext=1, kinds=["error"])
    assert client.post(f"/api/inventory/reservations/{ORDER_ID}/commit").status_code == 503
    assert client.post(f"/api/inventory/reservations/{ORDER_ID}/commit").status_code == 204
    calls = stubs.recent_calls()
    assert [(call.method, call.path, call.reservation_id, call.status, call.fault) for call in calls] == [
        ("POST", "/api/inventory/reservations", ORDER_ID, 201, None),
        ("POST", f"/api/inventory/reservations/{ORDER_ID}/commit", ORDER_ID, 503, "error"),
        ("POST", f"/api/inventory/reservations/{ORDER_ID}/commit", ORDER_ID, 204, None),
    ]
    assert stubs.snapshot()["calls"] == [[call.method, call.path] for call in calls]
    assert stubs.calls_to("POST", "/api/inventory/reservations/") == 2


# ---------------------------------------------------------------------------------------- what ties entries to an order
def test_a_request_touched_the_resource_it_created_or_named():
    assert resource_id({}, f"/api/orders/{ORDER_ID}") == ORDER_ID
    assert resource_id({"id": ORDER_ID}, None) == ORDER_ID
    assert resource_id({"userId": "user-123"}, None) is None


def test_reported_failures_are_the_records_lambda_retries():
    records = [{"dynamodb": {"SequenceNumber": sequence}} for sequence in ("10", "20", "30")]
    assert _reported_failures(records, []) == set()
    assert _reported_failures(records, [{"itemIdentifier": "20"}]) == {"20", "30"}
    # One naming no record of the batch fails all of it (as StreamMapping treats it).
    assert _reported_failures(records, [{"itemIdentifier": "99"}]) == {"10", "20", "30"}


@pytest.mark.parametrize("value", ["", "a/b", "../x", SCRIPT, "x" * 129, "ab cd", "-leading"])
def test_what_is_no_order_id(value):
    assert not is_order_id(value)


def timeline_of(order_id: str = ORDER_ID):
    first, second = order_wire(1, "pending", SCRIPT), order_wire(2, "shipped", SCRIPT)
    return order_timeline(
        order_id,
        requests=[
            request(10.0, "POST", "/api/orders", 201, ORDER_ID, caller="user-123", correlation_id="corr-1"),
            request(11.0, "GET", f"/api/orders/{OTHER_ID}", 200, OTHER_ID),
            request(20.0, "PATCH", f"/api/orders/{ORDER_ID}/status", 200, ORDER_ID, caller="admin-1"),
        ],
        records=[
            # Read by two mappings: two stream records, one version.
            seen("100", 10.2, first),
            seen("100", 10.2, first, function="AuditFunction"),
            seen("200", 20.2, second, first),
            seen(
                "300", 20.3, {"PK": {"S": f"ORDER#{ORDER_ID}"}, "SK": {"S": "RESERVATION"}}, filtered_out=True
            ),
            seen(
                "400", 20.4, {"PK": {"S": f"ORDER#{OTHER_ID}"}, "SK": {"S": "ORDER"}, "version": {"N": "1"}}
            ),
        ],
        events=[
            (
                12.0,
                {"detail-type": "OrderCreated", "source": "s", "detail": {"orderId": ORDER_ID, "version": 1}},
            ),
            (
                12.5,
                {"detail-type": "OrderCreated", "source": "s", "detail": {"orderId": OTHER_ID, "version": 1}},
            ),
            (
                21.0,
                {
                    "detail-type": "OrderStatusChanged",
                    "source": "s",
                    "detail": {"orderId": ORDER_ID, "previousStatus": "pending", "status": "shipped"},
                },
            ),
        ],
        dead_letters=[],
        stub_calls=[
            StubCall(10.1, "POST", "/api/inventory/reservations", ORDER_ID, 201),
            StubCall(10.15, "GET", "/api/users/user-123", None, 200),
            StubCall(21.5, "POST", f"/api/inventory/reservations/{ORDER_ID}/commit", ORDER_ID, 204),
        ],
    )


def test_an_orders_timeline_holds_what_touched_it_in_time_order():
    timeline = timeline_of()
    assert timeline is not None
    assert [(round(entry.at, 3), entry.kind) for entry in timeline.entries] == [
        (10.0, REQUEST),
        (10.1, INVENTORY),
        (10.2, VERSION),
        (10.3, STREAM_RECORD),
        (10.3, STREAM_RECORD),
        (12.0, EVENT),
        (20.0, REQUEST),
        (20.2, VERSION),
        (20.3, STREAM_RECORD),
        (20.4, STREAM_RECORD),
        (21.0, EVENT),
        (21.5, INVENTORY),
    ]
    summaries = [entry.summary for entry in timeline.entries]
    assert "version 2 written (MODIFY): status pending → shipped" in summaries
    assert any("filtered out" in summary and "RESERVATION" in summary for summary in summaries)
    assert timeline.latest is not None and timeline.latest["version"] == Decimal(2)
    changed = next(entry for entry in timeline.entries if entry.kind == VERSION and entry.at == 20.2)
    assert changed.details["changed"]["status"] == ["pending", "shipped"]
    assert changed.correlation_id == "corr-2"


def test_no_timeline_for_an_id_no_log_names_or_for_no_id():
    assert timeline_of("01a24737-009c-7154-bbb8-ffffffffffff") is None
    assert timeline_of(SCRIPT) is None


# ---------------------------------------------------------------------------------------- the pages
def test_a_timeline_page_escapes_the_orders_data():
    timeline = timeline_of()
    assert timeline is not None
    page = console.timeline_page(timeline).body.decode()
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page
    assert "<script" not in page.lower()


def view(requests=(), stubs=None, error=None) -> console.ConsoleView:
    return console.ConsoleView(
        title="Local stack console",
        base_url="http://localhost:3001",
        routes=[
            {
                "method": "GET",
                "path": "/api/orders/{id}",
                "function": "GetOrderFunction",
                "auth": "Jwt",
                "scopes": [],
            }
        ],
        functions=[
            console.FunctionRow("GetOrderFunction", [], "GetOrderFunctionRole", "dynamodb:GetItem on x")
        ],
        requests=list(requests),
        request_log_limit=1000,
        events=[(1.0, {"detail-type": "OrderCreated", "source": "s", "detail": {"orderId": SCRIPT}})],
        dead_letters=[],
        streams=[],
        stubs=stubs,
        iam_enforced=True,
        error=error,
    )


def test_the_console_escapes_what_it_shows_and_links_only_ids_to_timelines():
    entries = [
        request(1.0, "GET", f"/api/orders/{SCRIPT}", 400, SCRIPT, caller=SCRIPT),
        request(2.0, "GET", f"/api/orders/{ORDER_ID}", 200, ORDER_ID, correlation_id="a/b+c=="),
    ]
    response = console.console_page(view(entries, error=SCRIPT))
    page = response.body.decode()
    assert "<script" not in page.lower()
    assert f'href="/_local/orders/{ORDER_ID}"' in page
    assert 'href="/_local/traces?correlationId=a%2Fb%2Bc%3D%3D"' in page
    assert "/_local/orders/%3C" not in page  # no link for what cannot be an order id
    headers = dict(response.headers)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in headers["Content-Security-Policy"]  # so default-src 'none' forbids scripts
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_the_fault_form_shows_the_plan_and_turns_into_one():
    stubs = console.StubsView(
        {
            "rate": 0.5,
            "kinds": ["error"],
            "failNext": 2,
            "hangSeconds": 5.0,
            "slowSeconds": 0.2,
            "seed": None,
        },
        3,
        [],
    )
    page = console.console_page(view(stubs=stubs)).body.decode()
    assert f'action="{console.STUB_FAULTS_FORM}"' in page and 'method="post"' in page
    assert 'name="kinds" value="error" checked' in page
    assert 'name="kinds" value="timeout">' in page
    form = "rate=0.25&failNext=1&kinds=error&kinds=reset&hangSeconds=2&slowSeconds=&seed=7&action=set"
    assert console.fault_plan_from_form(form.encode()) == {
        "rate": 0.25,
        "failNext": 1,
        "kinds": ["error", "reset"],
        "hangSeconds": 2.0,
        "seed": 7,
    }
    assert console.fault_plan_from_form(b"rate=0.5&kinds=error&action=clear") == {}
    with pytest.raises(ValueError, match="rate must be a number"):
        console.fault_plan_from_form(b"rate=lots&kinds=error")
    with pytest.raises(ValueError, match="at least one kind"):
        console.fault_plan_from_form(b"rate=0.5")


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),
        (
            {"Host": "localhost:3001", "Origin": "http://localhost:3001", "Sec-Fetch-Site": "same-origin"},
            True,
        ),
        ({"Host": "localhost:3001", "Origin": "http://evil.example"}, False),
        ({"Host": "localhost:3001", "Sec-Fetch-Site": "cross-site"}, False),
    ],
)
def test_the_fault_form_takes_posts_from_its_own_page_only(headers, allowed):
    assert _same_origin(headers) is allowed


def test_json_of_an_image_is_exact():
    assert json.loads(console.as_json({"total": Decimal("59.98")}), parse_float=Decimal) == {
        "total": Decimal("59.98")
    }
