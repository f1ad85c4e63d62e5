"""Idempotency records of keyed creates (`Idempotency-Key`), in the orders table under their own partition keys.

`PK = IDEMPOTENCY#create-order#<hash>`, `SK = IDEMPOTENCY`: the hash is the partition key, so records spread
like orders do (Powertools' composite-key layout would put every record under one static, hot partition key).
The records are those Powertools' idempotency utility wrote before this module replaced it: the same key hash
(sha256 of `[caller, key]` as JSON), the same `validation` hash of the body, and the same attributes (`status`
INPROGRESS/COMPLETED, `expiration` in seconds, `in_progress_expiration` in milliseconds, `data` the response as
JSON), so records written by either replay with the other.

A keyed create costs two DynamoDB round trips (Powertools' took three), the first of them made while the buyer is
checked with the user service (`once_per_key`):
1. `claim`: one conditional PutItem of an INPROGRESS record, expiring in 24 hours, its claim expiring at the
   invocation's deadline. The condition lets it through only where no live record is (none, one past its
   `expiration`, or an INPROGRESS one whose invocation's deadline has passed); a refusal hands back the
   record (ReturnValuesOnConditionCheckFailure=ALL_OLD), which tells without a second read: the first
   response again (COMPLETED, same body), `IdempotencyKeyReused` (another body), `RequestInProgress`. The
   claim carries a token of its own (`claim_token`, which Powertools ignores): a refusal that hands back this
   claim's token is this claim, made by an attempt whose answer was lost (botocore retried it).
2. the order's Put and `completion` (the claim's record put again, COMPLETED with the response, conditioned on
   still being this invocation's claim) in one TransactWriteItems (`OrderRepository.put_new_with`).
A create that fails releases its claim (`release`: a DeleteItem conditioned on still being this claim), so a
retry with the same key runs again. "This claim" is its token: an in-flight record whose token is this claim's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from orders.storage.repository import OrderRepository, TransactionCancelled

if TYPE_CHECKING:
    from concurrent.futures import Future

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    from orders.domain.models import Order

    Item = dict[str, AttributeValueTypeDef]

logger = logging.getLogger(__name__)

IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
IDEMPOTENCY_SK = "IDEMPOTENCY"
# A stable prefix (not the deployed function's name) so keys survive a redeploy under a new name.
KEY_PREFIX = "create-order"
EXPIRES_AFTER_SECONDS = 24 * 60 * 60
INPROGRESS, COMPLETED = "INPROGRESS", "COMPLETED"
# Powertools' attribute names (its DynamoDBPersistenceLayer's defaults).
STATUS, EXPIRATION, IN_PROGRESS_EXPIRATION = "status", "expiration", "in_progress_expiration"
DATA, VALIDATION = "data", "validation"
# Ours: Powertools never writes it and ignores it; a completed record (a Put of the whole record) has none.
CLAIM_TOKEN = "claim_token"
NAMES = {
    "#status": STATUS,
    "#expiry": EXPIRATION,
    "#in_progress_expiry": IN_PROGRESS_EXPIRATION,
}
# Claimable: no record, or one past its expiration (absent, as far as anyone can tell), or an in-flight claim
# whose invocation's deadline has passed (it crashed or timed out). Powertools' condition, less its
# `attribute_exists(#in_progress_expiry)`: a comparison with a missing attribute is false anyway.
CLAIMABLE = (
    "attribute_not_exists(PK) OR #expiry < :now OR (#status = :inprogress AND #in_progress_expiry < :now_ms)"
)
# Still this invocation's claim: an in-flight record with this claim's token. (Not its deadline: two requests
# racing for a key can compute the same millisecond, and the loser must never take the winner's claim for its own.)
OURS = "#status = :inprogress AND #claim_token = :token"
OURS_NAMES = {"#status": STATUS, "#claim_token": CLAIM_TOKEN}


class RequestInProgress(Exception):
    """A request with this caller and key is still being processed (or took the key over meanwhile)."""


class IdempotencyKeyReused(Exception):
    """This caller used this key with another body."""


def _sha256(value: Any) -> str:
    # As Powertools hashes: JSON with sorted keys, default separators. The values are JSON already
    # (strings, and the body as pydantic's JSON mode dumps it).
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def record_key(caller_id: str, key: str) -> Item:
    """The record of this caller's `key`; neither is written in clear."""
    return {
        "PK": {"S": f"{IDEMPOTENCY_PREFIX}{KEY_PREFIX}#{_sha256([caller_id, key])}"},
        "SK": {"S": IDEMPOTENCY_SK},
    }


