"""Powertools idempotency, with its records in the orders table under their own partition keys.

Powertools' composite-key layout (`sort_key_attr`) puts every record under one static partition key,
one hot key at scale (a partition serves at most 1,000 writes/s). Here the hash is the partition key:
`PK = IDEMPOTENCY#<prefix>#<hash>`, `SK = IDEMPOTENCY`, so records spread like orders do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
IDEMPOTENCY_SK = "IDEMPOTENCY"


class SingleTablePersistenceLayer(DynamoDBPersistenceLayer):
    def __init__(self, table_name: str, boto3_client: Any) -> None:
        super().__init__(table_name=table_name, key_attr="PK", sort_key_attr="SK", boto3_client=boto3_client)

    def _get_key(self, idempotency_key: str) -> dict:
        return {
            self.key_attr: {"S": f"{IDEMPOTENCY_PREFIX}{idempotency_key}"},
            self.sort_key_attr: {"S": IDEMPOTENCY_SK},
        }

    def _item_to_data_record(self, item: dict[str, Any]) -> DataRecord:
        record = super()._item_to_data_record(item)
        record.idempotency_key = record.idempotency_key.removeprefix(IDEMPOTENCY_PREFIX)
        record.sort_key = None
        return record


def new_idempotency_config() -> IdempotencyConfig:
    """Same caller + same key selects the record; the body must match it (else 422). Kept 24 hours."""
    return IdempotencyConfig(
        event_key_jmespath="[caller, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=24 * 60 * 60,
        hash_function="sha256",
    )


def make_idempotent(
    function: Callable[..., dict], store: SingleTablePersistenceLayer, config: IdempotencyConfig
) -> Callable[..., dict]:
    """Wrap `function(request=..., ...)`; `request` must hold `caller`, `key` and `body`."""
    return idempotent_function(
        function,
        data_keyword_argument="request",
        persistence_store=store,
        config=config,
        # A stable prefix (not the deployed function's name) so keys survive a redeploy under a new name.
        key_prefix="create-order",
    )
