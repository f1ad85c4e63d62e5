"""The use cases with an in-memory repository: who may create, read, list and move which order, and
which error (403, 404, 409, 412) each refusal is."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from orders.domain.caller import Caller
from orders.domain.errors import Forbidden, InvalidCursor, OrderNotFound, StatusConflict, VersionMismatch
from orders.domain.ids import new_order_id
from orders.domain.models import CreateOrderRequest
from orders.domain.status import OrderStatus
from orders.service import OrderService

from tests.support.domain import make_service
from tests.support.fake_repository import FakeOrderRepository

ALICE = Caller("alice", False)
BOB = Caller("bob", False)
ADMIN = Caller("admin-1", True)
START = datetime(2026, 11, 25, 20, 0, 0, tzinfo=UTC)

FORWARD = ["pending", "confirmed", "processing", "shipped", "delivered"]


def allowed(current: str, target: str) -> bool:
    """DESIGN.md's status rules, restated independently."""
    if current == target or current in ("delivered", "cancelled"):
        return False
    if target == "cancelled":
        return current in ("pending", "confirmed", "processing")
    return FORWARD.index(target) > FORWARD.index(current)


class Clock:
    """Each reading is one second after the previous one."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def request(user_id: str | None = None, *lines: tuple[str, int, str]) -> CreateOrderRequest:
    body = {
        "items": [
            {"productId": product, "quantity": quantity, "price": Decimal(price)}
            for product, quantity, price in (lines or (("prod-456", 2, "29.99"),))
        ],
        "shippingAddress": {"street": "123 Main St", "city": "New York", "zipCode": "10001"},
    }
    if user_id is not None:
        body["userId"] = user_id
    return CreateOrderRequest.model_validate(body)


@pytest.fixture
def repository() -> FakeOrderRepository:
    return FakeOrderRepository()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(repository, clock) -> OrderService:
    return make_service(repository, currency="EUR", clock=clock)


def alice_order(service: OrderService) -> str:
    return service.create(ALICE, request()).id


# ------------------------------------------------------------------ create
def test_create_defaults_the_user_to_the_caller_and_prices_the_lines(service, repository, clock):
    order = service.create(ALICE, request(None, ("prod-1", 2, "29.99"), ("prod-2", 3, "0.10")))
    assert order.user_id == "alice"
    assert order.status is OrderStatus.PENDING
    assert order.version == 1
    assert order.currency == "EUR"
    assert order.total == Decimal("60.28")
    assert [(line.product_id, line.quantity, line.unit_price, line.line_total) for line in order.items] == [
        ("prod-1", 2, Decimal("29.99"), Decimal("59.98")),
        ("prod-2", 3, Decimal("0.10"), Decimal("0.30")),
    ]
    assert order.created_at == order.updated_at == "2026-11-25T20:00:01.000Z"
    assert [(entry.status, entry.at, entry.by) for entry in order.status_history] == [
        (OrderStatus.PENDING, "2026-11-25T20:00:01.000Z", "alice")
    ]
    assert repository.orders == {order.id: order}
    assert repository.operations() == ["put_new"]


def test_create_ids_are_uuid7_from_the_clock(service):
    first, second = service.create(ALICE, request()), service.create(ALICE, request())
    assert first.id != second.id
    assert first.id < second.id
    assert first.id[14] == "7"


def test_create_uses_the_injected_id_source(repository, clock):
    service = make_service(repository, clock=clock, new_id=lambda moment: new_order_id(START))
    assert service.create(ALICE, request()).id[:13] == new_order_id(START)[:13]


def test_customer_may_create_for_themselves_explicitly(service):
    assert service.create(ALICE, request("alice")).user_id == "alice"


def test_customer_may_not_create_for_someone_else(service, repository):
    with pytest.raises(Forbidden) as raised:
        service.create(ALICE, request("bob"))
    assert raised.value.slug == "forbidden"
    assert repository.orders == {}


def test_admin_may_create_for_anyone_and_is_recorded_as_the_author(service):
    order = service.create(ADMIN, request("bob"))
    assert order.user_id == "bob"
    assert order.status_history[0].by == "admin-1"


# ------------------------------------------------------------------ get
def test_owner_and_admin_can_read(service):
    order_id = alice_order(service)
    assert service.get(ALICE, order_id).id == order_id
    assert service.get(ADMIN, order_id).id == order_id


def test_someone_elses_order_is_indistinguishable_from_an_absent_one(service):
    order_id = alice_order(service)
    with pytest.raises(OrderNotFound) as foreign:
        service.get(BOB, order_id)
    with pytest.raises(OrderNotFound) as absent:
        service.get(BOB, new_order_id(START))
    assert foreign.value.slug == absent.value.slug == "order-not-found"
    assert (foreign.value.detail, foreign.value.extensions) == (absent.value.detail, absent.value.extensions)
    assert order_id not in foreign.value.detail


@pytest.mark.parametrize("odd_id", ["", "abc", "ORDER#x", "019AC0A1-2B3C-7D4E-8F60-123456789ABC", "x" * 5000])
def test_odd_ids_are_not_found(service, odd_id):
    with pytest.raises(OrderNotFound):
        service.get(ADMIN, odd_id)


# ------------------------------------------------------------------ list
def test_list_is_newest_first_with_pages_covering_every_order_once(service):
    created = [alice_order(service) for _ in range(7)]
    service.create(BOB, request())
    seen, cursor, pages = [], None, 0
    while True:
        page = service.list_for_user(ALICE, "alice", limit=3, cursor=cursor)
        pages += 1
        seen += [order.id for order in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(reversed(created))
    assert pages == 3


def test_an_exactly_full_last_page_has_no_next_cursor(service):
    for _ in range(6):
        alice_order(service)
    first = service.list_for_user(ALICE, "alice", limit=3)
    second = service.list_for_user(ALICE, "alice", limit=3, cursor=first.next_cursor)
    assert len(second.items) == 3
    assert second.next_cursor is None


def test_list_filters_by_status(service, repository):
    ids = [alice_order(service) for _ in range(4)]
    repository.force_status(ids[1], OrderStatus.CANCELLED)
    repository.force_status(ids[3], OrderStatus.CANCELLED)
    page = service.list_for_user(ALICE, "alice", status=OrderStatus.CANCELLED)
    assert [order.id for order in page.items] == [ids[3], ids[1]]
    assert repository.last("list_by_user")["status"] is OrderStatus.CANCELLED


def test_customers_may_not_list_someone_else(service, repository):
    alice_order(service)
    with pytest.raises(Forbidden) as raised:
        service.list_for_user(BOB, "alice")
    assert raised.value.slug == "forbidden"
    assert "list_by_user" not in repository.operations()


def test_admin_may_list_anyone(service):
    order_id = alice_order(service)
    assert [order.id for order in service.list_for_user(ADMIN, "alice").items] == [order_id]


def test_cursor_is_bound_to_user_and_status(service):
    for _ in range(3):
        alice_order(service)
    for _ in range(3):
        service.create(BOB, request())
    cursor = service.list_for_user(ALICE, "alice", limit=1).next_cursor
    assert cursor
    with pytest.raises(InvalidCursor):
        service.list_for_user(ADMIN, "bob", limit=1, cursor=cursor)
    with pytest.raises(InvalidCursor):
        service.list_for_user(ALICE, "alice", limit=1, status=OrderStatus.PENDING, cursor=cursor)
    pending_cursor = service.list_for_user(ALICE, "alice", limit=1, status=OrderStatus.PENDING).next_cursor
    with pytest.raises(InvalidCursor):
        service.list_for_user(ALICE, "alice", limit=1, cursor=pending_cursor)
    with pytest.raises(InvalidCursor):
        service.list_for_user(ALICE, "alice", limit=1, status=OrderStatus.CANCELLED, cursor=pending_cursor)


def test_the_wire_listing_pages_as_the_models_listing(service):
    """`list_wire_for_user` (what the function answers, without pydantic) walks the same pages, with the same
    cursors and the same rules, as `list_for_user`."""
    for _ in range(5):
        alice_order(service)
    cursor = wire_cursor = None
    while True:
        page = service.list_for_user(ALICE, "alice", limit=2, cursor=cursor)
        wire = service.list_wire_for_user(ALICE, "alice", limit=2, cursor=wire_cursor)
        assert wire == page.to_wire()
        cursor, wire_cursor = page.next_cursor, wire["nextCursor"]
        if cursor is None:
            break
    with pytest.raises(Forbidden):
        service.list_wire_for_user(BOB, "alice")


# ------------------------------------------------------------------ change status
@pytest.mark.parametrize(
    ("current", "target"), list(itertools.product([status.value for status in OrderStatus], repeat=2))
)
def test_admin_moves_follow_the_status_rules(service, repository, current, target):
    order_id = alice_order(service)
    before = repository.force_status(order_id, OrderStatus(current))
    if allowed(current, target):
        moved = service.change_status(ADMIN, order_id, OrderStatus(target))
        assert moved.status == target
        assert moved.version == before.version + 1
        assert moved.status_history[-1].status == target
        assert moved.status_history[-1].by == "admin-1"
        assert moved.status_history[:-1] == before.status_history
        assert moved.updated_at == moved.status_history[-1].at
        assert repository.orders[order_id] == moved
    else:
        with pytest.raises(StatusConflict) as raised:
            service.change_status(ADMIN, order_id, OrderStatus(target))
        assert raised.value.slug == "status-conflict"
        assert raised.value.extensions == {"currentStatus": current, "requestedStatus": target}
        assert repository.orders[order_id] == before


def test_admin_conditions_name_the_sources_and_no_owner(service, repository):
    order_id = alice_order(service)
    service.change_status(ADMIN, order_id, OrderStatus.SHIPPED)
    call = repository.last("change_status")
    assert call["owner"] is None
    assert call["allowed_sources"] == {OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.PROCESSING}
    assert call["expected_versions"] is None


@pytest.mark.parametrize("current", ["pending", "confirmed", "processing"])
def test_customer_may_cancel_their_own_order(service, repository, current):
    order_id = alice_order(service)
    repository.force_status(order_id, OrderStatus(current))
    moved = service.change_status(ALICE, order_id, OrderStatus.CANCELLED)
    assert moved.status is OrderStatus.CANCELLED
    assert moved.status_history[-1].by == "alice"
    assert repository.last("change_status")["owner"] == "alice"


@pytest.mark.parametrize("current", ["shipped", "delivered", "cancelled"])
def test_customer_cancel_too_late_is_a_conflict(service, repository, current):
    order_id = alice_order(service)
    repository.force_status(order_id, OrderStatus(current))
    with pytest.raises(StatusConflict) as raised:
        service.change_status(ALICE, order_id, OrderStatus.CANCELLED)
    assert raised.value.extensions == {"currentStatus": current, "requestedStatus": "cancelled"}


@pytest.mark.parametrize("target", ["pending", "confirmed", "processing", "shipped", "delivered"])
def test_customer_may_only_cancel(service, repository, target):
    order_id = alice_order(service)
    before = repository.orders[order_id]
    with pytest.raises(Forbidden) as raised:
        service.change_status(ALICE, order_id, OrderStatus(target))
    assert raised.value.slug == "forbidden"
    assert repository.orders[order_id] == before


@pytest.mark.parametrize("target", [status.value for status in OrderStatus])
def test_customer_gets_not_found_for_someone_elses_order_whatever_the_target(service, repository, target):
    order_id = alice_order(service)
    before = repository.orders[order_id]
    with pytest.raises(OrderNotFound):
        service.change_status(BOB, order_id, OrderStatus(target))
    with pytest.raises(OrderNotFound):
        service.change_status(BOB, order_id, OrderStatus(target), expected_versions={1})
    with pytest.raises(OrderNotFound):
        service.change_status(BOB, order_id, OrderStatus(target), expected_versions={7})
    assert repository.orders[order_id] == before


@pytest.mark.parametrize("caller", [ALICE, ADMIN], ids=["customer", "admin"])
@pytest.mark.parametrize("target", [status.value for status in OrderStatus])
def test_absent_order_is_not_found(service, caller, target):
    with pytest.raises(OrderNotFound):
        service.change_status(caller, new_order_id(START), OrderStatus(target))


def test_stale_version_is_a_precondition_failure(service, repository):
    order_id = alice_order(service)
    service.change_status(ADMIN, order_id, OrderStatus.CONFIRMED)
    with pytest.raises(VersionMismatch) as raised:
        service.change_status(ALICE, order_id, OrderStatus.CANCELLED, expected_versions={1})
    assert raised.value.slug == "precondition-failed"
    assert raised.value.extensions.get("currentVersion") == 2
    assert repository.orders[order_id].status is OrderStatus.CONFIRMED


def test_current_version_lets_the_move_through(service, repository):
    order_id = alice_order(service)
    moved = service.change_status(ALICE, order_id, OrderStatus.CANCELLED, expected_versions={1})
    assert moved.version == 2
    assert repository.last("change_status")["expected_versions"] == {1}


def test_history_accumulates_in_order(service, clock):
    order_id = alice_order(service)
    for target in ("confirmed", "processing", "shipped", "delivered"):
        service.change_status(ADMIN, order_id, OrderStatus(target))
    order = service.get(ALICE, order_id)
    assert [entry.status.value for entry in order.status_history] == ["pending", *FORWARD[1:]]
    times = [entry.at for entry in order.status_history]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert order.version == 5
