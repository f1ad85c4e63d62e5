"""Money: `Decimal` with exactly two decimal places. Standard library only, so that reads need no pydantic."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def to_money(value: Decimal) -> Decimal:
    """Exactly two decimal places. Inputs are already validated to two places, so nothing is rounded away."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)
