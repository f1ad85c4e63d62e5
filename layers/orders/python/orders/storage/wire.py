"""An order's wire form built from its stored attributes with the standard library only.

Every order in the table was written through `orders.domain.models.Order`, so reading one back needs no
validation: `GET /api/orders/{id}` answers without importing pydantic (about a fifth of its cold start).
What this module still does is what DynamoDB changes on the way: numbers come back as `Decimal` without
trailing zeros (`30.00` is stored and returned as `30`), so integers become `int` and money gets its two
places back; and attributes come back in no particular order, so they are put in the model's order.
`tests/unit/test_wire.py` holds this equal to `Order.model_validate(attributes).to_wire()`, JSON text
included, so the field lists below cannot drift from the models unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orders.domain.money import to_money

ORDER_FIELDS = (
    "id",
    "userId",
    "items",
    "shippingAddress",
    "status",
    "total",
    "currency",
    "createdAt",
    "updatedAt",
    "version",
    "statusHistory",
    "reservationId",
)
OPTIONAL_ORDER_FIELDS = ("reservationId",)  # None in the model by default, and then left out
LINE_FIELDS = ("productId", "quantity", "unitPrice", "lineTotal")
ADDRESS_FIELDS = ("street", "city", "zipCode", "state", "country")
CHANGE_FIELDS = ("status", "at", "by")


def _ordered(attributes: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    # Absent and null fields are left out, as `Order.to_wire()` (exclude_none) leaves them out.
    return {name: attributes[name] for name in fields if attributes.get(name) is not None}


def _line(line: Mapping[str, Any]) -> dict[str, Any]:
    wire = _ordered(line, LINE_FIELDS)
    wire.update(
        quantity=int(wire["quantity"]),
        unitPrice=to_money(wire["unitPrice"]),
        lineTotal=to_money(wire["lineTotal"]),
    )
    return wire


def order_wire(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The order as the API returns it, from the item's deserialised attributes (keys already removed)."""
    wire = _ordered(attributes, ORDER_FIELDS)
    wire.update(
        items=[_line(line) for line in wire["items"]],
        shippingAddress=_ordered(wire["shippingAddress"], ADDRESS_FIELDS),
        total=to_money(wire["total"]),
        version=int(wire["version"]),
        statusHistory=[_ordered(change, CHANGE_FIELDS) for change in wire["statusHistory"]],
    )
    return wire
