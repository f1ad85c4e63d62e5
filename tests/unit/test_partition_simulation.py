"""Issue 21, part 4: a simulated minute at 10,000 orders/s, and one heavy user at 100 orders/s, counting writes per
partition key per second on the table and on every index of template.yaml's OrdersTable, through the service's
real code: order ids from `orders.domain.ids`; items, update requests, index keys and the status index's shard
choice from `orders.storage.repository` (with the template's StatusIndexShards); idempotency records from
`orders.storage.idempotency`; the stream consumer's reservation writes from `orders.events`. No key format is
restated here: `tests/support/partition_simulation.py` reads the keys off the requests the service sends and the
key schemas off the template (a new index is counted as soon as it is there). A partition takes 1,000 writes/s.

The workload (`Workload`): creates evenly spread over each second; half send an Idempotency-Key (claim, then the
order and the completed record in one transaction); 0.5% fail after reserving (a stale price) while the inventory
cannot be reached, so the create releases its claim and leaves a release intent, which the stream consumer
carries out. Every order is confirmed by fulfilment 1-10 s after its create; 5-30 s after that, 90% are shipped
(the consumer commits the reservation and records it beside the order) and 5% cancelled by their customer
(released, recorded); 5% stay confirmed. Only what falls inside the minute happens.

Who orders: 1,000,000 customers, Zipf-distributed with exponent 0.5. Uniform would hide any concentration; Zipf
with exponent 1 would have the top customer place 7% of all orders (700 orders/s), which is no customer but a bot,
and is what the heavy-user case stands for (100 orders/s: a large reseller's integration). With 0.5 the top 1%
of customers place 10% of the orders and the busiest about 5 orders/s.

Observed, the busiest partition key in any second (writes/s, and write units/s: 1 KB each, twice in a
transaction), the whole minute counted once (PARTITION_SIMULATION_SECONDS=all):
- 10,000 orders/s: table 2 (5 units: an idempotency record's claim and completion), GSI1 22 (42), GSI2 40 (65),
  both on the busiest customer's key; GSI3 491 (718) on one status shard with the default 48 shards (with 32
  it was 705 writes but 1,038 units on `STATUS#pending#15`, over the limit: why the default is 48).
- one user at 100 orders/s (the default run counts all 60 s): table 2 (5), GSI1 321 (555), GSI2 543 (843) on the
  user's key, GSI3 15 (25).
A status change moves the order's GSI2 and GSI3 entries (new sort key, new status shard): a delete and a put each,
counted as two writes; GSI1 projects every attribute, so it takes one write per change. Writes and write units
stay under 1,000 everywhere. An order item is 0.9-1.3 KB (confirmed and shipped ones mostly over 1 KB), so a GSI3
shard takes ~1.5 units a write: sized by writes alone (32 shards, ~625 writes/s each) its busiest second passed
1,000 units.

Sampling: the service's own code costs about 0.1-0.3 ms per create or status change here, so the whole minute
(600,000 creates, 890,000 status changes and their stream records) took 8-17 minutes on this machine. By default the
population is counted in two seconds of the minute's steady state (45 and 59: every order then alive was created
inside the minute, 40 s being the longest an order lives); the counts are exact for those seconds: every order
that writes in a counted second is run, with its earlier steps (uncounted) so that its items are what they would
be. PARTITION_SIMULATION_SECONDS=all (or e.g. `0-59`, `10,20`) counts other seconds. The heavy user's minute is
counted whole. Everything is seeded but the order ids (`orders.domain.ids` draws from `secrets`), so GSI3's
counts, which depend on the ids' shards, vary by a few percent from run to run (468-478 writes, 676-712 units
in the default seconds); the others do not.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from orders.storage.history import stream_image

from local.template import create_table_request, load_template
from tests.support.partition_simulation import (
    TABLE,
    TABLE_NAME,
    WRITE_LIMIT,
    OneUser,
    Population,
    Simulation,
    Unsupported,
    Workload,
    over_limit,
    simulate,
    synthetic,
    table_layout,
)

POPULATION = Workload("10,000 orders/s", 10_000, Population(users=1_000_000, exponent=0.5))
HEAVY_USER = Workload("one user at 100 orders/s", 100, OneUser("heavy-buyer-1"))
DEFAULT_POPULATION_SECONDS = (45, 59)


def _seconds(text: str | None) -> tuple[int, ...]:
    """PARTITION_SIMULATION_SECONDS: `all`, or seconds and ranges separated by commas (`40,50-59`)."""
    if not text:
        return DEFAULT_POPULATION_SECONDS
    if text.strip() == "all":
        return tuple(range(POPULATION.seconds))
    seconds: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        seconds.update(range(int(first), int(last or first) + 1))
    return tuple(sorted(seconds))


def _verdict(simulation: Any) -> str:
    return (
        f"{simulation.report()}\nabove {WRITE_LIMIT} writes/s: {over_limit(simulation.counts)[:10]}"
        f"\nabove {WRITE_LIMIT} write units/s: {over_limit(simulation.counts, units=True)[:10]}"
    )


@pytest.fixture(scope="module")
def population() -> Simulation:
    started = time.perf_counter()
    simulation = simulate(POPULATION, _seconds(os.environ.get("PARTITION_SIMULATION_SECONDS")))
    print(f"\n{simulation.report()}\n({time.perf_counter() - started:.1f} s)")
    return simulation


def test_ten_thousand_orders_per_second_keep_every_partition_key_under_a_thousand_writes(
    population: Simulation,
) -> None:
    """Busiest key, seconds 45 and 59: table 2, GSI1 22, GSI2 40, GSI3 ~470 writes/s (48 shards)."""
    assert population.unwritten() == [], (
        f"no simulated write reached {population.unwritten()}: its keys come from writes this simulation does not "
        "make, so its load is unknown; teach tests/support/partition_simulation.py the writes that fill it"
    )
    # Every create of a counted second was run (its counts are whole), and status changes were counted too.
    assert population.counted_operations["create"] == POPULATION.orders_per_second * len(population.seconds)
    assert population.counted_operations["confirmed"] > 0
    assert population.counted_operations["shipped"] > 0
    assert over_limit(population.counts) == [], _verdict(population)


def test_ten_thousand_orders_per_second_keep_every_partition_key_under_a_thousand_write_units(
    population: Simulation,
) -> None:
    """DynamoDB's partition limit is 1,000 write *units*/s, and an order item over 1 KB costs 2 (most are, once
    confirmed). Busiest key, seconds 45 and 59, with the default 48 shards: table 5, GSI1 40, GSI2 65, GSI3 ~690
    write units/s. (With 32 shards GSI3's busiest partition took 1,015, which is why the default is 48.)"""
    assert over_limit(population.counts, units=True) == [], _verdict(population)


def test_one_user_at_a_hundred_orders_per_second_stays_under_the_limit() -> None:
    """Heavy user, all 60 seconds, busiest key: table 2 writes/s (5 units), GSI1 321 (555), GSI2 543 (843) on the
    user's key, GSI3 15 (25): under 1,000 writes and 1,000 units."""
    started = time.perf_counter()
    simulation = simulate(HEAVY_USER)
    print(f"\n{simulation.report()}\n({time.perf_counter() - started:.1f} s)")

    assert simulation.unwritten() == []
    assert simulation.counted_operations["create"] == HEAVY_USER.orders_per_second * HEAVY_USER.seconds
    assert over_limit(simulation.counts) == [], _verdict(simulation)
    assert over_limit(simulation.counts, units=True) == [], _verdict(simulation)


# ------------------------------------------------------------------------------------------------ the controls
def _one_key_items(count: int, *, spread: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """`count` items sharing the partition key of the table and of every index (distinct sort keys), written in
    second 7 (or half of them in second 8)."""
    for number in range(count):
        item: dict[str, Any] = {}
        for schema in table_layout():
            item[schema.hash_key] = {"S": "hot"}
        for schema in table_layout():
            if schema.range_key is not None:
                item[schema.range_key] = {"S": f"item-{number}"}
        yield (8 if spread and number % 2 else 7), item


def test_the_check_finds_a_key_written_more_than_a_thousand_times_in_a_second() -> None:
    hot = synthetic(_one_key_items(WRITE_LIMIT + 1))
    assert {(target, key, second, count) for target, key, second, count in over_limit(hot)} == {
        (schema.name, "hot", 7, WRITE_LIMIT + 1) for schema in table_layout()
    }
    assert over_limit(hot, units=True) == over_limit(hot)  # small items: one unit each
    assert over_limit(synthetic(_one_key_items(WRITE_LIMIT))) == []
    assert over_limit(synthetic(_one_key_items(WRITE_LIMIT + 1, spread=True))) == []


def test_the_simulation_finds_a_user_ordering_too_fast() -> None:
    """Through the real code: one user at 400 orders/s is over the limit on the indexes keyed by user (and never
    on the table, whose keys are per order)."""
    simulation = simulate(Workload("one user at 400 orders/s", 400, OneUser("bot-1")), [45])
    found = over_limit(simulation.counts)
    print(f"\n{_verdict(simulation)}")
    assert found, _verdict(simulation)
    assert over_limit(simulation.counts, units=True), _verdict(simulation)
    assert {target for target, *_ in found} <= set(simulation.targets[1:])
    assert TABLE not in {target for target, *_ in found}


def test_an_index_no_write_reaches_is_reported_not_skipped() -> None:
    template = copy.deepcopy(load_template())
    properties = template["Resources"]["OrdersTable"]["Properties"]
    properties["GlobalSecondaryIndexes"].append(
        {
            "IndexName": "ByShard",
            "KeySchema": [
                {"AttributeName": "SHARDPK", "KeyType": "HASH"},
                {"AttributeName": "SHARDSK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    )
    simulation = simulate(Workload("small", 20, OneUser("user-1")), [30], template=template)
    assert simulation.unwritten() == ["ByShard"]

    properties["GlobalSecondaryIndexes"][-1]["KeySchema"] = [{"AttributeName": "SHARDPK", "KeyType": "RANGE"}]
    with pytest.raises(Unsupported, match="ByShard"):
        table_layout(template)


# ------------------------------------------------------------------------------------------------ the fake itself
@pytest.fixture
def moto_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setitem(os.environ, name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**create_table_request(TABLE_NAME))
        yield client


def test_the_recording_client_makes_the_items_moto_makes(moto_client: Any) -> None:
    """Every write of a small workload (keyed and plain creates, failed creates and their release intents,
    confirmations, shipments, cancellations, the consumer's reservation records) is sent to moto first, with its
    conditions: none is refused, and the table ends up the same in both."""
    workload = Workload(
        "mirrored",
        4,
        OneUser("user-1"),
        failed_share=0.2,
        confirm_after=(1.0, 3.0),
        final_after=(1.0, 4.0),
        shipped_share=0.6,
        cancelled_share=0.3,
        seconds=12,
    )
    simulation = simulate(workload, mirror=moto_client)
    assert simulation.operations["create"] == 48
    assert simulation.operations["shipped"] and simulation.operations["cancelled"]
    items = moto_client.scan(TableName=TABLE_NAME, ConsistentRead=True)["Items"]

    def by_key(item: dict[str, Any]) -> tuple[str, ...]:
        return tuple(item[name]["S"] for name in table_layout()[0].attributes)

    assert sorted(map(by_key, items)) == sorted(map(by_key, simulation.client.items.values()))
    for item in items:
        assert stream_image(simulation.client.items[by_key(item)]) == stream_image(item)
