"""Writes per partition key per second, counted on the table and on each of its indexes, for a simulated
workload driven through the service's real code (issue 21, part 4).

`RecordingDynamoDB` stands where the service's boto3 DynamoDB client stands. It keeps the items in memory and,
for every write it is asked to make, works out from the table's key schema (read from template.yaml, never
restated here) which partition keys of the table and of each index that write touches, as DynamoDB does:
- the table: one write on the item's partition key (a PutItem, UpdateItem or DeleteItem, conditional or not);
- an index: only items that hold all of its key attributes are in it (a sparse index). A write that puts an item
  into it is one write on the new partition key; one that takes it out (a delete, or an update that removes or
  changes a key attribute) is one write on the old partition key; an update that changes an index key is both,
  a delete and a put, counted as two writes even when both land on the same partition key (DynamoDB bills
  them as two); an update that leaves the index keys alone is one write there when a projected attribute
  changed (ProjectionType ALL: any attribute), none otherwise.
Write units are counted too: each write costs its entry's size in 1 KB units (by the repository's own
`item_size`; an index entry removed costs what it weighed), twice inside TransactWriteItems (assumed for the
index writes a transaction causes as well: the busier reading). A partition takes 1,000 writes and 1,000 write
units a second, and an order item is about 0.9-1.3 KB, so units, not writes, reach the limit first.

The client evaluates UpdateExpressions itself (SET with `=`, `+`, `-`, `list_append` and `if_not_exists`,
the forms the service writes) so that an update's new item, its index keys and the stream images are what
DynamoDB would make of them; anything else raises `Unsupported` rather than being guessed at. Condition
expressions are not evaluated: the workload only makes writes that succeed (a test sends the same writes to moto
first, which does evaluate them, and compares the tables). Every counted write that changes an item leaves a
stream record (NEW_AND_OLD_IMAGES, in the Lambda event's form), which the simulation hands to the stream consumer
through the event source mapping's filter from template.yaml.

`Workload` describes the orders (a rate, who places them, what happens to them later); `simulate` generates
them second by second from a seeded random source, runs each order's create and status changes through
`OrderService` (ids from `orders.domain.ids`; items, index keys and the status index's shard from
`orders.storage.repository`, built with the shard count the template gives the functions; the idempotency store
for keyed creates) and the stream consumer's own record step and `ReservationKeeper`, and counts the writes of
the seconds asked for.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple
from unittest import mock

from orders import tracing, wiring
from orders.domain.caller import Caller
from orders.domain.cursor import CursorCodec
from orders.domain.errors import PriceMismatch
from orders.domain.models import CreateOrderRequest
from orders.domain.status import OrderStatus
from orders.events.batch import StreamRecord
from orders.events.reservations import ReservationKeeper
from orders.events.stream import record_settler
from orders.service import OrderService
from orders.storage.idempotency import IdempotencyStore, once_per_key
from orders.storage.repository import OrderRepository, item_size

from local.template import Unresolvable, function_properties, load_template, resolve, resources_of_type
from tests.support.catalog import catalog_price

WRITE_LIMIT = 1000  # writes per second one partition takes (DynamoDB's per-partition write throughput)
TABLE = "table"  # the base table's name in the counts; indexes go by their IndexName
WRITE_UNIT_BYTES = 1024
TABLE_NAME = "orders-simulated"
SECONDS_IN_MINUTE = 60


class Unsupported(Exception):
    """The simulation cannot tell what this request writes: it must be taught, not skip it."""


# ----------------------------------------------------------------------------------------------- key schema
@dataclass(frozen=True, slots=True)
class KeySchema:
    """The table's or one index's keys, and what an index holds of an item."""

    name: str  # TABLE, or the index's name
    hash_key: str
    range_key: str | None
    projection: str = "ALL"  # ALL, KEYS_ONLY or INCLUDE (indexes only)
    included: frozenset[str] = frozenset()

    @property
    def attributes(self) -> tuple[str, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)

    def key_of(self, item: Mapping[str, Any] | None) -> tuple[str, ...] | None:
        """The item's key here (as typed-value text), or None when the item is not here (no item, or an
        index key attribute missing: a sparse index)."""
        if item is None:
            return None
        key = []
        for name in self.attributes:
            if name not in item:
                return None
            key.append(_scalar(item[name], name))
        return tuple(key)


def _scalar(value: Mapping[str, Any], name: str) -> str:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise Unsupported(f"{name}: not a typed attribute value: {value!r}")
    ((kind, inner),) = value.items()
    if kind not in ("S", "N", "B"):
        raise Unsupported(f"{name}: a key attribute must be S, N or B, not {kind}")
    return str(inner)


def _schema(name: str, key_schema: Sequence[Mapping[str, str]]) -> tuple[str, str | None]:
    hashes = [key["AttributeName"] for key in key_schema if key["KeyType"] == "HASH"]
    ranges = [key["AttributeName"] for key in key_schema if key["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) > 1 or len(hashes) + len(ranges) != len(key_schema):
        raise Unsupported(f"{name}: cannot read the key schema {key_schema!r}")
    return hashes[0], (ranges[0] if ranges else None)


def table_layout(
    template: Mapping[str, Any] | None = None, logical_id: str = "OrdersTable"
) -> list[KeySchema]:
    """The table's keys, then every index's (global and local), from the template's table definition."""
    properties = (template or load_template())["Resources"][logical_id]["Properties"]
    layout = [KeySchema(TABLE, *_schema(logical_id, properties["KeySchema"]))]
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for index in properties.get(kind) or []:
            projection = index.get("Projection") or {}
            kind_of_projection = projection.get("ProjectionType", "KEYS_ONLY")
            if kind_of_projection not in ("ALL", "KEYS_ONLY", "INCLUDE"):
                raise Unsupported(f"{index['IndexName']}: projection {kind_of_projection}")
            layout.append(
                KeySchema(
                    index["IndexName"],
                    *_schema(index["IndexName"], index["KeySchema"]),
                    projection=kind_of_projection,
                    included=frozenset(projection.get("NonKeyAttributes") or ()),
                )
            )
    return layout


