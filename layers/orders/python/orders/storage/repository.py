"""The only module that talks to DynamoDB: every key, index, condition and (de)serialisation of the table.

| item  | PK         | SK    | GSI1PK        | GSI1SK (index GSI1)  | GSI2SK (index GSI2, hash GSI1PK) | GSI3PK (index GSI3, range GSI1SK) |
|-------|------------|-------|---------------|----------------------|----------------------------------|-----------------------------------|
| order | ORDER#<id> | ORDER | USER#<userId> | <createdAt>#<id>     | <status>#<id>                    | STATUS#<status>#<shard>           |
Order ids are UUIDv7 (time-ordered), so both user indexes list newest first when read backwards, and a
status change rewrites GSI2SK and GSI3PK from the id alone, inside the one conditional UpdateItem.
GSI3 lists orders across users by status and creation time. Its partition key is write-sharded: an order's
shard is a hash of its id modulo the deployment's shard count (`STATUS_INDEX_SHARDS`), so one status's
writes spread over that many partitions (each takes at most 1,000 writes/s); a page merges the shards.
Beside an order, `ORDER#<id>` / `RESERVATION` records what the inventory was told (released/committed).
Release intents (`RELEASE#<reservationId>` / `RELEASE`) are left by failed creates for the stream consumer.
Idempotency records (`IDEMPOTENCY#<hash>` / `IDEMPOTENCY`) are written by `orders.storage.idempotency`.
"""

from __future__ import annotations

import heapq
import math
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from orders import tracing
from orders.domain.status import OrderStatus
from orders.storage.wire import CHANGE_FIELDS, order_wire

if TYPE_CHECKING:
    # Imported where an Order is built: reads (`get_wire`) and the stream consumer never load pydantic.
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    from orders.domain.models import Order

    Item = Mapping[str, AttributeValueTypeDef]

ORDER_SK = "ORDER"
RESERVATION_SK = "RESERVATION"
RELEASE_SK = "RELEASE"
RELEASE_ENTITY = "reservationRelease"
BY_USER_INDEX = "GSI1"
BY_USER_STATUS_INDEX = "GSI2"
BY_STATUS_SHARD_INDEX = "GSI3"
# Sized for 10,000 orders/s (docs/capacity.md): a status's partitions take its creates and changes in and
# out, ~20,000 writes/s (~24,000 write units/s) at that rate. 48 shards keep each near 500 units/s and its
# busiest second under DynamoDB's 1,000 per partition (tests/unit/test_partition_simulation.py); 32 did not.
DEFAULT_STATUS_SHARDS = 48
# The correlation id of every version, index-aligned with the END of statusHistory (the last entry is the
# latest version's): `correlationId` is overwritten by each change, and a backfill must tell subscribers
# what the live event of each version said. "" where a change had none. Orders written before it existed
# start it at their first later change, hence aligned from the end (`orders.storage.history`).
CHANGE_CORRELATION_IDS = "changeCorrelationIds"
# The same for the X-Ray trace id of the request that made each version (`traceId` holds the latest): the
# event a change causes carries it, so a subscriber can join the event to the request's trace.
TRACE_ID = "traceId"
CHANGE_TRACE_IDS = "changeTraceIds"
# Attributes of the item that are not part of the order model (keys and bookkeeping).
KEY_ATTRIBUTES = (
    "PK",
    "SK",
    "GSI1PK",
    "GSI1SK",
    "GSI2SK",
    "GSI3PK",
    "entityType",
    "correlationId",
    CHANGE_CORRELATION_IDS,
    TRACE_ID,
    CHANGE_TRACE_IDS,
)
ENTITY_TYPE = "order"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def by_user_sk(created_at: str, order_id: str) -> str:
    return f"{created_at}#{order_id}"


def by_status_sk(status: str, order_id: str) -> str:
    return f"{status}#{order_id}"


