"""Issue 5: the user and inventory clients against the stubs, creates under injected faults with zero
orphans either way, and reservations released/committed from the stream exactly once in effect."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from orders import wiring
from orders.domain.errors import BuyerNotEligible, InsufficientStock, UnknownProducts, UpstreamUnavailable
from orders.events.bus import EventBusPublisher
from orders.upstream.clients import InventoryClient, UpstreamHttp, UserServiceClient

from local.aws.event_source_mapping import StreamMapping
from tests.integration.test_order_events import FlakyEventBridge, consumer_mapping_config
from tests.support.lambda_runtime import FakeLambdaContext, handler_module, http_event, invoke
from tests.support.streams import stream_records

README_BODY = {
    "userId": "user-123",
    "items": [{"productId": "prod-456", "quantity": 2, "price": 29.99}],
    "shippingAddress": {"street": "123 Main St", "city": "New York", "zipCode": "10001"},
}


def create(body=None, *, user="user-123", admin=False, key=None):
    headers = {"idempotency-key": key or str(uuid.uuid4())}
    return invoke(
        "create_order",
        http_event("create_order", body=body or README_BODY, user=user, admin=admin, headers=headers),
    )


@pytest.fixture
def clients(upstream):
    upstream.reset()
    url = upstream.url
    return (
        UserServiceClient(UpstreamHttp("user", url, read_timeout=0.3)),
        InventoryClient(UpstreamHttp("inventory", url, read_timeout=0.3)),
    )


# ------------------------------------------------------------------------------ contract
def test_user_client_contract(clients):
    users, _ = clients
    users.ensure_active("user-123")
    with pytest.raises(BuyerNotEligible) as absent:
        users.ensure_active("unknown-user")
    with pytest.raises(BuyerNotEligible) as suspended:
        users.ensure_active("suspended-1")
    assert (absent.value.extensions["reason"], suspended.value.extensions["reason"]) == (
        "does not exist",
        "is not active",
    )


def test_inventory_client_contract(clients, upstream):
    _, inventory = clients
    reservation = inventory.reserve("r-1", {"prod-456": 2, "prod-789": 1})
    assert reservation.unit_prices == {"prod-456": Decimal("29.99"), "prod-789": Decimal("5.00")}
    assert inventory.reserve("r-1", {"prod-456": 2, "prod-789": 1}) == reservation  # idempotent on the id
    assert list(upstream.live_reservations()) == ["r-1"]
    with pytest.raises(UnknownProducts) as unknown:
        inventory.reserve("r-2", {"prod-456": 1, "no-such": 1})
    assert unknown.value.extensions["unknownProducts"] == ["no-such"]
    with pytest.raises(InsufficientStock) as short:
        inventory.reserve("r-3", {"prod-scarce": 3})
    assert short.value.extensions["insufficient"] == [
        {"productId": "prod-scarce", "requested": 3, "available": 2}
    ]
    inventory.commit("r-1")
    inventory.release("r-1")  # committed stock stays gone; release is still a 204
    inventory.release("never-made")
    assert upstream.snapshot()["reservations"]["r-1"]["state"] == "committed"


@pytest.mark.parametrize("kind", ["error", "timeout", "reset"])
def test_clients_turn_every_upstream_fault_into_upstream_unavailable(clients, upstream, kind):
    users, inventory = clients
    upstream.set_faults(rate=1.0, kinds=[kind], hangSeconds=1.0)
    with pytest.raises(UpstreamUnavailable):
        users.ensure_active("user-123")
    with pytest.raises(UpstreamUnavailable):
        inventory.release("r-9")
    assert upstream.calls_to("GET", "/api/users/") == 3  # one call and two retries, then give up


def test_a_refused_connection_is_upstream_unavailable():
    closed_port_url = "http://127.0.0.1:9"  # discard port: nothing listens there
    with pytest.raises(UpstreamUnavailable):
        UserServiceClient(UpstreamHttp("user", closed_port_url, connect_timeout=0.2)).ensure_active(
            "user-123"
        )


def test_calls_never_outlive_the_deadline(clients, upstream):
    import time

    users, _ = clients
    upstream.set_faults(rate=1.0, kinds=["timeout"], hangSeconds=2.0)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable):
        users.ensure_active("user-123", deadline=started + 0.3)
    assert time.monotonic() - started < 1.0


# ------------------------------------------------------------------------------ create through the handler
def test_create_prices_from_the_inventory_and_holds_stock(table, upstream):
    created = create({**README_BODY, "items": [{"productId": "prod-456", "quantity": 2}]})
    assert (
        created.status == 201
        and '"unitPrice":29.99' in created.raw_body
        and '"total":59.98' in created.raw_body
    )
    assert upstream.live_reservations()[created.body["id"]]["items"] == [
        {"productId": "prod-456", "quantity": 2}
    ]
    assert created.body["reservationId"] == created.body["id"]


@pytest.mark.parametrize(
    ("body_change", "status", "slug", "field"),
    [
        (
            {"items": [{"productId": "prod-456", "quantity": 2, "price": 19.99}]},
            422,
            "price-mismatch",
            "mismatches",
        ),
        ({"items": [{"productId": "prod-nope", "quantity": 1}]}, 422, "unknown-products", "unknownProducts"),
        ({"items": [{"productId": "prod-scarce", "quantity": 5}]}, 409, "insufficient-stock", "insufficient"),
        ({"userId": "suspended-1"}, 422, "buyer-not-eligible", "reason"),
        ({"userId": "unknown-user"}, 422, "buyer-not-eligible", "reason"),
    ],
)
def test_create_refusals_are_problems_and_hold_nothing(table, upstream, body_change, status, slug, field):
    response = create({**README_BODY, **body_change}, user="ops-1", admin=True)
    assert response.status == status and response.content_type == "application/problem+json"
    assert response.body["type"].endswith(slug) and field in response.body
    assert upstream.live_reservations() == {}
    assert [
        item for item in table.scan(TableName="orders-test")["Items"] if item["PK"]["S"].startswith("ORDER#")
    ] == []


def test_price_mismatch_lists_product_sent_and_current_price_and_releases(table, upstream):
    response = create({**README_BODY, "items": [{"productId": "prod-456", "quantity": 2, "price": 19.99}]})
    assert response.body["mismatches"] == [
        {"productId": "prod-456", "sent": Decimal("19.99"), "current": Decimal("29.99")}
    ]
    released = [rid for rid, r in upstream.snapshot()["reservations"].items() if r["state"] == "released"]
    assert len(released) == 1 and upstream.live_reservations() == {}


def test_an_unreachable_upstream_is_a_503_with_retry_after(table, upstream):
    upstream.set_faults(rate=1.0, kinds=["error"])
    response = create()
    assert response.status == 503 and response.headers["Retry-After"] == "2"
    assert response.content_type == "application/problem+json"


def _drain_stream_through_consumer(monkeypatch) -> list[list[dict]]:
    module = handler_module("order_events")
    monkeypatch.setattr(wiring, "publisher", lambda: EventBusPublisher(FlakyEventBridge(0.0), "orders-test"))
    dead: list[list[dict]] = []
    StreamMapping(
        consumer_mapping_config(),
        invoke=lambda event: module.lambda_handler(event, FakeLambdaContext(function_name="order_events")),
        on_failure=dead.append,
    ).process(stream_records())
    return dead


@pytest.mark.parametrize(("creates", "fault_rate"), [(500, 0.20), (60, 0.60)])
def test_creates_under_upstream_faults_leave_no_orphans(table, upstream, monkeypatch, creates, fault_rate):
    """20 % faults (timeouts after the work is done, 5xx, reset connections, slow answers) mostly heal
    through retries; 60 % makes creates fail, and their reservations must still be released."""
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT_SECONDS", "0.15")
    wiring.reset()
    handler_module("create_order")  # warm import before timing-sensitive calls
    upstream.set_faults(rate=fault_rate, seed=5, hangSeconds=0.3, slowSeconds=0.02)
    statuses = []
    for _ in range(creates):
        response = create({**README_BODY, "items": [{"productId": "prod-456", "quantity": 1}]})
        statuses.append(response.status)
        if response.status != 201:
            assert response.status in (409, 422, 503) and response.content_type == "application/problem+json"
    upstream.set_faults(rate=0.0)

    assert (
        _drain_stream_through_consumer(monkeypatch) == []
    )  # release intents left by failed creates are carried out
    orders = {
        item["id"]["S"]
        for item in table.scan(TableName="orders-test")["Items"]
        if item["PK"]["S"].startswith("ORDER#")
    }
    live = set(upstream.live_reservations())
    assert statuses.count(201) == len(orders) > 0
    assert upstream.faults_injected >= creates * fault_rate  # about two calls per create
    if fault_rate > 0.5:
        assert statuses.count(503) > 0
    assert orders == live, (
        f"orders without reservation: {orders - live}; reservations without order: {live - orders}"
    )


def test_cancel_releases_once_even_when_release_fails_twice_first_and_ship_commits(
    table, upstream, monkeypatch
):
    to_cancel, to_ship = create().body["id"], create().body["id"]
    for order_id, status in ((to_cancel, "cancelled"), (to_ship, "shipped")):
        event = http_event(
            "update_order_status",
            user="ops-1",
            admin=True,
            path=f"/api/orders/{order_id}/status",
            body={"status": status},
        )
        assert invoke("update_order_status", event).status == 200
    upstream.fail_next("DELETE", f"/api/inventory/reservations/{to_cancel}", count=2)

    assert _drain_stream_through_consumer(monkeypatch) == []
    reservations = upstream.snapshot()["reservations"]
    assert reservations[to_cancel]["state"] == "released" and reservations[to_ship]["state"] == "committed"
    deletes = upstream.calls_to("DELETE", f"/api/inventory/reservations/{to_cancel}")
    assert deletes == 3  # two injected failures, then the release

    # The stream redelivers everything: nothing is released or committed again.
    assert _drain_stream_through_consumer(monkeypatch) == []
    assert upstream.calls_to("DELETE", f"/api/inventory/reservations/{to_cancel}") == deletes
    assert upstream.calls_to("POST", f"/api/inventory/reservations/{to_ship}/commit") == 1


def test_a_release_that_fails_after_a_refused_create_is_carried_out_from_the_stream(
    table, upstream, monkeypatch
):
    upstream.fail_next("DELETE", "/api/inventory/reservations/", count=3)  # the call and both retries
    response = create({**README_BODY, "items": [{"productId": "prod-456", "quantity": 2, "price": 1.00}]})
    assert response.status == 422
    held = list(upstream.live_reservations())
    assert len(held) == 1  # the inventory could not be told yet
    intents = [
        item
        for item in table.scan(TableName="orders-test")["Items"]
        if item["PK"]["S"].startswith("RELEASE#")
    ]
    assert [item["reservationId"]["S"] for item in intents] == held

    assert _drain_stream_through_consumer(monkeypatch) == []
    assert upstream.live_reservations() == {}
    assert not [
        item
        for item in table.scan(TableName="orders-test")["Items"]
        if item["PK"]["S"].startswith("RELEASE#")
    ]
    # The stream redelivers the intent: carried out (its item is gone), it calls the inventory no more.
    deletes = upstream.calls_to("DELETE", f"/api/inventory/reservations/{held[0]}")
    assert _drain_stream_through_consumer(monkeypatch) == []
    assert upstream.calls_to("DELETE", f"/api/inventory/reservations/{held[0]}") == deletes


def test_an_order_delivered_without_passing_shipped_commits_its_reservation(table, upstream, monkeypatch):
    order_id = create().body["id"]
    event = http_event(
        "update_order_status",
        user="ops-1",
        admin=True,
        path=f"/api/orders/{order_id}/status",
        body={"status": "delivered"},
    )
    assert invoke("update_order_status", event).status == 200
    assert _drain_stream_through_consumer(monkeypatch) == []
    assert upstream.snapshot()["reservations"][order_id]["state"] == "committed"
