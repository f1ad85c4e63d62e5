"""Powertools idempotency, with its records in the orders table under their own partition keys.

Powertools' composite-key layout (`sort_key_attr`) puts every record under one static partition key,
one hot key at scale (a partition serves at most 1,000 writes/s). Here the hash is the partition key:
`PK = IDEMPOTENCY#<prefix>#<hash>`, `SK = IDEMPOTENCY`, so records spread like orders do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
IDEMPOTENCY_SK = "IDEMPOTENCY"
KEY_ATTR, SORT_KEY_ATTR = "PK", "SK"  # the table's own keys


class SingleTablePersistenceLayer(DynamoDBPersistenceLayer):
    def __init__(self, table_name: str, boto3_client: DynamoDBClient) -> None:
        super().__init__(
            table_name=table_name, key_attr=KEY_ATTR, sort_key_attr=SORT_KEY_ATTR, boto3_client=boto3_client
        )

    def _get_key(self, idempotency_key: str) -> dict[str, Any]:
        return {
            KEY_ATTR: {"S": f"{IDEMPOTENCY_PREFIX}{idempotency_key}"},
            SORT_KEY_ATTR: {"S": IDEMPOTENCY_SK},
        }

    def _item_to_data_record(self, item: dict[str, Any]) -> DataRecord:
        record = super()._item_to_data_record(item)
        record.idempotency_key = record.idempotency_key.removeprefix(IDEMPOTENCY_PREFIX)
        record.sort_key = None
        return record


# What Powertools hashes. It takes the data of an idempotent call from one keyword argument (`hashed`, built
# by `once_per_key` below and nowhere else) and reads it with these JMESPath expressions:
HASHED_KEY = "[caller, key]"  # selects the record: the caller and their Idempotency-Key
HASHED_BODY = "body"  # must be the same on a repeat, else IdempotencyValidationError (a 422)
# A stable prefix (not the deployed function's name) so keys survive a redeploy under a new name.
KEY_PREFIX = "create-order"


def new_idempotency_config() -> IdempotencyConfig:
    """Records kept 24 hours."""
    return IdempotencyConfig(
        event_key_jmespath=HASHED_KEY,
        payload_validation_jmespath=HASHED_BODY,
        expires_after_seconds=24 * 60 * 60,
        hash_function="sha256",
    )


def once_per_key(
    function: Callable[..., dict[str, Any]],
    store: SingleTablePersistenceLayer,
    config: IdempotencyConfig,
    *,
    caller_id: str,
    key: str,
    body: Any,
    **arguments: Any,
) -> dict[str, Any]:
    """`function(**arguments)` once per caller (`caller_id`) and Idempotency-Key `key`: a repeat with the same `body`
    gets the first call's result back without calling again; with another body it is refused
    (IdempotencyValidationError), and while the first call runs too (IdempotencyAlreadyInProgressError)."""

    def call(hashed: dict[str, Any], **arguments: Any) -> dict[str, Any]:  # `hashed` is for Powertools only
        return function(**arguments)

    run_once = idempotent_function(
        call, data_keyword_argument="hashed", persistence_store=store, config=config, key_prefix=KEY_PREFIX
    )
    result: dict[str, Any] = run_once(hashed={"caller": caller_id, "key": key, "body": body}, **arguments)
    return result