def body_hash(body: Any) -> str:
    """The `validation` hash: a repeat must send the same body, compared as the validated request's JSON (key
    order, spacing, `2` or `2.0` for a quantity and a trimmed address make no difference) with each price as it
    was written: `29.99` and `29.990` are two bodies, as under Powertools' utility, whose records this reads."""
    return _sha256(body)


@dataclass(frozen=True, slots=True)
class Claim:
    """This invocation holds the key: its record is INPROGRESS until `until_ms` (its deadline), with `token`."""

    key: Item
    validation: str
    until_ms: int
    token: str

    def ours(self) -> dict[str, AttributeValueTypeDef]:
        """OURS's values."""
        return {":inprogress": {"S": INPROGRESS}, ":token": {"S": self.token}}


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was used with the same body, and completed: its first response."""

    response: dict[str, Any]


class IdempotencyStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        clock: Callable[[], float] = time.time,
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._new_token = new_token

    def claim(self, caller_id: str, key: str, body: Any, *, remaining_ms: int) -> Claim | Replay:
        """One conditional PutItem. Returns the claim, or the first response (`Replay`); raises
        `IdempotencyKeyReused` or `RequestInProgress`. `remaining_ms`: the invocation's remaining time."""
        now = self._clock()
        until_ms = int(now * 1000) + remaining_ms
        claim = Claim(record_key(caller_id, key), body_hash(body), until_ms, self._new_token())
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **claim.key,
                    STATUS: {"S": INPROGRESS},
                    EXPIRATION: {"N": str(int(now) + EXPIRES_AFTER_SECONDS)},
                    IN_PROGRESS_EXPIRATION: {"N": str(claim.until_ms)},
                    VALIDATION: {"S": claim.validation},
                    CLAIM_TOKEN: {"S": claim.token},
                },
                ConditionExpression=CLAIMABLE,
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":now_ms": {"N": str(int(now * 1000))},
                    ":inprogress": {"S": INPROGRESS},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "TransactionConflictException":
                raise RequestInProgress() from error  # the first request is completing the record right now
            if code != "ConditionalCheckFailedException":
                raise
            # The live record (ReturnValuesOnConditionCheckFailure), which botocore's error type leaves untyped.
            return _refusal(cast("Item", error.response.get("Item") or {}), claim, error)
        return claim

    def completion(self, claim: Claim, response: dict[str, Any]) -> TransactWriteItemTypeDef:
        """The claim's record COMPLETED with `response` (kept 24 hours from now), conditioned on still being this
        claim: the write to make in the same transaction as the order's. A Put of the whole record (nothing else
        lives on it), where Powertools updated it: the same record, for the price of a put."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **claim.key,
                    STATUS: {"S": COMPLETED},
                    EXPIRATION: {"N": str(int(self._clock()) + EXPIRES_AFTER_SECONDS)},
                    IN_PROGRESS_EXPIRATION: {"N": str(claim.until_ms)},
                    DATA: {"S": json.dumps(response, sort_keys=True)},
                    VALIDATION: {"S": claim.validation},
                },
                "ConditionExpression": OURS,
                "ExpressionAttributeNames": OURS_NAMES,
                "ExpressionAttributeValues": claim.ours(),
            }
        }

    def release(self, claim: Claim) -> None:
        """Delete the claim, if it is still this invocation's (never a completed record, nor another's claim).
        Best effort: if it cannot be deleted, it expires at the invocation's deadline anyway."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=claim.key,
                ConditionExpression=OURS,
                ExpressionAttributeNames=OURS_NAMES,
                ExpressionAttributeValues=claim.ours(),
            )
        except (ClientError, BotoCoreError) as error:
            # Answering the create's own error matters more than this: a timeout here must not replace it.
            if not (
                isinstance(error, ClientError)
                and error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
            ):
                logger.warning(
                    "could not release an idempotency claim; it expires at the invocation's deadline"
                )


