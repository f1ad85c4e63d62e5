"""`orders.storage.wire` (reads without pydantic) answers exactly what `Order.to_wire()` answers, byte for byte,
from the item as DynamoDB gives it back: numbers without trailing zeros, attributes in any order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from orders.domain.jsonio import dumps
from orders.domain.models import Order
from orders.domain.status import OrderStatus
from orders.storage import repository

cents = st.integers(min_value=0, max_value=100_000_000).map(lambda n: Decimal(n).scaleb(-2))
text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12).map(lambda s: "x" + s.strip())
timestamps = st.integers(min_value=1_700_000_000_000, max_value=1_900_000_000_000).map(
    lambda ms: f"2026-01-01T00:00:{ms % 60:02d}.{ms % 1000:03d}Z"
)


@st.composite
def lines(draw) -> list[dict[str, Any]]:
    products = draw(st.lists(st.integers(1, 999), min_size=1, max_size=5, unique=True))
    result = []
    for product in products:
        quantity = draw(st.integers(1, 1000))
        price = draw(cents)
        result.append(
            {
                "productId": f"prod-{product}",
                "quantity": quantity,
                "unitPrice": price,
                "lineTotal": price * quantity,
            }
        )
    return result


@st.composite
def orders(draw) -> Order:
    items = draw(lines())
    address = {"street": draw(text), "city": draw(text), "zipCode": "12345"}
    if draw(st.booleans()):
        address["state"] = draw(text)
    if draw(st.booleans()):
        address["country"] = "DE"
    history = [
        {"status": draw(st.sampled_from(list(OrderStatus))), "at": draw(timestamps), "by": draw(text)}
        for _ in range(draw(st.integers(1, 5)))
    ]
    wire = {
        "id": "019ac0a1-2b3c-7d4e-8f60-123456789abc",
        "userId": draw(text),
        "items": items,
        "shippingAddress": address,
        "status": history[-1]["status"],
        "total": sum((line["lineTotal"] for line in items), Decimal(0)),
        "currency": "USD",
        "createdAt": history[0]["at"],
        "updatedAt": history[-1]["at"],
        "version": len(history),
        "statusHistory": history,
    }
    if draw(st.booleans()):
        wire["reservationId"] = wire["id"]
    return Order.model_validate(wire)


def as_dynamodb_returns(value: dict[str, Any]) -> dict[str, Any]:
    """Numbers in DynamoDB's canonical form ("30.00" comes back as "30"), maps with their keys reversed."""
    ((kind, inner),) = value.items()
    if kind == "N":
        return {"N": format(Decimal(inner).normalize(), "f")}
    if kind == "M":
        return {"M": {name: as_dynamodb_returns(inner[name]) for name in reversed(list(inner))}}
    if kind == "L":
        return {"L": [as_dynamodb_returns(element) for element in inner]}
    return value


@settings(max_examples=200, deadline=None)
@given(orders())
def test_reads_without_pydantic_answer_what_the_model_answers(order: Order):
    stored = repository._to_item(order, correlation_id="corr-1")
    returned = {name: as_dynamodb_returns(stored[name]) for name in reversed(list(stored))}

    wire = repository._wire_from_item(returned)

    assert dumps(wire) == dumps(order.to_wire())
    assert Order.model_validate(wire) == order


def test_money_gets_its_two_places_back_and_counts_become_integers():
    order = Order.model_validate(
        {
            "id": "019ac0a1-2b3c-7d4e-8f60-123456789abc",
            "userId": "alice",
            "items": [{"productId": "p", "quantity": 3, "unitPrice": "10", "lineTotal": "30"}],
            "shippingAddress": {"street": "1 Main St", "city": "Springfield", "zipCode": "12345"},
            "status": "pending",
            "total": "30",
            "currency": "USD",
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-01T00:00:00.000Z",
            "version": 1,
            "statusHistory": [{"status": "pending", "at": "2026-01-01T00:00:00.000Z", "by": "alice"}],
        }
    )
    returned = {name: as_dynamodb_returns(value) for name, value in repository._to_item(order, None).items()}
    assert returned["total"] == {"N": "30"}

    text = dumps(repository._wire_from_item(returned))

    assert '"total":30.00' in text and '"unitPrice":10.00' in text and '"quantity":3,' in text
    assert '"version":1,' in text
