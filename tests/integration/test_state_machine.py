"""A Hypothesis state machine over the service and repository against moto: after every step the
stored orders agree with a model that applies DESIGN.md's rules independently."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from moto import mock_aws
from orders.domain.caller import Caller
from orders.domain.cursor import CursorCodec
from orders.domain.errors import Forbidden, OrderNotFound, StatusConflict, VersionMismatch
from orders.domain.models import CreateOrderRequest
from orders.domain.status import OrderStatus
from orders.service import OrderService
from orders.storage.repository import OrderRepository
from orders.upstream.clients import Reservation

from local.template import create_table_request
from tests.support.status_rules import allowed, customer_may_request

STATUSES = list(OrderStatus)
USERS = ["alice", "bob"]
ADMIN = Caller("ops", is_admin=True)
PRICES = {"p-1": Decimal("29.99"), "p-2": Decimal("0.10"), "p-3": Decimal("1000.00")}


class ActiveUsers:
    def ensure_active(self, user_id, *, deadline=None):
        return None


class Shelf:
    def reserve(self, reservation_id, quantities, *, deadline=None):
        return Reservation(reservation_id, {product: PRICES[product] for product in quantities}, None)

    def release(self, reservation_id, *, deadline=None):
        return None


@dataclass
class ModelOrder:
    id: str
    user: str
    status: str = "pending"
    version: int = 1
    history: list[str] = field(default_factory=lambda: ["pending"])
    total: Decimal = Decimal(0)
    items: list = field(default_factory=list)


class OrderLifecycle(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws()
        self.mock.start()
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**create_table_request("orders-model"))
        self.now = datetime(2026, 11, 25, tzinfo=UTC)
        self.service = OrderService(
            OrderRepository(client, "orders-model"),
            users=ActiveUsers(),
            inventory=Shelf(),
            cursors=CursorCodec(b"model-secret-0123456789"),
            clock=self._tick,
        )
        self.model: dict[str, ModelOrder] = {}

    def _tick(self) -> datetime:
        self.now += timedelta(milliseconds=3)
        return self.now

    def teardown(self) -> None:
        self.mock.stop()

    @rule(
        target=orders,
        user=st.sampled_from(USERS),
        lines=st.dictionaries(st.sampled_from(sorted(PRICES)), st.integers(1, 1000), min_size=1, max_size=3),
    )
    def create(self, user, lines):
        request = CreateOrderRequest.model_validate(
            {
                "items": [{"productId": p, "quantity": q} for p, q in lines.items()],
                "shippingAddress": {"street": "1 A St", "city": "B", "zipCode": "1"},
            }
        )
        order = self.service.create(Caller(user, False), request)
        expected_total = sum((PRICES[p] * q for p, q in lines.items()), Decimal(0))
        assert order.total == expected_total
        self.model[order.id] = ModelOrder(
            order.id,
            user,
            total=order.total,
            items=[(line.product_id, line.quantity, line.unit_price) for line in order.items],
        )
        return order.id

    @rule(
        order_id=orders,
        new_status=st.sampled_from(STATUSES),
        as_admin=st.booleans(),
        actor=st.sampled_from(USERS),
        stale=st.booleans(),
        send_version=st.booleans(),
    )
    def change_status(self, order_id, new_status, as_admin, actor, stale, send_version):
        target = new_status
        model = self.model[order_id]
        caller = ADMIN if as_admin else Caller(actor, False)
        expected_version = (model.version - 1 if stale else model.version) if send_version else None
        try:
            order = self.service.change_status(
                caller,
                order_id,
                target,
                expected_versions=None if expected_version is None else {expected_version},
            )
        except OrderNotFound:
            assert not as_admin and actor != model.user
            return
        except Forbidden:
            assert not as_admin and actor == model.user and not customer_may_request(target)
            return
        except VersionMismatch:
            # If-Match is checked before the transition itself (RFC 9110: 412 before 409).
            assert send_version and stale
            return
        except StatusConflict:
            assert not allowed(model.status, target) and not (send_version and stale)
            return
        assert allowed(model.status, target) and (
            as_admin or (actor == model.user and customer_may_request(target))
        )
        assert not (send_version and stale)
        assert order.version == model.version + 1
        model.status, model.version = str(target), order.version
        model.history.append(str(target))

    @rule(order_id=orders, reader=st.sampled_from(USERS))
    def read(self, order_id, reader):
        model = self.model[order_id]
        try:
            order = self.service.get(Caller(reader, False), order_id)
        except OrderNotFound:
            assert reader != model.user
            return
        assert reader == model.user and order.status == model.status

    @invariant()
    def stored_orders_match_the_model(self):
        for order_id, model in self.model.items():
            order = self.service.get(ADMIN, order_id)
            assert [change.status for change in order.status_history] == model.history
            assert order.version == model.version == len(model.history)
            assert order.total == model.total
            assert [(line.product_id, line.quantity, line.unit_price) for line in order.items] == model.items
            assert [change.at for change in order.status_history] == sorted(
                change.at for change in order.status_history
            )

    @invariant()
    def listing_equals_the_model(self):
        for user in USERS:
            for status in [None, *STATUSES]:
                seen, cursor = [], None
                while True:
                    page = self.service.list_for_user(
                        Caller(user, False), user, limit=2, status=status, cursor=cursor
                    )
                    seen.extend(order.id for order in page.items)
                    if not (cursor := page.next_cursor):
                        break
                expected = sorted(
                    (
                        m.id
                        for m in self.model.values()
                        if m.user == user and (status is None or m.status == status)
                    ),
                    reverse=True,  # ids are UUIDv7: newest first is descending
                )
                assert seen == expected, (user, status)


OrderLifecycle.TestCase.settings = settings(
    max_examples=12, stateful_step_count=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestOrderLifecycle = OrderLifecycle.TestCase