def stream_filters(template: Mapping[str, Any] | None = None, logical_id: str = "OrdersTable") -> list[Any]:
    """The filter patterns of the function reading the table's stream (none: every record goes through)."""
    functions = resources_of_type(dict(template or load_template()), "AWS::Serverless::Function")
    found = []
    for function in functions.values():
        for event in (function.get("Properties", {}).get("Events") or {}).values():
            stream = event.get("Properties", {}).get("Stream")
            if event.get("Type") == "DynamoDB" and logical_id in json.dumps(stream):
                filters = (event["Properties"].get("FilterCriteria") or {}).get("Filters") or []
                found.append([json.loads(entry["Pattern"]) for entry in filters])
    if len(found) != 1:
        raise Unsupported(f"expected one function reading {logical_id}'s stream, found {len(found)}")
    return found[0]


def function_environment(template: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The environment variables every function of the template gets the same value of (Globals' and their own,
    resolved with the parameters' defaults), the ones naming other resources (unresolvable here) left out: the
    settings the functions build the repository with (`orders.wiring`), e.g. the status index's shard count."""
    resolved = dict(template or load_template())
    values: dict[str, set[str]] = {}
    for logical_id in resources_of_type(resolved, "AWS::Serverless::Function"):
        variables = (function_properties(resolved, logical_id).get("Environment") or {}).get(
            "Variables"
        ) or {}
        for name, value in variables.items():
            try:
                values.setdefault(name, set()).add(str(resolve(value, resolved, {})))
            except Unresolvable:
                continue
    return {name: next(iter(found)) for name, found in values.items() if len(found) == 1}


def environment(variables: Mapping[str, str]) -> AbstractContextManager[Any]:
    """`os.environ` with `variables` set, as it was afterwards."""
    return mock.patch.dict(os.environ, variables)


def matches(pattern: Any, value: Any) -> bool:
    """Lambda's event filtering, as far as the template uses it: nested fields, and lists of allowed values.
    Another kind of rule (prefix, exists, numeric, ...) raises rather than being guessed at."""
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            name in value and matches(rule, value[name]) for name, rule in pattern.items()
        )
    if isinstance(pattern, list) and all(isinstance(rule, (str, int, float, bool)) for rule in pattern):
        return value in pattern
    raise Unsupported(f"filter rule {pattern!r}")


# ----------------------------------------------------------------------------------------------- counting
@dataclass
class WriteCounts:
    """Writes (and write units) per (table or index, partition key, second)."""

    writes: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    units: Counter[tuple[str, str, int]] = field(default_factory=Counter)

    def add(self, target: str, partition: str, second: int, units: int) -> None:
        self.writes[target, partition, second] += 1
        self.units[target, partition, second] += units

    def busiest(self, targets: Iterable[str]) -> dict[str, Busiest]:
        """For each target, the partition key and second with the most writes (and the most units)."""
        result = {target: Busiest(target) for target in targets}
        for (target, partition, second), count in self.writes.items():
            best = result.setdefault(target, Busiest(target))
            if count > best.writes:
                best.writes, best.partition, best.second = count, partition, second
        for (target, _, _), units in self.units.items():
            best = result[target]
            best.units = max(best.units, units)
        return result


@dataclass
class Busiest:
    target: str
    writes: int = 0
    partition: str | None = None
    second: int | None = None
    units: int = 0  # the most units on any of its partition keys in any second (not necessarily the same one)

    def __str__(self) -> str:
        where = f" ({self.partition!r} in second {self.second})" if self.partition is not None else ""
        return f"{self.target}: {self.writes} writes/s{where}, at most {self.units} write units/s"


def over_limit(
    counts: WriteCounts, limit: int = WRITE_LIMIT, *, units: bool = False
) -> list[tuple[str, str, int, int]]:
    """Every (target, partition key, second, writes) above `limit` writes in that second, busiest first; with
    `units`, write units instead (a partition's limit is 1,000 units a second, and an item over 1 KB costs more
    than one)."""
    counted = counts.units if units else counts.writes
    return sorted(
        (
            (target, partition, second, count)
            for (target, partition, second), count in counted.items()
            if count > limit
        ),
        key=lambda found: -found[3],
    )


# ----------------------------------------------------------------------------------------------- the client
Item = dict[str, Any]
_CLAUSE = re.compile(r"^\s*SET\s+(?P<actions>.*)$", re.IGNORECASE | re.DOTALL)
_OTHER_CLAUSE = re.compile(r"\b(REMOVE|ADD|DELETE)\s", re.IGNORECASE)


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    parts, depth, start = [], 0, 0
    for position, character in enumerate(text):
        if character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
        elif character == separator and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


# An UpdateExpression parsed once (the service sends a handful of distinct ones): each SET action as the
# attribute it sets (a name or a `#placeholder`) and a tree of the value: (":v",), ("#a",), (function, *args),
# ("+"/"-", left, right).
Node = tuple[Any, ...]


def _path(text: str) -> str:
    if not re.fullmatch(r"#?[A-Za-z0-9_]+", text):
        raise Unsupported(f"update path {text!r} (nested paths are not simulated)")
    return text


def _operand(text: str) -> Node:
    if call := re.fullmatch(r"(?P<function>[a-z_]+)\s*\((?P<arguments>.*)\)", text, re.DOTALL):
        arguments = _split_top_level(call["arguments"])
        if call["function"] == "list_append" and len(arguments) == 2:
            return ("list_append", _operand(arguments[0]), _operand(arguments[1]))
        if call["function"] == "if_not_exists" and len(arguments) == 2:
            return ("if_not_exists", _path(arguments[0]), _operand(arguments[1]))
        raise Unsupported(f"update function {text!r}")
    return (text,) if text.startswith(":") else ("path", _path(text))


def _value(text: str) -> Node:
    for operator in ("+", "-"):
        parts = _split_top_level(text, operator)
        if len(parts) == 2:
            return (operator, _operand(parts[0]), _operand(parts[1]))
    return _operand(text)


@cache
def parse_update(expression: str) -> tuple[tuple[str, Node], ...]:
    clause = _CLAUSE.match(expression)
    if clause is None or _OTHER_CLAUSE.search(clause["actions"]):
        raise Unsupported(f"UpdateExpression {expression!r} (only SET is simulated)")
    actions = []
    for action in _split_top_level(clause["actions"]):
        path, equals, value = action.partition("=")
        if not equals:
            raise Unsupported(f"update action {action!r}")
        actions.append((_path(path.strip()), _value(value.strip())))
    return tuple(actions)


def apply_update(item: Item, expression: str, names: Mapping[str, str], values: Mapping[str, Any]) -> Item:
    """The item after the UpdateExpression (SET only), as DynamoDB makes it: every operand is read from the item
    as it was before the update."""

    def name(path: str) -> str:
        return names[path] if path.startswith("#") else path

    def evaluate(node: Node) -> Any:
        kind = node[0]
        if kind.startswith(":"):
            return values[kind]
        if kind == "path":
            attribute = name(node[1])
            if attribute not in item:
                raise Unsupported(f"the update reads {attribute}, which the item does not have")
            return item[attribute]
        if kind == "list_append":
            return {"L": [*evaluate(node[1])["L"], *evaluate(node[2])["L"]]}
        if kind == "if_not_exists":
            attribute = name(node[1])
            return item[attribute] if attribute in item else evaluate(node[2])
        left, right = Decimal(evaluate(node[1])["N"]), Decimal(evaluate(node[2])["N"])
        return {"N": str(left + right if kind == "+" else left - right)}

    new = dict(item)
    for path, node in parse_update(expression):
        new[name(path)] = evaluate(node)
    return new


class RecordingDynamoDB:
    """An in-memory stand-in for the boto3 DynamoDB client, for the operations the service's writes use, which
    counts every write per partition key per second (`counts`) while `counting` is set. `second` is the
    simulated second the next request is made in; `owner` tags the items written (so `forget` can drop an
    order's items once the simulation is done with it, which is not a DynamoDB operation)."""

    def __init__(
        self, layout: Sequence[KeySchema], table_name: str = TABLE_NAME, *, mirror: Any = None
    ) -> None:
        self.layout = list(layout)
        # Another client (moto's, in a test) that every write is sent to first, with its conditions: what it
        # makes of them can then be compared with what this one did.
        self.mirror = mirror
        self.table_name = table_name
        self.items: dict[tuple[str, ...], Item] = {}
        self.counts = WriteCounts()
        self.second = 0
        self.counting = True
        self.owner: object = None
        self.stream: list[dict[str, Any]] = []
        self.written: Counter[str] = Counter()  # writes per table or index, in every second, counted or not
        self._owned: dict[object, set[tuple[str, ...]]] = {}
        self._sequence = itertools.count(1)

    # ------------------------------------------------------------------ reads the write paths make
    def get_item(self, *, TableName: str, Key: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        self._check_table(TableName)
        item = self.items.get(self._key(Key))
        return {"Item": item} if item is not None else {}

    def query(self, **_: Any) -> dict[str, Any]:
        raise Unsupported("Query: the simulated workload only writes")

    scan = query

    # ------------------------------------------------------------------ writes
    def put_item(self, *, TableName: str, Item: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        self._check_table(TableName)
        self._mirror("put_item", TableName=TableName, Item=Item, **_)
        self._write(self._key(Item), dict(Item), transactional=False)
        return {}

    def update_item(
        self,
        *,
        TableName: str,
        Key: Mapping[str, Any],
        UpdateExpression: str,
        ExpressionAttributeNames: Mapping[str, str] | None = None,
        ExpressionAttributeValues: Mapping[str, Any] | None = None,
        ReturnValues: str = "NONE",
        **_: Any,
    ) -> dict[str, Any]:
        self._check_table(TableName)
        self._mirror(
            "update_item",
            TableName=TableName,
            Key=Key,
            UpdateExpression=UpdateExpression,
            ExpressionAttributeNames=ExpressionAttributeNames,
            ExpressionAttributeValues=ExpressionAttributeValues,
            ReturnValues=ReturnValues,
            **_,
        )
        new = self._update(Key, UpdateExpression, ExpressionAttributeNames, ExpressionAttributeValues)
        self._write(self._key(Key), new, transactional=False)
        if ReturnValues == "ALL_NEW":
            return {"Attributes": new}
        if ReturnValues != "NONE":
            raise Unsupported(f"ReturnValues={ReturnValues}")
        return {}

    def delete_item(self, *, TableName: str, Key: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        self._check_table(TableName)
        self._mirror("delete_item", TableName=TableName, Key=Key, **_)
        self._write(self._key(Key), None, transactional=False)
        return {}

    def transact_write_items(self, *, TransactItems: Sequence[Mapping[str, Any]], **_: Any) -> dict[str, Any]:
        self._mirror("transact_write_items", TransactItems=TransactItems, **_)
        planned: list[tuple[tuple[str, ...], Item | None]] = []
        for entry in TransactItems:
            ((action, request),) = entry.items()
            self._check_table(request["TableName"])
            if action == "Put":
                planned.append((self._key(request["Item"]), dict(request["Item"])))
            elif action == "Update":
                new = self._update(
                    request["Key"],
                    request["UpdateExpression"],
                    request.get("ExpressionAttributeNames"),
                    request.get("ExpressionAttributeValues"),
                )
                planned.append((self._key(request["Key"]), new))
            elif action == "Delete":
                planned.append((self._key(request["Key"]), None))
            elif action != "ConditionCheck":
                raise Unsupported(f"TransactWriteItems action {action}")
        for key, item in planned:
            self._write(key, item, transactional=True)
        return {}

    # ------------------------------------------------------------------ bookkeeping
    def forget(self, owner: object) -> None:
        """Drop the items `owner` wrote (memory only: nothing is counted)."""
        for key in self._owned.pop(owner, ()):
            self.items.pop(key, None)

    def _mirror(self, operation: str, **request: Any) -> None:
        if self.mirror is not None:
            getattr(self.mirror, operation)(
                **{name: value for name, value in request.items() if value is not None}
            )

    def _check_table(self, table_name: str) -> None:
        if table_name != self.table_name:
            raise Unsupported(f"a write to another table, {table_name}")

    def _key(self, item: Mapping[str, Any]) -> tuple[str, ...]:
        key = self.layout[0].key_of(item)
        if key is None:
            raise Unsupported(f"an item without the table's key: {sorted(item)}")
        return key

    def _update(
        self,
        key: Mapping[str, Any],
        expression: str,
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
    ) -> Item:
        old = self.items.get(self._key(key)) or dict(key)
        return apply_update(old, expression, names or {}, values or {})

    def _write(self, key: tuple[str, ...], new: Item | None, *, transactional: bool) -> None:
        old = self.items.get(key)
        sizes: dict[
            int, int
        ] = {}  # an item's size, once per write (ProjectionType ALL: the same item everywhere)
        for schema in self.layout:
            for partition, entry in self._writes_on(schema, key, old, new):
                self.written[schema.name] += 1
                if self.counting:
                    if (size := sizes.get(id(entry))) is None:
                        size = sizes[id(entry)] = item_size(entry)
                    units = max(1, math.ceil(size / WRITE_UNIT_BYTES)) * (2 if transactional else 1)
                    self.counts.add(schema.name, partition, self.second, units)
        if new is None:
            self.items.pop(key, None)
        else:
            self.items[key] = new
            self._owned.setdefault(self.owner, set()).add(key)
        if self.counting and old != new:  # (the consumer runs in the counted seconds only: see `simulate`)
            self.stream.append(self._record(key, old, new))

    def _writes_on(
        self, schema: KeySchema, key: tuple[str, ...], old: Item | None, new: Item | None
    ) -> list[tuple[str, Item]]:
        """The partition keys a write from `old` to `new` (None: no item) writes on the table or on one index,
        one entry per write, each with what is written there (or removed: its size is billed too)."""
        if schema.name == TABLE:
            return [(key[0], new if new is not None else old or {})]
        old_key, new_key = schema.key_of(old), schema.key_of(new)
        writes: list[tuple[str, Item]] = []
        if old is not None and new is not None and old_key is not None and old_key == new_key:
            before, after = self._projected(schema, old), self._projected(schema, new)
            if before != after:
                writes.append((new_key[0], after))
            return writes
        if old is not None and old_key is not None:
            writes.append((old_key[0], self._projected(schema, old)))  # the entry leaves the index
        if new is not None and new_key is not None:
            writes.append((new_key[0], self._projected(schema, new)))  # and one comes in
        return writes

    def _projected(self, schema: KeySchema, item: Item) -> Item:
        """What an index holds of the item."""
        if schema.projection == "ALL":
            return item
        kept = {*self.layout[0].attributes, *schema.attributes, *schema.included}
        return {name: value for name, value in item.items() if name in kept}

    def _record(self, key: tuple[str, ...], old: Item | None, new: Item | None) -> dict[str, Any]:
        sequence = str(next(self._sequence))
        change: dict[str, Any] = {
            "Keys": {name: (new or old or {})[name] for name in self.layout[0].attributes},
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if old is not None:
            change["OldImage"] = old
        if new is not None:
            change["NewImage"] = new
        event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        return {
            "eventID": sequence,
            "eventName": event_name,
            "eventSource": "aws:dynamodb",
            "dynamodb": change,
        }


# ----------------------------------------------------------------------------------------------- the workload
START = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)
FULFILMENT = Caller("fulfilment-1", True)  # confirms and ships: an admin (a warehouse system's token)
CUSTOMER_SECRET = b"partition-simulation-cursor-secret-0123456789"
# What a request's items look like: 1 to 3 lines, quantities 1 to 3, products priced through the test catalog.
REQUEST_VARIANTS = 24
TRACE_HEADER = "Root=1-67518a00-5f0c1e2d3a4b5c6d7e8f9a0b;Parent=53995c3f42cd8ad8;Sampled=0"


@cache
def zipf_weights(users: int, exponent: float) -> list[float]:
    """Cumulative weights of users ranked 1..`users`, the k-th ordering in proportion to 1/k**`exponent`."""
    return list(itertools.accumulate(rank**-exponent for rank in range(1, users + 1)))


@dataclass(frozen=True)
class Population:
    """Who places the orders: `users` customers, picked by a Zipf law of `exponent` (0: uniform)."""

    users: int
    exponent: float

    def pick(self, rng: random.Random, count: int) -> list[str]:
        ranks = rng.choices(range(self.users), cum_weights=zipf_weights(self.users, self.exponent), k=count)
        return [f"user-{rank:07d}" for rank in ranks]

    def share_of_top(self, top: int = 1) -> float:
        weights = zipf_weights(self.users, self.exponent)
        return weights[top - 1] / weights[-1]


@dataclass(frozen=True)
class OneUser:
    """Every order placed by one customer."""

    user_id: str

    def pick(self, rng: random.Random, count: int) -> list[str]:
        return [self.user_id] * count


@dataclass(frozen=True)
class Workload:
    """`orders_per_second` creates, evenly spread over each second of the minute, by `buyers`. Of the creates,
    `keyed_share` send an Idempotency-Key, and `failed_share` fail after reserving (the price changed since the
    cart) while the inventory cannot be reached to release, so a release intent is left. Every order created is
    confirmed by fulfilment `confirm_after` seconds later (uniform in the range); after that, `shipped_share`
    are shipped by fulfilment and `cancelled_share` cancelled by their customer, `final_after` seconds after
    the confirmation; the rest stay confirmed. Whatever falls after the minute does not happen."""

    name: str
    orders_per_second: int
    buyers: Population | OneUser
    keyed_share: float = 0.5
    failed_share: float = 0.005
    confirm_after: tuple[float, float] = (1.0, 10.0)
    shipped_share: float = 0.90
    cancelled_share: float = 0.05
    final_after: tuple[float, float] = (5.0, 30.0)
    seconds: int = SECONDS_IN_MINUTE
    seed: int = 21

    @property
    def longest_life(self) -> float:
        """The most seconds from an order's create to its last write."""
        return self.confirm_after[1] + self.final_after[1]


class Plan(NamedTuple):
    """One order of the workload, and what happens to it when (seconds from the minute's start)."""

    number: int
    user_id: str
    variant: int
    keyed: bool
    fails: bool
    events: tuple[
        tuple[float, str], ...
    ]  # (when, what): "create", then "confirmed", then "shipped"/"cancelled"


def plans_of_second(workload: Workload, second: int) -> list[Plan]:
    """The orders created in `second`: the same every time (a random source seeded by the second alone)."""
    rng = random.Random(f"{workload.seed}:{workload.name}:{second}")
    draw = rng.random
    count = workload.orders_per_second
    users = workload.buyers.pick(rng, count)
    (confirm_low, confirm_high), (final_low, final_high) = workload.confirm_after, workload.final_after
    shipped, cancelled = workload.shipped_share, workload.shipped_share + workload.cancelled_share
    plans = []
    for position, user_id in enumerate(users):
        created = second + position / count
        fails, keyed, variant = draw() < workload.failed_share, draw() < workload.keyed_share, draw()
        events: list[tuple[float, str]] = [(created, "create")]
        if not fails:
            confirmed = created + confirm_low + (confirm_high - confirm_low) * draw()
            final_at = confirmed + final_low + (final_high - final_low) * draw()
            outcome = draw()
            events.append((confirmed, "confirmed"))
            if outcome < shipped:
                events.append((final_at, "shipped"))
            elif outcome < cancelled:
                events.append((final_at, "cancelled"))
        within = tuple(event for event in events if event[0] < workload.seconds)
        plans.append(
            Plan(second * count + position, user_id, int(variant * REQUEST_VARIANTS), keyed, fails, within)
        )
    return plans


@cache
def order_requests() -> tuple[tuple[CreateOrderRequest, CreateOrderRequest], ...]:
    """Request bodies, each with its twin that sends a price the inventory no longer has (a 422 after the
    reservation): parsed once, as the API parses each request before the service sees it."""
    rng = random.Random("order-requests")
    variants = []
    for variant in range(REQUEST_VARIANTS):
        lines = [
            {
                "productId": f"sku-{rng.randrange(10**6):06d}-c{rng.randrange(199, 25_000)}",
                "quantity": rng.randint(1, 3),
            }
            for _ in range(rng.randint(1, 3))
        ]
        address = {
            "street": f"{rng.randrange(1, 9999)} Market Street",
            "city": "San Francisco",
            "zipCode": "94103",
        }
        if variant % 2:
            address.update(state="CA", country="US")
        body = {"items": lines, "shippingAddress": address}
        stale = json.loads(json.dumps(body))
        first = stale["items"][0]
        first["price"] = Decimal(catalog_price(first["productId"]) or 0) + Decimal("0.01")
        variants.append((CreateOrderRequest.model_validate(body), CreateOrderRequest.model_validate(stale)))
    return tuple(variants)


@dataclass(frozen=True, slots=True)
class _Reservation:
    reservation_id: str
    unit_prices: dict[str, Decimal]


class _Users:
    def ensure_active(self, user_id: str, *, deadline: float | None = None) -> None:
        return None


@dataclass
class _Inventory:
    """Prices from the test catalog. `reachable_for_release` False: a release fails (so a failed create leaves a
    release intent, as when the inventory cannot be reached)."""

    reachable_for_release: bool

    def reserve(
        self, reservation_id: str, quantities: Mapping[str, int], *, deadline: float | None = None
    ) -> _Reservation:
        return _Reservation(
            reservation_id, {product: catalog_price(product) or Decimal(0) for product in quantities}
        )

    def release(self, reservation_id: str, *, deadline: float | None = None) -> None:
        if not self.reachable_for_release:
            raise ConnectionError("the inventory cannot be reached")

    def commit(self, reservation_id: str, *, deadline: float | None = None) -> None:
        return None


def _run_now(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
    """`submit` for the keyed create: the claim is made at once, on this thread."""
    future: Future[Any] = Future()
    try:
        future.set_result(function(*args, **kwargs))
    except BaseException as error:  # noqa: BLE001 - handed over to whoever reads the future, as an executor does
        future.set_exception(error)
    return future


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()


@dataclass
class Simulation:
    """The outcome of `simulate`: the counts of the seconds asked for, and what was run."""

    workload: Workload
    seconds: tuple[int, ...]  # the seconds counted (every write of these seconds is in `counts`)
    client: RecordingDynamoDB
    operations: Counter[str] = field(
        default_factory=Counter
    )  # creates and status changes run, counted or not
    counted_operations: Counter[str] = field(default_factory=Counter)

    @property
    def counts(self) -> WriteCounts:
        return self.client.counts

    @property
    def targets(self) -> list[str]:
        return [schema.name for schema in self.client.layout]

    def busiest(self) -> dict[str, Busiest]:
        return self.counts.busiest(self.targets)

    def unwritten(self) -> list[str]:
        """The table or indexes no simulated write reached: their keys come from writes the simulation does not
        make, so their load is unknown."""
        return [name for name in self.targets if self.client.written[name] == 0]

    def report(self) -> str:
        lines = [
            (
                f"{self.workload.name}: {len(self.seconds)} of {self.workload.seconds} seconds counted "
                f"({_ranges(self.seconds)}); run: {dict(self.operations)}; in the counted seconds: "
                f"{dict(self.counted_operations)}"
            )
        ]
        lines += [f"  {busiest}" for busiest in self.busiest().values()]
        return "\n".join(lines)


def _ranges(seconds: Sequence[int]) -> str:
    groups = []
    for _, run in itertools.groupby(enumerate(seconds), key=lambda pair: pair[1] - pair[0]):
        values = [value for _, value in run]
        groups.append(str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}")
    return ", ".join(groups)


def simulate(
    workload: Workload,
    seconds: Iterable[int] | None = None,
    *,
    template: Mapping[str, Any] | None = None,
    mirror: Any = None,
) -> Simulation:
    """Runs the workload and counts every write made in `seconds` (default: every second of the minute).

    Only the orders that write in a counted second are run, each up to its last write in one: its earlier steps
    run too (its create, its confirmation) so that the items are as they would be, but are not counted. So the
    counts of a counted second are exact: every order writing in it is run, with every one of its writes.
    The stream consumer runs on the records of the counted steps, and its writes are counted in the second of the
    change that caused them (the stream hands records over well within a second; the same second is the busier
    assumption). It has nothing to do for an uncounted step: it acts on shipments, cancellations and release
    intents, and those are always an order's last step, which only runs when counted.
    `mirror`: a client every write is sent to first (`RecordingDynamoDB`); items are then kept to the end."""
    counted = tuple(sorted(set(range(workload.seconds) if seconds is None else seconds)))
    if not counted or counted[0] < 0 or counted[-1] >= workload.seconds:
        raise ValueError(f"seconds must be within the workload's {workload.seconds}")
    client = RecordingDynamoDB(table_layout(template), mirror=mirror)
    filters = stream_filters(template)
    simulation = Simulation(workload, counted, client)
    counted_set = set(counted)

    schedule: list[tuple[float, int, int, str, Plan]] = []
    first_created = max(0, counted[0] - math.ceil(workload.longest_life))
    for second in range(first_created, counted[-1] + 1):
        for plan in plans_of_second(workload, second):
            last = max(
                (step for step, (at, _) in enumerate(plan.events) if int(at) in counted_set), default=None
            )
            if last is not None:
                schedule.extend(
                    (at, plan.number, step, what, plan)
                    for step, (at, what) in enumerate(plan.events[: last + 1])
                )
    schedule.sort(key=lambda event: event[:3])
    steps_left = Counter(event[1] for event in schedule)

    clock = _Clock()
    # The repository with the settings the deployed functions read (`orders.wiring`), from the template.
    with environment(function_environment(template)):
        status_shards = wiring.status_index_shards()
    repository = OrderRepository(client, client.table_name, status_shards=status_shards)  # type: ignore[arg-type]
    service = OrderService(
        repository,
        users=_Users(),
        inventory=_Inventory(reachable_for_release=False),
        currency="USD",
        cursors=CursorCodec(CUSTOMER_SECRET),
        clock=clock,
    )
    store = IdempotencyStore(client, client.table_name, clock=clock.seconds)  # type: ignore[arg-type]
    settle = record_settler(set(), ReservationKeeper(repository, _Inventory(reachable_for_release=True)))
    requests = order_requests()
    order_ids: dict[int, str] = {}

    # Lambda's trace header, as every invocation has one (Tracing: Active): the items then carry their trace ids,
    # and are the size they are deployed (Sampled=0: nothing is exported).
    with environment({tracing.TRACE_HEADER_VARIABLE: TRACE_HEADER}):
        for at, number, _, what, plan in schedule:
            clock.now = START + timedelta(seconds=at)
            client.second, client.owner = int(at), number
            client.counting = int(at) in counted_set
            client.stream.clear()
            _step(service, store, repository, requests, order_ids, what, plan)
            simulation.operations[what] += 1
            if client.counting:
                simulation.counted_operations[what] += 1
                # The stream consumer, within the second (its writes counted with the change's): every record the
                # event source mapping's filter lets through, through the consumer's own step for a record.
                pending = list(client.stream)
                client.stream.clear()
                while pending:
                    for record in pending:
                        if not filters or any(matches(pattern, record) for pattern in filters):
                            settle(StreamRecord(record))
                    pending = list(client.stream)
                    client.stream.clear()
            steps_left[number] -= 1
            # Done with the order: its items go (with a mirror, every item is kept to be compared).
            if not steps_left[number] and mirror is None:
                client.forget(number)
                order_ids.pop(number, None)
    return simulation


def _step(
    service: OrderService,
    store: IdempotencyStore,
    repository: OrderRepository,
    requests: Sequence[tuple[CreateOrderRequest, CreateOrderRequest]],
    order_ids: dict[int, str],
    what: str,
    plan: Plan,
) -> None:
    """One step of an order's life, as the functions make it."""
    customer = Caller(plan.user_id, False)
    if what == "create":
        request = requests[plan.variant][1 if plan.fails else 0]
        correlation_id = f"{plan.number:08x}-0000-4000-8000-000000000000"
        try:
            if plan.keyed:
                created = once_per_key(
                    lambda keyed: service.create(
                        customer, request, correlation_id=correlation_id, keyed=keyed
                    ),
                    lambda order: {
                        "id": order.id,
                        "version": order.version,
                        "body": json.dumps(order.to_wire(), default=str),
                    },
                    store=store,
                    repository=repository,
                    submit=_run_now,
                    caller_id=customer.user_id,
                    key=f"checkout-{plan.number}",
                    body=request.model_dump(mode="json"),
                    remaining_ms=29_000,
                )
                order_ids[plan.number] = created["id"]
            else:
                order_ids[plan.number] = service.create(customer, request, correlation_id=correlation_id).id
        except PriceMismatch:
            if not plan.fails:
                raise
        return
    target = OrderStatus(what)
    caller = customer if target is OrderStatus.CANCELLED else FULFILMENT
    service.change_status_wire(
        caller, order_ids[plan.number], target, correlation_id=f"change-{plan.number}-{what}"
    )


def synthetic(
    writes: Iterable[tuple[int, Mapping[str, Any]]], *, template: Mapping[str, Any] | None = None
) -> WriteCounts:
    """Counts of raw PutItems (second, item) made through the recording client: for checking the check."""
    client = RecordingDynamoDB(table_layout(template))
    for second, item in writes:
        client.second = second
        client.put_item(TableName=client.table_name, Item=dict(item))
    return client.counts
