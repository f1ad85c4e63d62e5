"""Totals are exact: a property test against an independent integer-cents computation."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from orders.domain.caller import Caller
from orders.domain.models import CreateOrderRequest
from orders.http.api import dumps

from tests.support.domain import make_service, price
from tests.support.fake_repository import FakeOrderRepository

MAX_CENTS = 100_000_000  # 1e6 in cents

lines_strategy = st.lists(
    st.tuples(st.integers(min_value=1, max_value=1000), st.integers(min_value=0, max_value=MAX_CENTS)),
    min_size=1,
    max_size=50,
)


def cents_text(cents: int) -> str:
    """Integer cents -> the exact two-place decimal text, e.g. 5998 -> '59.98', 5 -> '0.05'."""
    return f"{cents // 100}.{cents % 100:02d}"


def as_price(cents: int, style: int) -> Decimal:
    """The same amount as a client might write it: 29.99, 30, 30.0, 30.00 are all valid inputs."""
    text = cents_text(cents)
    if style == 1 and cents % 100 == 0:
        text = str(cents // 100)
    elif style == 2 and cents % 10 == 0:
        text = text[:-1]
    return Decimal(text)


def build_request(lines: list[tuple[int, int]], styles: list[int]) -> CreateOrderRequest:
    return CreateOrderRequest.model_validate(
        {
            "items": [
                {"productId": f"p{index}-c{cents}", "quantity": quantity, "price": as_price(cents, style)}
                for index, ((quantity, cents), style) in enumerate(zip(lines, styles, strict=True))
            ],
            "shippingAddress": {"street": "1 Main St", "city": "Springfield", "zipCode": "12345"},
        }
    )


@settings(max_examples=300, deadline=None)
@given(lines=lines_strategy, data=st.data())
def test_line_totals_and_total_are_exact_two_place_decimals(lines, data):
    styles = data.draw(st.lists(st.integers(0, 2), min_size=len(lines), max_size=len(lines)))
    priced, total = price(build_request(lines, styles).items)

    for line, (quantity, cents) in zip(priced, lines, strict=True):
        assert line.quantity == quantity
        assert str(line.unit_price) == cents_text(cents)
        assert str(line.line_total) == cents_text(quantity * cents)
    expected_total_cents = sum(quantity * cents for quantity, cents in lines)
    assert isinstance(total, Decimal)
    assert str(total) == cents_text(expected_total_cents)
    assert total.as_tuple().exponent == -2


@settings(max_examples=100, deadline=None)
@given(lines=lines_strategy)
def test_the_created_order_serialises_its_total_exactly(lines):
    service = make_service(FakeOrderRepository())
    order = service.create(Caller("user-1", False), build_request(lines, [0] * len(lines)))
    text = dumps(order.to_wire())
    expected = cents_text(sum(quantity * cents for quantity, cents in lines))
    assert re.search(rf'"total":{re.escape(expected)}[,}}]', text), (expected, text)
    for quantity, cents in lines:
        assert f'"lineTotal":{cents_text(quantity * cents)}' in text