def status_shard(order_id: str, shards: int) -> int:
    """The order's shard of the status index: stable for the order's life (a hash of its id, not Python's
    per-process `hash`), spread evenly whatever the id's format."""
    return zlib.crc32(order_id.encode()) % shards


def status_shard_pk(status: str, shard: int) -> str:
    return f"STATUS#{status}#{shard}"


def with_status(shard_pk: str, status: str) -> str:
    """`STATUS#<old>#<shard>` with another status, the shard kept (rebuilding a past version's key)."""
    return status_shard_pk(status, int(shard_pk.rpartition("#")[2]))


def _serialize(value: Any) -> AttributeValueTypeDef:
    return _serializer.serialize(value)


def _to_item(
    order: Order, correlation_id: str | None, status_shards: int = DEFAULT_STATUS_SHARDS
) -> dict[str, AttributeValueTypeDef]:
    attributes = order.to_wire()
    if correlation_id:
        # Carried to stream subscribers (OrderCreated.correlationId); not part of the API's order.
        attributes["correlationId"] = correlation_id
    attributes[CHANGE_CORRELATION_IDS] = [correlation_id or ""]
    trace_id = tracing.current_trace_id()
    if trace_id:
        attributes[TRACE_ID] = trace_id
    attributes[CHANGE_TRACE_IDS] = [trace_id or ""]
    attributes.update(
        PK=order_pk(order.id),
        SK=ORDER_SK,
        GSI1PK=user_pk(order.user_id),
        GSI1SK=by_user_sk(order.created_at, order.id),
        GSI2SK=by_status_sk(order.status, order.id),
        GSI3PK=status_shard_pk(order.status, status_shard(order.id, status_shards)),
        entityType=ENTITY_TYPE,
    )
    return {name: _serialize(value) for name, value in attributes.items()}


def _order_attributes(item: Item) -> dict[str, Any]:
    return {
        name: _deserializer.deserialize(value) for name, value in item.items() if name not in KEY_ATTRIBUTES
    }


def _wire_from_item(item: Item) -> dict[str, Any]:
    return order_wire(_order_attributes(item))


def _from_item(item: Item) -> Order:
    from orders.domain.models import Order

    # The model does what `order_wire` does (ints, money, field order) while validating: no need for both.
    return Order.model_validate(_order_attributes(item))


READ_UNIT_BYTES = 4096  # a read unit reads up to 4 KB, strongly consistent (half a unit eventually)


def item_size(item: Item) -> int:
    """An item's size in bytes by DynamoDB's published rule: each attribute's name plus its value (strings
    in UTF-8, about one byte per two significant digits of a number plus one, 1 for a boolean or null, and
    for a list or map 3 bytes plus 1 per element plus its elements, map keys included)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + len(key.encode()) + _value_size(element) for key, element in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in inner)
    raise TypeError(f"unknown DynamoDB type {kind}")


def read_units_for(items: Collection[Item], *, consistent: bool) -> float:
    """What DynamoDB charges one Scan or Query page: the items' sizes summed and rounded up to 4 KB, one
    unit per 4 KB strongly consistent, half eventually; a page never costs less than one 4 KB block. Only
    the items handed back are seen here: those a FilterExpression dropped were read (and paid for) too."""
    blocks = max(1, math.ceil(sum(item_size(item) for item in items) / READ_UNIT_BYTES))
    return blocks * (1.0 if consistent else 0.5)


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One page of a Scan or Query of order items, for an operator's sweep over the table (`make backfill`)."""

    images: list[dict[str, Any]]  # each order item decoded as the stream consumer receives images
    next_key: dict[str, Any] | None  # LastEvaluatedKey (JSON-safe typed values); None after the last page
    scanned: int  # items read, including those the filter dropped
    read_units: float | None  # as DynamoDB reported them (ReturnConsumedCapacity=TOTAL), if it did
    read_units_computed: float  # from the returned items' sizes (`read_units_for`): a lower bound


