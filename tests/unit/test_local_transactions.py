"""The local stack's (and the bench's) moto answers TransactWriteItems as moto itself does, without copying the
tables it names (local.aws.moto_server.transactions_without_table_copies): the same writes, the same stream records,
the same CancellationReasons, and its cost no longer grows with the table."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from local.aws.moto_server import transactions_without_table_copies
from local.template import create_table_request

TABLE = "orders-local"


@pytest.fixture
def client(monkeypatch) -> Iterator[Any]:
    # Whatever the test does, moto's own implementation is back afterwards.
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items)
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setitem(os.environ, name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**create_table_request(TABLE))
        yield dynamodb


def _item(pk: str, **attributes: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": "X"}, **{name: {"S": value} for name, value in attributes.items()}}


def _put(pk: str, condition: str | None = None, **attributes: str) -> dict[str, Any]:
    put: dict[str, Any] = {"TableName": TABLE, "Item": _item(pk, **attributes)}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def _state(client: Any) -> list[str]:
    items = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def _stream_length(client: Any) -> int:
    arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])


def _outcome(client: Any, items: list[dict[str, Any]]) -> tuple[Any, list[str], int]:
    """(the answer: None or the error's code and reasons, the table, its stream's length) after the request."""
    try:
        client.transact_write_items(TransactItems=copy.deepcopy(items))
        answer: Any = None
    except ClientError as error:
        answer = (error.response["Error"]["Code"], error.response.get("CancellationReasons"))
    return answer, _state(client), _stream_length(client)


SCENARIOS = {
    "both written": [_put("A", "attribute_not_exists(PK)", v="1"), _put("B", v="2")],
    "an update and a delete": [
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"PK": {"S": "OLD"}, "SK": {"S": "X"}},
                "UpdateExpression": "SET v = :v",
                "ConditionExpression": "v = :old",
                "ExpressionAttributeValues": {":v": {"S": "new"}, ":old": {"S": "old"}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": {"PK": {"S": "GONE"}, "SK": {"S": "X"}}}},
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"PK": {"S": "KEPT"}, "SK": {"S": "X"}},
                "ConditionExpression": "attribute_exists(PK)",
            }
        },
    ],
    "a condition fails, with the old item": [
        _put("A", v="1"),
        {
            "Put": {
                **_put("OLD", "attribute_not_exists(PK)", v="x")["Put"],
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ],
    "a condition fails, without it": [_put("A", v="1"), _put("OLD", "attribute_not_exists(PK)", v="x")],
    "one item twice": [_put("A", v="1"), _put("A", v="2")],
    "a write fails after another was made": [
        _put("A", v="1"),
        {"Put": {"TableName": TABLE, "Item": {"PK": {"N": "1"}, "SK": {"S": "X"}}}},
    ],
}


@pytest.mark.parametrize("items", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_same_answer_writes_and_stream_records_as_motos_own(client, items):
    def run() -> tuple[Any, list[str], int]:
        client.delete_table(TableName=TABLE)
        client.create_table(**create_table_request(TABLE))
        client.put_item(TableName=TABLE, Item=_item("OLD", v="old"))
        client.put_item(TableName=TABLE, Item=_item("GONE", v="g"))
        client.put_item(TableName=TABLE, Item=_item("KEPT", v="k"))
        return _outcome(client, items)

    own = run()
    transactions_without_table_copies()
    assert run() == own


def test_no_table_is_copied(client, monkeypatch):
    transactions_without_table_copies()
    deepcopy = copy.deepcopy

    def copying(value: Any, *args: Any) -> Any:
        assert not isinstance(value, Table), "a whole table was copied"
        return deepcopy(value, *args)

    monkeypatch.setattr(copy, "deepcopy", copying)
    for index in range(50):
        client.put_item(TableName=TABLE, Item=_item(f"fill-{index}", v="x"))
    client.transact_write_items(
        TransactItems=[_put("A", "attribute_not_exists(PK)", v="1"), _put("B", v="2")]
    )
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[_put("fill-1", "attribute_not_exists(PK)")])
    assert len(_state(client)) == 52
