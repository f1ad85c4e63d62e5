"""Concurrent requests: one winner for a status change, one order for one Idempotency-Key.

How (details in `tests.support.servers` and `tests.support.concurrency`):
* Each request runs in its own forked process, like separate Lambda execution environments; the
  handler modules are per-process state and are never shared between concurrent requests.
* All of them use one moto DynamoDB *server* on loopback (`DYNAMODB_ENDPOINT`), started in a child
  process. moto alone is not atomic under concurrency: it checks a ConditionExpression and then writes
  without a lock (measured: 20 racing conditional UpdateItems let 2-3 writers through in some rounds,
  in-process and in the server alike). The server therefore serves each DynamoDB request under one
  lock, which gives DynamoDB's per-item atomicity and nothing more: code that reads and then writes in
  two requests still races, as `test_the_harness_catches_a_read_then_write_race` demonstrates.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from collections import Counter

import boto3
import pytest

from tests.conftest import TEST_ENV
from tests.integration.conftest import UPSTREAM_VARIABLES
from tests.support.api_calls import ADMIN_USER, SAMPLE_USER, json_text, order_body
from tests.support.concurrency import invoke_concurrently
from tests.support.dynamo import fresh_table, order_items
from tests.support.lambda_runtime import http_event, invoke, reset_process_state
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

RACERS = 20


@pytest.fixture(scope="module")
def servers():
    running = ServerProcess("stub", "moto")
    yield running.urls
    running.stop()


@pytest.fixture
def shared_table(servers, monkeypatch):
    """A fresh table on the moto server; this process and every forked environment point at it."""
    monkeypatch.setenv("DYNAMODB_ENDPOINT", servers["dynamodb"])
    for name in UPSTREAM_VARIABLES:
        monkeypatch.setenv(name, servers["upstream"])
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client = boto3.client(
        "dynamodb", region_name=TEST_ENV["AWS_DEFAULT_REGION"], endpoint_url=servers["dynamodb"]
    )
    fresh_table(client)
    reset_process_state()
    yield client
    reset_process_state()


def create_order() -> dict:
    event = http_event("create_order", body=json_text(order_body()))
    event["headers"].pop("idempotency-key", None)
    result = invoke("create_order", event)
    assert result.status == 201, result.raw_body
    return result.body


def status_events(
    order_id: str, status: str, *, admin: bool = False, if_match: str | None = None
) -> list[dict]:
    user = ADMIN_USER if admin else SAMPLE_USER
    headers = {"if-match": if_match} if if_match else None
    return [
        http_event(
            "update_order_status",
            user=user,
            admin=admin,
            path=f"/api/orders/{order_id}/status",
            path_parameters={"id": order_id},
            body={"status": status},
            headers=headers,
        )
        for _ in range(RACERS)
    ]


def stored_order(client, order_id: str) -> dict:
    [item] = [item for item in order_items(client) if item["id"]["S"] == order_id]
    return item


@pytest.mark.parametrize(
    ("target", "admin"),
    [("cancelled", False), ("confirmed", True), ("shipped", True)],
    ids=["cancel", "confirm", "ship"],
)
def test_one_of_twenty_identical_status_changes_wins(shared_table, target, admin):
    order_id = create_order()["id"]
    outcomes = invoke_concurrently("update_order_status", status_events(order_id, target, admin=admin))
    statuses = Counter(outcome.status for outcome in outcomes)
    assert statuses == {200: 1, 409: RACERS - 1}, [(o.status, o.raw_body) for o in outcomes]
    [winner] = [outcome for outcome in outcomes if outcome.status == 200]
    assert winner.headers["ETag"] == '"2"'
    for loser in outcomes:
        if loser.status == 409:
            assert f'"currentStatus":"{target}"' in loser.raw_body
            assert f'"requestedStatus":"{target}"' in loser.raw_body
    item = stored_order(shared_table, order_id)
    assert item["version"] == {"N": "2"}
    assert [entry["M"]["status"]["S"] for entry in item["statusHistory"]["L"]] == ["pending", target]


def test_one_of_twenty_changes_with_the_same_if_match_wins(shared_table):
    order_id = create_order()["id"]
    outcomes = invoke_concurrently(
        "update_order_status", status_events(order_id, "cancelled", if_match='"1"')
    )
    statuses = Counter(outcome.status for outcome in outcomes)
    assert statuses[200] == 1, statuses
    assert statuses[200] + statuses[409] + statuses[412] == RACERS, statuses
    assert stored_order(shared_table, order_id)["version"] == {"N": "2"}


def test_twenty_identical_posts_with_one_key_make_one_order(shared_table):
    event = http_event("create_order", body=json_text(order_body()))
    event["headers"]["idempotency-key"] = f"race-{time.time_ns()}"
    outcomes = invoke_concurrently("create_order", [event] * RACERS)
    statuses = Counter(outcome.status for outcome in outcomes)
    assert set(statuses) <= {201, 409}, [(o.status, o.raw_body) for o in outcomes]
    assert statuses[201] >= 1
    created = [outcome for outcome in outcomes if outcome.status == 201]
    assert len({outcome.raw_body for outcome in created}) == 1  # every 201 is the same order, byte for byte
    assert len({outcome.headers["Location"] for outcome in created}) == 1
    for outcome in outcomes:
        if outcome.status == 409:
            assert outcome.headers.get("Content-Type", "").startswith("application/problem+json")
    orders = order_items(shared_table)
    assert len(orders) == 1
    assert f"/api/orders/{orders[0]['id']['S']}" == created[0].headers["Location"]


def _read_then_write_change_status(everyone_has_read):
    """A deliberately broken repository (read, decide, then write without a condition), patched into
    the forked environments only: the harness must see it fail. Each waits until every environment has
    read (`everyone_has_read`, a barrier inherited through fork), so the race happens however slowly the
    environments start on a loaded machine."""
    from orders.domain.models import Order, StatusChange
    from orders.storage.repository import OrderRepository, TransitionRejected, _to_item, _wire_from_item

    def change_status(
        self, order_id, *, target, allowed_sources, change, owner=None, expected_versions=None, **_
    ):
        wire = self.get_wire(order_id)
        current = None if wire is None else Order.model_validate(wire)
        if current is None or current.status not in allowed_sources:
            raise TransitionRejected(wire)
        everyone_has_read.wait(timeout=30)  # the window a real network round trip opens, held open
        updated = current.model_copy(
            update={
                "status": target,
                "version": current.version + 1,
                "status_history": [*current.status_history, StatusChange.model_validate(change)],
            }
        )
        self._client.put_item(TableName=self._table, Item=_to_item(updated, None))
        return _wire_from_item(_to_item(updated, None))

    OrderRepository.change_status = change_status


def test_the_harness_catches_a_read_then_write_race(shared_table):
    order_id = create_order()["id"]
    events = status_events(order_id, "cancelled")
    everyone_has_read = multiprocessing.get_context("fork").Barrier(len(events))
    outcomes = invoke_concurrently(
        "update_order_status",
        events,
        prepare=functools.partial(_read_then_write_change_status, everyone_has_read),
    )
    assert sum(outcome.status == 200 for outcome in outcomes) > 1