def _item_page(response: Mapping[str, Any], *, consistent: bool) -> ItemPage:
    from orders.storage.history import stream_image

    items = response.get("Items", [])
    reported = response.get("ConsumedCapacity", {}).get("CapacityUnits")
    return ItemPage(
        images=[stream_image(item) for item in items],
        next_key=response.get("LastEvaluatedKey"),
        scanned=int(response.get("ScannedCount", len(items))),
        read_units=float(reported) if reported is not None else None,
        read_units_computed=read_units_for(items, consistent=consistent),
    )


def _status_index_key(partition: str, position: str) -> dict[str, AttributeValueTypeDef]:
    """The GSI3 key just at `position` (`<createdAt>#<id>`) in `partition`, to start a Query after it: the
    order need not be in that partition (DynamoDB and moto only compare keys)."""
    return {
        "GSI3PK": {"S": partition},
        "GSI1SK": {"S": position},
        "PK": {"S": order_pk(position.rpartition("#")[2])},
        "SK": {"S": ORDER_SK},
    }


class _ShardReader:
    """One partition of GSI3 as the merge reads it: what was read and not yet taken, and where to go on."""

    __slots__ = ("buffered", "exhausted", "next_key", "partition", "reads")

    def __init__(self, partition: str) -> None:
        self.partition = partition
        self.buffered: list[Mapping[str, Any]] = []  # in the listing's order, next first
        self.next_key: Mapping[str, Any] | None = None
        self.exhausted = False
        self.reads = 0

    def add(self, items: Iterable[Mapping[str, Any]], last_key: Mapping[str, Any] | None) -> None:
        self.buffered.extend(items)
        self.next_key = last_key
        self.exhausted = last_key is None
        self.reads += 1


class _ShardMerge:
    """A k-way merge of sorted partitions that reads each only as far as the page needs.

    First every partition is read for a small chunk (about its share of the page, plus two), side by side.
    Then items are taken in order; when a partition that has more runs out of read items, nothing further is
    taken until it is read again (its next item may come before every other partition's), and it is read for
    as many items as the page still lacks, so one more read of it always suffices."""

    FIRST_CHUNK_EXTRA = 2

    def __init__(self, readers: list[_ShardReader], *, wanted: int, ascending: bool) -> None:
        self._readers = readers
        self._wanted = wanted
        self._ascending = ascending
        self._heap: list[tuple[Any, int]] = []
        self.taken: list[Mapping[str, Any]] = []

    def _sort_key(self, item: Mapping[str, Any]) -> Any:
        key = item["GSI1SK"]["S"]
        return key if self._ascending else _Descending(key)

    def _push_head(self, index: int) -> None:
        reader = self._readers[index]
        heapq.heappush(self._heap, (self._sort_key(reader.buffered[0]), index))

    def reads_needed(self) -> list[tuple[_ShardReader, int]]:
        """The partitions to read next and how many items each (empty: the page is complete)."""
        if not any(reader.reads for reader in self._readers):
            chunk = min(self._wanted, math.ceil(self._wanted / len(self._readers)) + self.FIRST_CHUNK_EXTRA)
            return [(reader, chunk) for reader in self._readers]
        for index, reader in enumerate(self._readers):
            if reader.buffered and not any(entry[1] == index for entry in self._heap):
                self._push_head(index)
        while len(self.taken) < self._wanted:
            dry = [r for r in self._readers if not r.buffered and not r.exhausted]
            if dry:
                # The page's next items may be in these partitions: read them before taking anything more.
                return [(reader, self._wanted - len(self.taken)) for reader in dry]
            if not self._heap:
                return []
            _, index = heapq.heappop(self._heap)
            reader = self._readers[index]
            self.taken.append(reader.buffered.pop(0))
            if reader.buffered:
                self._push_head(index)
        return []


