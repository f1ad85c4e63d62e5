"""ops/reindex.py: which order items need their status-index key (GSI3PK) rewritten and to what, and a run
over moto's table built from template.yaml: missing, stale and other-shard keys fixed, indexed ones left
alone, a status change made between the Scan and the write never overwritten, a dry run writing nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from moto import mock_aws
from orders.domain.status import OrderStatus
from orders.storage.repository import DEFAULT_STATUS_SHARDS, OrderRepository, status_shard, status_shard_pk

from local.template import create_table_request
from ops.reindex import Decision, Reindex, decide, shards_of
from ops.stage import Stage
from tests.support.stream_records import order_item

TABLE = "orders-reindex-test"
SHARDS = 8


def key(order_id: str, status: str, shards: int = SHARDS) -> str:
    return status_shard_pk(status, status_shard(order_id, shards))


def key_for(order_id: str, status: str) -> str:
    return key(order_id, status)


# ------------------------------------------------------------------------------------------------ the decision
def test_an_item_without_the_key_needs_its_statuss_key_in_its_shard() -> None:
    decision = decide({"id": "o-1", "status": "pending"}, key_for)
    assert decision == Decision("o-1", "pending", None, key("o-1", "pending"))
    assert not decision.indexed and decision.reason == "missing"


def test_an_item_holding_the_right_key_is_indexed() -> None:
    image = {"id": "o-1", "status": "shipped", "GSI3PK": key("o-1", "shipped")}
    assert decide(image, key_for).indexed


def test_a_key_naming_another_status_or_shard_is_rewritten_and_says_why() -> None:
    right_shard = status_shard("o-1", SHARDS)
    stale = decide({"id": "o-1", "status": "shipped", "GSI3PK": f"STATUS#pending#{right_shard}"}, key_for)
    assert (stale.indexed, stale.reason, stale.wanted) == (False, "other status", key("o-1", "shipped"))
    # Written under another shard count: the same status, another shard.
    other = status_shard_pk("pending", (right_shard + 1) % SHARDS)
    moved = decide({"id": "o-1", "status": "pending", "GSI3PK": other}, key_for)
    assert (moved.indexed, moved.reason) == (False, "other shard")


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ({"status": "pending"}, "no order id"),
        ({"id": "", "status": "pending"}, "no order id"),
        ({"id": "o-1"}, "None is not an order status"),
        ({"id": "o-1", "status": "lost"}, "'lost' is not an order status"),
    ],
)
def test_an_item_naming_no_order_or_no_known_status_is_reported_not_guessed(
    image: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        decide(image, key_for)


def test_the_shard_count_is_the_stages_parameter_or_the_templates_default() -> None:
    assert shards_of({"StatusIndexShards": "64"}) == 64
    assert shards_of({}) == DEFAULT_STATUS_SHARDS
    for bad in ("0", "many"):
        with pytest.raises(Exception, match="StatusIndexShards"):
            shards_of({"StatusIndexShards": bad})


def test_a_local_stage_gives_the_parameter_as_the_stack_resolved_it() -> None:
    stage = Stage("local", "us-east-1", outputs={}, parameters={"StatusIndexShards": "32"})
    assert shards_of(stage.parameters) == 32


# ------------------------------------------------------------------------------------------------ a run on moto
@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setitem(os.environ, name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**create_table_request(TABLE))
        yield dynamodb


def put(client: Any, item: dict[str, Any]) -> None:
    serializer = TypeSerializer()
    client.put_item(TableName=TABLE, Item={name: serializer.serialize(v) for name, v in item.items()})


def stored_key(client: Any, order_id: str) -> str | None:
    item = client.get_item(
        TableName=TABLE, Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}}, ConsistentRead=True
    )["Item"]
    return item.get("GSI3PK", {}).get("S")


def seed(client: Any) -> dict[str, str]:
    """Orders as an old deployment left them, one of each case; {id: status}."""
    orders = {f"old-{n}": "pending" for n in range(5)} | {"stale": "shipped", "resharded": "confirmed"}
    orders |= {"indexed": "delivered"}
    for order_id, status in orders.items():
        item = order_item(order_id, status=status)
        if order_id == "stale":
            item["GSI3PK"] = key(order_id, "pending")  # written before it was shipped
        elif order_id == "resharded":
            item["GSI3PK"] = status_shard_pk(status, SHARDS + 3)
        elif order_id == "indexed":
            item["GSI3PK"] = key(order_id, status)
        put(client, item)
    # Not orders: never touched (a reservation record beside an order).
    client.put_item(
        TableName=TABLE,
        Item={"PK": {"S": "ORDER#old-0"}, "SK": {"S": "RESERVATION"}, "state": {"S": "released"}},
    )
    return orders


def test_a_run_gives_every_order_its_key_and_a_second_run_writes_nothing(client: Any) -> None:
    orders = seed(client)
    repository = OrderRepository(client, TABLE, status_shards=SHARDS)

    summary = Reindex(repository, segments=3, page_items=2).run()

    assert (summary.scanned, summary.updated, summary.already_indexed) == (8, 7, 1)
    assert (summary.changed_meanwhile, summary.failed) == (0, [])
    assert summary.reasons == {"missing": 5, "other status": 1, "other shard": 1}
    assert {order_id: stored_key(client, order_id) for order_id in orders} == {
        order_id: key(order_id, status) for order_id, status in orders.items()
    }
    line = summary.line()
    assert (
        "8 orders scanned, 7 updated" in line and "1 already indexed, 0 changed meanwhile, 0 failed" in line
    )

    again = Reindex(repository, segments=2).run()
    assert (again.scanned, again.updated, again.already_indexed, again.changed_meanwhile) == (8, 0, 8, 0)


def test_a_status_change_between_the_scan_and_the_write_is_not_overwritten(client: Any) -> None:
    put(client, order_item("raced", status="pending"))
    put(client, order_item("calm", status="pending"))
    repository = OrderRepository(client, TABLE, status_shards=SHARDS)

    class Racing(OrderRepository):
        """The order is shipped (its key moved with it) just before the reindex writes the stale one."""

        def set_status_index_key(self, order_id: str, status: str) -> bool:
            if order_id == "raced":
                repository.change_status(
                    "raced",
                    target=OrderStatus.SHIPPED,
                    allowed_sources={OrderStatus.PENDING},
                    change={"status": "shipped", "at": "2026-11-25T21:00:00.000Z", "by": "ops-1"},
                )
            return super().set_status_index_key(order_id, status)

    summary = Reindex(Racing(client, TABLE, status_shards=SHARDS), segments=1).run()

    assert (summary.updated, summary.changed_meanwhile, summary.failed) == (1, 1, [])
    assert stored_key(client, "raced") == key("raced", "shipped")
    assert stored_key(client, "calm") == key("calm", "pending")


def test_the_write_itself_refuses_a_stale_status_and_an_existing_key(client: Any) -> None:
    put(client, order_item("o-1", status="confirmed"))
    repository = OrderRepository(client, TABLE, status_shards=SHARDS)
    assert repository.set_status_index_key("o-1", "pending") is False  # read as pending: it is not
    assert stored_key(client, "o-1") is None
    assert repository.set_status_index_key("o-1", "confirmed") is True
    assert repository.set_status_index_key("o-1", "confirmed") is False  # already holds it
    assert stored_key(client, "o-1") == key("o-1", "confirmed")
    assert repository.set_status_index_key("gone", "pending") is False  # no such order: nothing created
    assert "Item" not in client.get_item(
        TableName=TABLE, Key={"PK": {"S": "ORDER#gone"}, "SK": {"S": "ORDER"}}
    )


def test_a_dry_run_lists_what_it_would_write_and_writes_nothing(client: Any) -> None:
    orders = seed(client)
    printed: list[str] = []
    repository = OrderRepository(client, TABLE, status_shards=SHARDS)

    summary = Reindex(repository, dry_run=True, out=printed.append).run()

    assert (summary.updated, summary.already_indexed) == (7, 1)
    assert "7 would update" in summary.line()
    assert sorted(line.split()[0] for line in printed) == sorted(set(orders) - {"indexed"})
    assert f"old-1 - -> {key('old-1', 'pending')} (missing)" in printed
    assert stored_key(client, "old-1") is None and stored_key(client, "stale") == key("stale", "pending")


def test_an_unreadable_item_and_a_failed_write_are_failures_the_rest_goes_on(client: Any) -> None:
    put(client, order_item("fine", status="pending"))
    put(client, order_item("odd", status="pending") | {"status": "lost"})
    put(client, order_item("refused", status="pending"))

    class Refusing(OrderRepository):
        def set_status_index_key(self, order_id: str, status: str) -> bool:
            if order_id == "refused":
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "UpdateItem")
            return super().set_status_index_key(order_id, status)

    summary = Reindex(Refusing(client, TABLE, status_shards=SHARDS), segments=1).run()

    assert (summary.scanned, summary.updated) == (3, 1)
    assert sorted(failure.split()[0] for failure in summary.failed) == ["odd", "refused"]
    assert not summary.ok and "2 failed" in summary.line()
    assert stored_key(client, "fine") == key("fine", "pending")


# ------------------------------------------------------------------------------------------------ a deployed stage
def deployed_stage() -> None:
    """moto as the stage (samconfig's dev): the stack outputs the table and OrdersReindexRoleArn, and gives
    StatusIndexShards=8."""
    import json

    iam = boto3.client("iam", region_name="us-east-1")
    role_arn = iam.create_role(
        RoleName="reindex",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    template = {
        "Parameters": {"StatusIndexShards": {"Type": "Number", "Default": 32}},
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "OrdersTableName": {"Value": TABLE},
            "OrdersReindexRoleArn": {"Value": role_arn},
        },
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="order-service-dev",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "StatusIndexShards", "ParameterValue": str(SHARDS)}],
    )


def test_against_a_deployed_stage_it_assumes_its_role_and_uses_the_stacks_shard_count(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command assumes the stage's role and indexes over the stack's 8 shards."""
    import json

    from ops.reindex import main

    put(client, order_item("o-1", status="processing"))
    deployed_stage()

    assert main(["--stage", "dev", "--json", "--rate", "0"]) == 0

    captured = capsys.readouterr()
    assert "stage dev (us-east-1): as OrdersReindexRole" in captured.err
    assert f"GSI3PK over {SHARDS} shards" in captured.err
    assert json.loads(captured.out.splitlines()[-1])["updated"] == 1
    assert stored_key(client, "o-1") == key("o-1", "processing")


def test_an_interrupted_reindex_ends_with_the_summary_of_what_it_did(
    client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C: the summary so far (marked interrupted, also as JSON), then the line saying a rerun does the
    rest, exit 130; before, only `reindex: interrupted; ...`."""
    import json

    from ops.reindex import main

    seed(client)
    deployed_stage()
    writes = 0
    write = OrderRepository.set_status_index_key

    def interrupted_at_the_third_write(self: OrderRepository, order_id: str, status: str) -> bool:
        nonlocal writes
        writes += 1
        if writes == 3:
            raise KeyboardInterrupt  # the operator's Ctrl-C, while the third order is written
        return write(self, order_id, status)

    monkeypatch.setattr(OrderRepository, "set_status_index_key", interrupted_at_the_third_write)

    assert main(["--stage", "dev", "--segments", "1", "--rate", "0", "--json"]) == 130

    captured = capsys.readouterr()
    said = captured.err.splitlines()
    summary = json.loads(captured.out.splitlines()[-1])
    assert (summary["interrupted"], summary["scanned"], summary["updated"]) == (True, 8, 2)
    assert said[-2].startswith("reindex: 8 orders scanned, 2 updated (") and said[-2].endswith(
        "(interrupted)"
    )
    assert said[-1] == "reindex: interrupted; what was written stays, the same command does the rest"
    assert "Traceback" not in captured.err