def _refusal(record: Item, claim: Claim, error: ClientError) -> Claim | Replay:
    """What a live record says to a claim of its key: a replay of the same body's first response, or why not;
    or that it is this very claim (an earlier attempt of the same PutItem made it, and its answer was lost)."""
    if record.get(CLAIM_TOKEN) == {"S": claim.token} and record.get(STATUS) == {"S": INPROGRESS}:
        return claim
    if record.get(VALIDATION, {}).get("S") != claim.validation:
        raise IdempotencyKeyReused() from error  # Powertools, too, compares the body before the status
    if record.get(STATUS, {}).get("S") == COMPLETED and DATA in record:
        return Replay(json.loads(record[DATA]["S"]))
    raise RequestInProgress() from error


class _Replayed(Exception):
    """Not an error: the key's first response, found by the claim (it unwinds the create)."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__()
        self.response = response


class KeyedCreate:
    """One create with an Idempotency-Key, for `OrderService.create`: its claim, made meanwhile (`pending`), is
    held before anything is reserved; the order is written with the claim's completion, in one transaction."""

    def __init__(
        self,
        pending: Future[Claim | Replay],
        respond: Callable[[Order], dict[str, Any]],
        store: IdempotencyStore,
        repository: OrderRepository,
    ) -> None:
        self._pending = pending
        self._respond = respond
        self._store = store
        self._repository = repository
        self.response: dict[str, Any] | None = None

    def claimed(self) -> Claim | Replay:
        """The claim's outcome, waiting for it if need be; raises its refusal."""
        return self._pending.result()

    def hold(self) -> None:
        if isinstance(outcome := self.claimed(), Replay):
            raise _Replayed(outcome.response)

    def put_new(self, order: Order, correlation_id: str | None) -> None:
        claim = self.claimed()
        if not isinstance(claim, Claim):
            raise TypeError("no order is written for a key that was answered already")
        response = self._respond(order)
        try:
            self._repository.put_new_with(order, correlation_id, self._store.completion(claim, response))
        except TransactionCancelled as cancelled:
            # Nothing was written. If the claim's write is why, the claim is no longer ours (it expired and another
            # request took the key over) or another request with the key was at its record at that moment.
            if cancelled.reason(1) != "None":
                raise RequestInProgress() from cancelled
            raise
        self.response = response


def once_per_key(
    create: Callable[[KeyedCreate], object],
    respond: Callable[[Order], dict[str, Any]],
    *,
    store: IdempotencyStore,
    repository: OrderRepository,
    submit: Callable[..., Future[Any]],
    caller_id: str,
    key: str,
    body: Any,
    remaining_ms: int,
) -> dict[str, Any]:
    """A create once per caller (`caller_id`) and Idempotency-Key `key`: the response (`respond(order)`) of the
    first, which is kept; a repeat with the same `body` gets it back without creating again; with another body,
    `IdempotencyKeyReused`; while the first runs, `RequestInProgress`.

    `create(keyed)` creates the order: it checks the buyer while the key is claimed (`submit` runs the claim
    concurrently), holds the key (`keyed.hold()`) before reserving, and writes with `keyed.put_new`. The claim's
    outcome comes first: a failure of `create` while the key was refused is that refusal (or the first response),
    else it releases the claim, so that a retry runs again."""
    keyed = KeyedCreate(
        submit(store.claim, caller_id, key, body, remaining_ms=remaining_ms), respond, store, repository
    )
    try:
        create(keyed)
    except _Replayed as replayed:
        return replayed.response
    except BaseException:
        claimed: Claim | Replay | None
        try:
            claimed = keyed.claimed()
        except (IdempotencyKeyReused, RequestInProgress):
            raise  # the key's answer: the first request's, not this one's
        except Exception:  # noqa: BLE001 - whatever the claim's failure, there is nothing to release
            # The claim failed (DynamoDB unreachable or throttling). The create's own error is the answer: the
            # claim's again if `hold` raised it, else the request's own refusal (a 4xx) where it came first.
            claimed = None
        if isinstance(claimed, Replay):
            return claimed.response
        if claimed is not None:
            store.release(claimed)
        raise
    if keyed.response is None:
        raise RuntimeError("the create returned without writing its order")
    return keyed.response