class _Descending:
    """Reverses a string's order in the merge's heap (newest first)."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        return self.key > other.key


@dataclass(frozen=True, slots=True)
class TransitionRejected(Exception):
    """The conditional update failed; `current` is the order as it stood, as the API returns it
    (`orders.storage.wire`), or None when there is no order."""

    current: dict[str, Any] | None


def _error_code(error: ClientError) -> str | None:
    return error.response.get("Error", {}).get("Code")


def _outcome_unknown(error: ClientError) -> bool:
    """A 5xx: DynamoDB may have made the write before it failed to answer."""
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return status >= HTTPStatus.INTERNAL_SERVER_ERROR


def _is_order(item: Item, order: Order) -> bool:
    """`item` is `order`'s own (not another order under a colliding id): its buyer and creation time."""
    return item.get("userId") == {"S": order.user_id} and item.get("createdAt") == {"S": order.created_at}


@dataclass(frozen=True, slots=True)
class TransactionCancelled(Exception):
    """A transactional write was cancelled and nothing was written: DynamoDB's reason for each of its items, in
    the order they were given ("None" for an item that was not why; "ConditionalCheckFailed",
    "TransactionConflict", ...)."""

    reasons: tuple[str, ...]

    def reason(self, index: int) -> str:
        return self.reasons[index] if index < len(self.reasons) else "None"


