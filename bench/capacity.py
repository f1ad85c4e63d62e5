"""DynamoDB item sizes and on-demand request units, per the DynamoDB developer guide.

moto answers `ReturnConsumedCapacity` with canned numbers (1.0 or 0.5 whatever the item), so the units the
cost model uses are computed here from the real items before and after each call:
- item size: attribute names + values; a number is 1 byte per two significant digits + 1; a list or map
  3 bytes + 1 byte per element + the elements (map keys count as names); bool and null 1 byte.
- reads: 4 KB units, strongly consistent 1 RRU, eventually consistent 0.5 RRU; a Query sums the sizes
  of every item it read before rounding; a read that finds nothing still costs the minimum.
- writes: 1 KB units of the larger of the item before and after. Each global secondary index costs more:
  one write to put an item into the index, one to delete it, two when an index key changes, one when only
  projected attributes change, none when the item is in the index neither before nor after.
- a failed conditional write still costs its write units on the table (none on the indexes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

READ_UNIT = 4096
WRITE_UNIT = 1024


def _number_size(text: str) -> int:
    digits = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Size of one AttributeValue in the low-level wire shape, e.g. {"S": "x"} or {"M": {...}}."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return _number_size(str(content) if not isinstance(content, Decimal) else format(content, "f"))
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(item.encode()) for item in content)
    if kind == "NS":
        return sum(_number_size(str(item)) for item in content)
    if kind == "BS":
        return sum(len(item) for item in content)
    if kind == "L":
        return 3 + sum(1 + value_size(item) for item in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(item) for name, item in content.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


@dataclass(frozen=True)
class Index:
    name: str
    key_attributes: tuple[str, ...]
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableShape:
    key_attributes: tuple[str, ...]
    indexes: tuple[Index, ...]

    @classmethod
    def from_create_request(cls, request: Mapping[str, Any]) -> TableShape:
        keys = tuple(key["AttributeName"] for key in request["KeySchema"])
        indexes = tuple(
            Index(
                name=index["IndexName"],
                key_attributes=tuple(key["AttributeName"] for key in index["KeySchema"]),
                projection=index["Projection"]["ProjectionType"],
                non_key_attributes=tuple(index["Projection"].get("NonKeyAttributes") or ()),
            )
            for index in request.get("GlobalSecondaryIndexes") or ()
        )
        return cls(keys, indexes)

    def projected(self, index: Index, item: Mapping[str, Any]) -> dict[str, Any]:
        if index.projection == "ALL":
            return dict(item)
        names = set(index.key_attributes) | set(self.key_attributes)
        if index.projection == "INCLUDE":
            names |= set(index.non_key_attributes)
        return {name: value for name, value in item.items() if name in names}


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


def read_units(sizes: list[int], consistent: bool) -> float:
    units = _units(sum(sizes), READ_UNIT)
    return float(units if consistent else units / 2)


def write_units(
    shape: TableShape, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, succeeded: bool = True
) -> dict[str, float]:
    """Write request units of one item write, on the table and on each index."""
    table = _units(max(item_size(old), item_size(new)), WRITE_UNIT)
    result: dict[str, float] = {"table": float(table)}
    if not succeeded:
        return result
    for index in shape.indexes:
        in_before = bool(old) and all(name in old for name in index.key_attributes)
        in_after = bool(new) and all(name in new for name in index.key_attributes)
        units = 0
        if in_before and in_after:
            keys_changed = any(old[name] != new[name] for name in index.key_attributes)
            before, after = shape.projected(index, old), shape.projected(index, new)
            if keys_changed:
                units = _units(item_size(before), WRITE_UNIT) + _units(item_size(after), WRITE_UNIT)
            elif before != after:
                units = _units(max(item_size(before), item_size(after)), WRITE_UNIT)
        elif in_after:
            units = _units(item_size(shape.projected(index, new)), WRITE_UNIT)
        elif in_before:
            units = _units(item_size(shape.projected(index, old)), WRITE_UNIT)
        if units:
            result[index.name] = float(units)
    return result
