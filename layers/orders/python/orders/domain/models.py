"""Request and order models: pydantic and the standard library only (no boto3, no env, no HTTP).

Money is `Decimal` everywhere. Prices are validated to at most two decimal places and every money value an
order carries is quantized to exactly two places, so `2 x 29.99` is `59.98` and `30` is written `30.00`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from orders.domain.caller import MAX_USER_ID_LENGTH, USER_ID_PATTERN
from orders.domain.money import CENT, to_money
from orders.domain.status import OrderStatus

MAX_ITEMS = 50
MAX_QUANTITY = 1000
MAX_UNIT_PRICE = Decimal(1000000)
MONEY_PLACES = 2
_EXACT_QUANTIZE_DIGITS = 9


Money = Annotated[Decimal, AfterValidator(to_money)]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_USER_ID_LENGTH, pattern=USER_ID_PATTERN)
]
ProductId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
# Integers past this many digits are refused before pydantic converts them (1e999999999 would be a
# billion-digit int); every bound the API has is far below it.
_MAX_INTEGER_DIGITS = 18


def _json_integer(value: object) -> object:
    """A JSON integer may be written 2 or 2.0 (JSON Schema agrees); strings and booleans are not numbers.
    Decimals are turned into ints here, cheaply and only when integral and small: pydantic's own
    conversion of `Decimal("1e-999999999")` runs for minutes."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PydanticCustomError("int_type", "Input should be a valid integer")
        if value.adjusted() >= _MAX_INTEGER_DIGITS:
            raise PydanticCustomError("int_too_large", "Input should be a valid integer, not this large")
        if value != value.to_integral_value():
            raise PydanticCustomError(
                "int_from_float", "Input should be a valid integer, got a number with a fractional part"
            )
        return int(value)
    return value


def _json_number(value: object) -> object:
    """Money in requests is a JSON number (int or Decimal from the API's parser; a float from another JSON
    parser), never a string or a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise PydanticCustomError("decimal_type", "Input should be a JSON number")
    # Tiny values such as 1e-999999999 slip through pydantic's decimal_places check: refuse them here
    # (quantize is exact: below 1e9 the value has at most 11 digits at two places).
    tiny = (
        isinstance(value, Decimal)
        and value.is_finite()
        and isinstance(exponent := value.as_tuple().exponent, int)
        and exponent < -MONEY_PLACES
        and value.adjusted() < _EXACT_QUANTIZE_DIGITS
        and value.quantize(CENT) != value
    )
    if tiny:
        raise PydanticCustomError(
            "decimal_max_places", "Decimal input should have no more than 2 decimal places"
        )
    return value


# The validator after Field: the other way round, pydantic documents ge/le instead of minimum/maximum.
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY), BeforeValidator(_json_integer)]
UnitPriceIn = Annotated[
    Decimal,
    Field(ge=0, le=MAX_UNIT_PRICE, decimal_places=MONEY_PLACES, max_digits=9),
    BeforeValidator(_json_number),
    # pydantic documents a Decimal as "a number, or a numeric string" without its bounds or two decimals;
    # `_json_number` takes a JSON number only. The JSON Schema says what is checked; validation is as above.
    WithJsonSchema(
        {"type": "number", "minimum": 0, "maximum": int(MAX_UNIT_PRICE), "multipleOf": float(CENT)}
    ),
]


ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ZipCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$"
    ),
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class _WireModel(BaseModel):
    """camelCase on the wire and in the table, snake_case in Python; unknown fields are rejected."""

    # defer_build: a model's validator is built on first use, so each function pays only for its own.
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        frozen=True,
        defer_build=True,
    )


class ShippingAddress(_WireModel):
    street: LongText
    city: ShortText
    zip_code: ZipCode
    state: ShortText | None = None
    country: CountryCode | None = None


class OrderItemRequest(_WireModel):
    """`price` is optional: the inventory's price is authoritative, and a sent price that differs is a 422."""

    product_id: ProductId
    quantity: Quantity
    price: UnitPriceIn | None = Field(
        default=None,
        description="The unit price you expect (optional): one that differs from the current price is a 422.",
    )


class CreateOrderRequest(_WireModel):
    """Body of `POST /api/orders`. `userId` may be left out: it then defaults to the caller."""

    user_id: Identifier | None = None
    items: Annotated[list[OrderItemRequest], Field(min_length=1, max_length=MAX_ITEMS)]
    shipping_address: ShippingAddress

    @field_validator("items")
    @classmethod
    def _product_ids_are_unique(cls, items: list[OrderItemRequest]) -> list[OrderItemRequest]:
        # Repeated products are rejected rather than merged: two lines of one product with different
        # prices have no single right merge, and a client that sends them has a bug worth surfacing.
        seen: set[str] = set()
        for item in items:
            if item.product_id in seen:
                raise ValueError(
                    f"productId {item.product_id!r} appears more than once; send one line per product"
                )
            seen.add(item.product_id)
        return items


class StatusChangeRequest(_WireModel):
    """Body of `PATCH /api/orders/{id}/status`."""

    status: OrderStatus


class OrderLine(_WireModel):
    product_id: str
    quantity: int
    unit_price: Money
    line_total: Money


class StatusChange(_WireModel):
    status: OrderStatus
    at: str
    by: str


class Order(_WireModel):
    """An order as stored and as returned. Timestamps are ISO-8601 UTC strings with milliseconds."""

    id: str
    user_id: str
    items: list[OrderLine]
    shipping_address: ShippingAddress
    status: OrderStatus
    total: Money
    currency: str
    created_at: str
    updated_at: str
    version: int
    status_history: list[StatusChange]
    reservation_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="python")


def price_lines(
    items: list[OrderItemRequest], unit_prices: Mapping[str, Decimal]
) -> tuple[list[OrderLine], Decimal]:
    """Server-side totals: each line is its unit price x quantity, the total their exact sum."""
    lines = [
        OrderLine(
            product_id=item.product_id,
            quantity=item.quantity,
            unit_price=unit_prices[item.product_id],
            line_total=unit_prices[item.product_id] * item.quantity,
        )
        for item in items
    ]
    return lines, to_money(sum((line.line_total for line in lines), Decimal(0)))


class OrderPage(BaseModel):
    """One page of a listing; `next_cursor` is opaque to clients."""

    # defer_build, as the wire models: built on first use (the functions answer pages without it).
    model_config = ConfigDict(frozen=True, defer_build=True)

    items: list[Order]
    next_cursor: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"items": [order.to_wire() for order in self.items], "nextCursor": self.next_cursor}


def price_mismatches(
    items: list[OrderItemRequest], unit_prices: Mapping[str, Decimal]
) -> list[dict[str, Any]]:
    """Lines whose sent price differs from the current one (lines sent without a price never do)."""
    return [
        {"productId": item.product_id, "sent": item.price, "current": to_money(unit_prices[item.product_id])}
        for item in items
        if item.price is not None and to_money(item.price) != to_money(unit_prices[item.product_id])
    ]