class OrderRepository:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        status_shards: int = DEFAULT_STATUS_SHARDS,
        run_all: Callable[[Sequence[Callable[[], Any]]], list[Any]] | None = None,
    ) -> None:
        """`status_shards`: the deployment's shard count of the status index (raise it, never lower it: orders
        keep their shard until their next status change). `run_all`: runs calls side by side and returns their
        results in order (a page of the cross-user listing queries every shard); one after another if None."""
        if status_shards < 1:
            raise ValueError("the status index needs at least one shard")
        self._client = client
        self._table = table_name
        self._status_shards = status_shards
        self._run_all = run_all or (lambda calls: [call() for call in calls])

    def put_new(self, order: Order, correlation_id: str | None = None) -> None:
        # Never a blind write: an id collision must fail rather than overwrite another order.
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_to_item(order, correlation_id, self._status_shards),
                ConditionExpression="attribute_not_exists(PK)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            # The item that failed the condition (ReturnValuesOnConditionCheckFailure), untyped by botocore.
            if _error_code(error) == "ConditionalCheckFailedException" and (
                existing := cast("Item | None", error.response.get("Item"))
            ):
                # A retry (botocore's) of this very write whose first answer was lost finds the order written.
                if _is_order(existing, order):
                    return
                raise
            if not self._written_despite(error, order):
                raise
        except BotoCoreError as error:
            if not self._written_despite(error, order):
                raise

    def put_new_with(self, order: Order, correlation_id: str | None, also: TransactWriteItemTypeDef) -> None:
        """`put_new` and one more write (`also`, e.g. completing the create's idempotency claim) in one
        TransactWriteItems: both are made or neither. The order item is `_to_item`'s, under put_new's condition
        (the order first, `also` second, as TransactionCancelled's reasons list them)."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _to_item(order, correlation_id, self._status_shards),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    also,
                ],
                # A retry (botocore's) of a call that committed but whose answer was lost succeeds, instead of
                # failing on the order it wrote itself.
                ClientRequestToken=order.id,
            )
        except ClientError as error:
            if _error_code(error) != "TransactionCanceledException":
                if self._written_despite(error, order):
                    return
                raise
            reasons = cast("list[dict[str, Any]]", error.response.get("CancellationReasons") or [])
            cancelled = TransactionCancelled(tuple(str(reason.get("Code", "None")) for reason in reasons))
            # The order is there: a retry of this transaction after it committed, where the token was not honoured
            # (past its 10 minutes; moto ignores it). Both writes were made, as one.
            if cancelled.reason(0) == "ConditionalCheckFailed" and self._was_written(order):
                return
            raise cancelled from error
        except BotoCoreError as error:
            if not self._written_despite(error, order):
                raise

    def _written_despite(self, error: ClientError | BotoCoreError, order: Order) -> bool:
        """Whether a write of `order` that failed with `error` was made all the same: only where its outcome is
        unknown (a timeout or a broken connection, or a 5xx, after botocore's retries) is the order read back."""
        unknown = isinstance(error, BotoCoreError) or _outcome_unknown(error)
        return unknown and self._was_written(order)

    def _was_written(self, order: Order) -> bool:
        """Whether `order` is in the table, after a write of it whose outcome is unknown: its connection broke
        after the request was sent, or DynamoDB answered 5xx (after botocore's retries), or a retry found the
        order there. The caller otherwise releases the order's stock: an order written without it, answered
        with an error, is what this read prevents. False if the read fails too."""
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"PK": {"S": order_pk(order.id)}, "SK": {"S": ORDER_SK}},
                ProjectionExpression="userId, createdAt",
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError):
            return False
        return "Item" in response and _is_order(response["Item"], order)

    def put_release_intent(self, reservation_id: str, at: str) -> None:
        """A reservation to release, carried out by the stream consumer (an outbox item)."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "PK": {"S": f"RELEASE#{reservation_id}"},
                "SK": {"S": RELEASE_SK},
                "entityType": {"S": RELEASE_ENTITY},
                "reservationId": {"S": reservation_id},
                "createdAt": {"S": at},
            },
        )

    def release_intent_exists(self, reservation_id: str) -> bool:
        response = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": f"RELEASE#{reservation_id}"}, "SK": {"S": RELEASE_SK}},
            ProjectionExpression="PK",
            ConsistentRead=True,
        )
        return "Item" in response

    def delete_release_intent(self, reservation_id: str) -> None:
        self._client.delete_item(
            TableName=self._table, Key={"PK": {"S": f"RELEASE#{reservation_id}"}, "SK": {"S": RELEASE_SK}}
        )

    def reservation_state(self, order_id: str) -> str | None:
        response = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": order_pk(order_id)}, "SK": {"S": RESERVATION_SK}},
            ConsistentRead=True,
        )
        state = response.get("Item", {}).get("state")
        return state["S"] if state and "S" in state else None

    def set_reservation_state(self, order_id: str, state: str) -> None:
        """Records that the inventory was told (released/committed), so a redelivered record is a no-op.

        A small item of its own beside the order (no index keys, no entityType): one write unit, where
        updating the order item would also rewrite both of its index entries; and not an order change,
        so the stream consumer's filter never sees it."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "PK": {"S": order_pk(order_id)},
                "SK": {"S": RESERVATION_SK},
                "state": {"S": state},
            },
        )

    def get_wire(self, order_id: str) -> dict[str, Any] | None:
        """The order as the API returns it (see `orders.storage.wire`), or None when there is no such order."""
        response = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": order_pk(order_id)}, "SK": {"S": ORDER_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _wire_from_item(item) if item else None

    def list_by_user(
        self, user_id: str, *, status: OrderStatus | None, limit: int, after: str | None
    ) -> tuple[list[Order], str | None]:
        """Newest first. Returns the page and the position after its last order (None on the last page)."""
        items, next_position = self._user_page(user_id, status=status, limit=limit, after=after)
        return [_from_item(item) for item in items], next_position

    def list_wire_by_user(
        self, user_id: str, *, status: OrderStatus | None, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """`list_by_user` with each order as the API returns it (`orders.storage.wire`): no pydantic."""
        items, next_position = self._user_page(user_id, status=status, limit=limit, after=after)
        return [_wire_from_item(item) for item in items], next_position

    def _user_page(
        self, user_id: str, *, status: OrderStatus | None, limit: int, after: str | None
    ) -> tuple[list[dict[str, AttributeValueTypeDef]], str | None]:
        """A user's orders' items, newest first, and the position after the last (None on the last page).

        One Query on an index: the status filter is part of the index's partition key, so a filtered
        listing reads only matching orders. One extra item is read to know whether a next page exists.
        """
        key_names = {"#pk": "GSI1PK"}
        key_values = {":pk": {"S": user_pk(user_id)}}
        if status is None:
            index, sort_attribute, condition = BY_USER_INDEX, "GSI1SK", "#pk = :pk"
        else:
            index, sort_attribute = BY_USER_STATUS_INDEX, "GSI2SK"
            condition = "#pk = :pk AND begins_with(#sk, :status)"
            key_names["#sk"] = sort_attribute
            key_values[":status"] = {"S": by_status_sk(status, "")}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": key_names,
            "ExpressionAttributeValues": key_values,
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after is not None:
            order_id = after.rpartition("#")[2]
            request["ExclusiveStartKey"] = {
                "PK": {"S": order_pk(order_id)},
                "SK": {"S": ORDER_SK},
                "GSI1PK": {"S": user_pk(user_id)},
                sort_attribute: {"S": after},
            }
        items = self._client.query(**request).get("Items", [])
        page = items[:limit]
        next_position = page[-1][sort_attribute]["S"] if len(items) > limit else None
        return page, next_position

    def list_wire_by_status(
        self,
        statuses: Sequence[str],
        *,
        created_from: str,
        created_to: str,
        ascending: bool,
        limit: int,
        after: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Orders in `statuses` created in [`created_from`, `created_to`) (`iso_timestamp` form), across users,
        by creation time (then id), oldest first if `ascending`; each as the API returns it. Returns the page
        and the position after its last order (None on the last page).

        GSI3 holds each status in `status_shards` partitions, each sorted by `<createdAt>#<id>`: a page is a
        merge of them (`_ShardMerge`). A position is one sort key, and every shard resumes strictly after it,
        so it is each shard's position at once. Only Query, on GSI3 only (eventually consistent, as every
        index read): no Scan."""
        merge = _ShardMerge(
            [
                _ShardReader(status_shard_pk(status, shard))
                for status in statuses
                for shard in range(self._status_shards)
            ],
            wanted=limit + 1,  # one more than the page tells whether a next page exists
            ascending=ascending,
        )
        request = {
            "TableName": self._table,
            "IndexName": BY_STATUS_SHARD_INDEX,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :from AND :to",
            "ExpressionAttributeNames": {"#pk": "GSI3PK", "#sk": "GSI1SK"},
            "ScanIndexForward": ascending,
        }

        def query(reader: _ShardReader, count: int) -> Callable[[], Any]:
            full: dict[str, Any] = {
                **request,
                "ExpressionAttributeValues": {
                    ":pk": {"S": reader.partition},
                    # `<createdAt>#<id>` >= createdFrom, and < createdTo: a key whose createdAt equals the
                    # bound is longer than the bound, so BETWEEN's inclusive end never admits it.
                    ":from": {"S": created_from},
                    ":to": {"S": created_to},
                },
                "Limit": count,
            }
            start = reader.next_key or (_status_index_key(reader.partition, after) if after else None)
            if start is not None:
                full["ExclusiveStartKey"] = start
            return lambda: self._client.query(**full)

        while reads := merge.reads_needed():
            responses = self._run_all([query(reader, count) for reader, count in reads])
            for (reader, _), response in zip(reads, responses, strict=True):
                reader.add(response.get("Items", []), response.get("LastEvaluatedKey"))
        items = merge.taken
        page = items[:limit]
        next_position = page[-1]["GSI1SK"]["S"] if len(items) > limit else None
        return [_wire_from_item(item) for item in page], next_position

    def change_status(
        self,
        order_id: str,
        *,
        target: OrderStatus,
        allowed_sources: Collection[OrderStatus],
        change: Mapping[str, str],
        owner: str | None = None,
        expected_versions: Collection[int] | None = None,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """One conditional UpdateItem: no read-then-write race. The condition names the allowed source
        statuses, the owner (for customers) and the versions (for If-Match); on failure the old image
        (`ALL_OLD`) tells the caller why without a second read. `change` is the history entry (`status`,
        `at`, `by`); the order changed, and the one rejected, are in their wire form (`orders.storage.wire`)."""
        if not allowed_sources:
            raise ValueError("a transition needs at least one source status")
        trace_id = tracing.current_trace_id() or ""
        source_names: dict[str, AttributeValueTypeDef] = {
            f":from{index}": {"S": str(source)} for index, source in enumerate(sorted(allowed_sources))
        }
        conditions = ["attribute_exists(PK)", f"#status IN ({', '.join(source_names)})"]
        values: dict[str, AttributeValueTypeDef] = {
            **source_names,
            ":to": {"S": str(target)},
            ":at": {"S": change["at"]},
            ":one": {"N": "1"},
            ":entry": {"L": [_serialize({name: change[name] for name in CHANGE_FIELDS})]},
            ":statusKey": {"S": by_status_sk(target, order_id)},
            ":shardKey": {"S": status_shard_pk(target, status_shard(order_id, self._status_shards))},
            ":correlationId": {"S": correlation_id or ""},
            ":changeCorrelationId": {"L": [{"S": correlation_id or ""}]},
            ":noCorrelationIds": {"L": []},
            ":traceId": {"S": trace_id},
            ":changeTraceId": {"L": [{"S": trace_id}]},
        }
        if owner is not None:
            conditions.append("#userId = :owner")
            values[":owner"] = {"S": owner}
        if expected_versions is not None:
            if not expected_versions:
                raise ValueError("an If-Match condition needs at least one version")
            versions: dict[str, AttributeValueTypeDef] = {
                f":version{index}": {"N": str(v)} for index, v in enumerate(sorted(expected_versions))
            }
            conditions.append(f"#version IN ({', '.join(versions)})")
            values.update(versions)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"PK": {"S": order_pk(order_id)}, "SK": {"S": ORDER_SK}},
                # GSI2SK and GSI3PK move with the status so that filtered listings stay exact.
                UpdateExpression=(
                    "SET #status = :to, #updatedAt = :at, #version = #version + :one, "
                    "#history = list_append(#history, :entry), #statusKey = :statusKey, #shardKey = :shardKey, "
                    "#correlationId = :correlationId, "
                    # Orders written before the attribute existed have none yet: it starts here.
                    "#changeIds = list_append(if_not_exists(#changeIds, :noCorrelationIds), :changeCorrelationId), "
                    "#traceId = :traceId, "
                    "#changeTraceIds = list_append(if_not_exists(#changeTraceIds, :noCorrelationIds), :changeTraceId)"
                ),
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames={
                    "#status": "status",
                    "#updatedAt": "updatedAt",
                    "#version": "version",
                    "#history": "statusHistory",
                    "#statusKey": "GSI2SK",
                    "#shardKey": "GSI3PK",
                    "#correlationId": "correlationId",
                    "#changeIds": CHANGE_CORRELATION_IDS,
                    "#traceId": TRACE_ID,
                    "#changeTraceIds": CHANGE_TRACE_IDS,
                    **({"#userId": "userId"} if owner is not None else {}),
                },
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # The old image (ReturnValuesOnConditionCheckFailure), which botocore's error type leaves untyped.
            old_item = cast("Item | None", error.response.get("Item"))
            raise TransitionRejected(_wire_from_item(old_item) if old_item else None) from error
        return _wire_from_item(response["Attributes"])

    def scan_orders_page(
        self,
        *,
        segment: int,
        total_segments: int,
        start_key: Mapping[str, Any] | None = None,
        created_from: str | None = None,
        created_before: str | None = None,
        limit: int = 100,
        attributes: Sequence[str] | None = None,
    ) -> ItemPage:
        """One page of one segment of a parallel, strongly consistent Scan of order items created in
        [`created_from`, `created_before`) (either bound may be open); `attributes`: only these of each item
        (a ProjectionExpression: less to transfer, the same read units). Only operator commands Scan (the
        backfill and reindex roles are granted dynamodb:Scan on the table); the service never does."""
        filters = ["#entityType = :order"]
        names = {"#entityType": "entityType"}
        values: dict[str, AttributeValueTypeDef] = {":order": {"S": ENTITY_TYPE}}
        if created_from is not None:
            filters.append("#createdAt >= :from")
            values[":from"] = {"S": created_from}
        if created_before is not None:
            filters.append("#createdAt < :before")
            values[":before"] = {"S": created_before}
        if len(filters) > 1:
            names["#createdAt"] = "createdAt"
        request = {
            "Segment": segment,
            "TotalSegments": total_segments,
            "FilterExpression": " AND ".join(filters),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        if attributes:
            names.update({f"#a{index}": name for index, name in enumerate(attributes)})
            request["ProjectionExpression"] = ", ".join(f"#a{index}" for index in range(len(attributes)))
        return self._page(self._client.scan, request, start_key=start_key, limit=limit, consistent=True)

    def status_index_key(self, order_id: str, status: str) -> str:
        """The GSI3PK an order in `status` holds in this deployment (its shard of `status_shards`)."""
        return status_shard_pk(status, status_shard(order_id, self._status_shards))

    def set_status_index_key(self, order_id: str, status: str) -> bool:
        """Give an order read in `status` the status-index key that status and this deployment's shard count
        call for (`make reindex`: orders written before GSI3 existed, or before StatusIndexShards was raised).
        One conditional UpdateItem, written only while the order is still in `status` and does not hold that
        key already: a status change made since the order was read (which wrote its own key) is never
        overwritten with the stale status. True: written; False: the condition failed (the order changed
        meanwhile, was indexed meanwhile, or is gone). The stream consumer ignores the change (same status)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"PK": {"S": order_pk(order_id)}, "SK": {"S": ORDER_SK}},
                UpdateExpression="SET #shardKey = :pk",
                ConditionExpression=(
                    "#status = :status AND (attribute_not_exists(#shardKey) OR #shardKey <> :pk)"
                ),
                ExpressionAttributeNames={"#status": "status", "#shardKey": "GSI3PK"},
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":pk": {"S": self.status_index_key(order_id, status)},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def user_orders_page(
        self,
        user_id: str,
        *,
        start_key: Mapping[str, Any] | None = None,
        created_from: str | None = None,
        created_before: str | None = None,
        limit: int = 100,
    ) -> ItemPage:
        """One page of one user's orders created in [`created_from`, `created_before`), oldest first: a
        Query of GSI1 (eventually consistent, as every index read). GSI1SK is `<createdAt>#<id>` with
        createdAt of fixed width, so `GSI1SK >= from` is `createdAt >= from` and `GSI1SK < before` is
        `createdAt < before`, and BETWEEN's inclusive upper bound never meets an actual key."""
        names = {"#pk": "GSI1PK"}
        values: dict[str, AttributeValueTypeDef] = {":pk": {"S": user_pk(user_id)}}
        condition = "#pk = :pk"
        if created_from is not None or created_before is not None:
            names["#sk"] = "GSI1SK"
            if created_from is not None:
                values[":from"] = {"S": created_from}
            if created_before is not None:
                values[":before"] = {"S": created_before}
            if created_from is not None and created_before is not None:
                condition += " AND #sk BETWEEN :from AND :before"
            elif created_from is not None:
                condition += " AND #sk >= :from"
            else:
                condition += " AND #sk < :before"
        request = {
            "IndexName": BY_USER_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": True,
        }
        return self._page(self._client.query, request, start_key=start_key, limit=limit, consistent=False)

    def _page(
        self,
        operation: Callable[..., Any],
        request: Mapping[str, Any],
        *,
        start_key: Mapping[str, Any] | None,
        limit: int,
        consistent: bool,
    ) -> ItemPage:
        """One page of a Scan or Query of this table (`operation`), from `start_key`, with the units it cost."""
        full: dict[str, Any] = {
            "TableName": self._table,
            **request,
            "ReturnConsumedCapacity": "TOTAL",
            "Limit": limit,
        }
        if start_key:
            full["ExclusiveStartKey"] = start_key
        return _item_page(operation(**full), consistent=consistent)
