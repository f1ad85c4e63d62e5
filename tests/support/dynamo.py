"""Looking at DynamoDB from the outside: every call a client makes (botocore event hooks), raw items,
and whole-table snapshots (tests may Scan; the service never does); and moto as the local stack runs it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import pytest
from orders import wiring


@contextlib.contextmanager
def moto_as_run_locally() -> Iterator[None]:
    """`mock_aws`, with TransactWriteItems as the local stack's and the bench's moto answer it: without moto's copy
    of every table a transaction names (the same answers, writes and stream records:
    tests/unit/test_local_transactions.py). moto's copy makes each keyed create cost time in proportion to the
    table, so that 500 creates took 270 s. moto's own implementation is restored afterwards."""
    # Imported here: moto reads some settings (the local stack's IAM enforcement) when it is first imported.
    from moto import mock_aws
    from moto.dynamodb.models import DynamoDBBackend

    from local.aws.moto_server import transactions_without_table_copies

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items)
        transactions_without_table_copies()
        with mock_aws():
            yield


@dataclass
class Call:
    operation: str
    params: dict[str, Any]
    response: dict[str, Any] | None = None


@dataclass
class CallRecorder:
    """Records each API call a botocore client makes: the operation, its parameters as the code passed
    them, and the parsed response (also for errors). Counts calls, not HTTP attempts (retries)."""

    client: Any
    calls: list[Call] = field(default_factory=list)

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(Call(model.name, json.loads(json.dumps(params, default=str))))

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        for call in reversed(self.calls):
            if call.operation == model.name and call.response is None:
                call.response = parsed
                break

    def __enter__(self) -> Self:
        events = self.client.meta.events
        events.register("before-parameter-build.dynamodb", self._before, unique_id=f"rec-before-{id(self)}")
        events.register("after-call.dynamodb", self._after, unique_id=f"rec-after-{id(self)}")
        return self

    def __exit__(self, *_: object) -> None:
        events = self.client.meta.events
        events.unregister("before-parameter-build.dynamodb", unique_id=f"rec-before-{id(self)}")
        events.unregister("after-call.dynamodb", unique_id=f"rec-after-{id(self)}")

    @property
    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def reset(self) -> None:
        self.calls.clear()


def record_calls() -> CallRecorder:
    """Hooks on the client the functions themselves use (`wiring.dynamodb_client()`)."""
    return CallRecorder(wiring.dynamodb_client())


def scan_all(client: Any, table_name: str | None = None) -> list[dict[str, Any]]:
    table_name = table_name or wiring.table_name()
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def snapshot(client: Any, table_name: str | None = None) -> list[str]:
    """The whole table as sorted canonical JSON lines: equal snapshots mean no item changed."""
    return sorted(json.dumps(item, sort_keys=True) for item in scan_all(client, table_name))


def order_items(client: Any, table_name: str | None = None) -> list[dict[str, Any]]:
    return [item for item in scan_all(client, table_name) if item["PK"]["S"].startswith("ORDER#")]


def idempotency_items(client: Any, table_name: str | None = None) -> list[dict[str, Any]]:
    return [item for item in scan_all(client, table_name) if item["PK"]["S"].startswith("IDEMPOTENCY#")]


def raw_order_item(client: Any, order_id: str, table_name: str | None = None) -> dict[str, Any] | None:
    """The order's item exactly as DynamoDB holds it (typed attribute values, e.g. {"N": "59.98"})."""
    items = [
        item
        for item in scan_all(client, table_name)
        if item["PK"]["S"].startswith("ORDER#") and item.get("id", {}).get("S") == order_id
    ]
    assert len(items) <= 1, items
    return items[0] if items else None


def fresh_table(client: Any) -> None:
    """Drop the test table if the previous test left one, and create it again from template.yaml."""
    from local.template import create_table_request
    from tests.conftest import TEST_ENV

    name = TEST_ENV["TABLE_NAME"]
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=name)
    client.create_table(**create_table_request(name))
