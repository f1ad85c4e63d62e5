"""ops/capacity.py (`make capacity`): the model reads the template's parameters and resources and bench's
measured costs, names as bottleneck the component allowing the fewest orders/s, caps one user's rate by
the per-partition limit, and every quota it uses names the AWS page that states it. Offline: no AWS call."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from typing import Any

import pytest

from ops import capacity
from ops.capacity import (
    QUOTAS,
    CapacityError,
    Row,
    evaluate,
    load_template,
    read_inputs,
    verdict,
)
from ops.stage import ROOT

RATES = (1_000.0, 10_000.0)


@pytest.fixture(scope="module")
def measurements() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(capacity.MEASUREMENTS.read_text())
    return loaded


def rows(rate: float = RATES[0], **kwargs: Any) -> dict[str, Row]:
    return {row.name: row for row in evaluate(read_inputs(**kwargs), rate)}


def route_row(found: dict[str, Row], route: str) -> Row:
    (row,) = (row for name, row in found.items() if name == f"API stage throttle {route}")
    return row


def consumer_row(found: dict[str, Row]) -> Row:
    (row,) = (row for name, row in found.items() if name.startswith("Stream consumer"))
    return row


def stream_mapping(template: dict[str, Any]) -> dict[str, Any]:
    events = template["Resources"]["OrderEventsFunction"]["Properties"]["Events"]
    (mapping,) = (event["Properties"] for event in events.values() if event["Type"] == "DynamoDB")
    found: dict[str, Any] = mapping
    return found


# ------------------------------------------------------------------------------ it reads the template


def test_the_stage_throttle_is_the_templates_parameter_and_an_override_moves_it() -> None:
    default = float(load_template()["Parameters"]["ApiThrottlingRateLimit"]["Default"])
    before = route_row(rows(), "POST /api/orders")
    after = route_row(rows(overrides={"ApiThrottlingRateLimit": str(default * 7)}), "POST /api/orders")

    assert before.capacity == default
    assert after.capacity == default * 7
    assert after.creates == pytest.approx(before.creates * 7)
    # Three status changes per order go through PATCH: its route allows a third as many orders.
    patch = route_row(rows(), "PATCH /api/orders/{id}/status")
    changes_per_order = read_inputs().mix["change"]
    assert patch.orders == pytest.approx(default / changes_per_order)


def test_an_unknown_parameter_is_refused() -> None:
    with pytest.raises(CapacityError, match="no parameter"):
        read_inputs(overrides={"NoSuchParameter": "1"})


def test_the_stream_mappings_parallelization_factor_comes_from_the_template() -> None:
    template = copy.deepcopy(load_template())
    assert "ParallelizationFactor" not in stream_mapping(template)  # Lambda's default, 1
    before = consumer_row(rows(template=template))
    stream_mapping(template)["ParallelizationFactor"] = 4
    after = consumer_row(rows(template=template))

    assert read_inputs(template=template).parallelization_factor == 4
    assert after.orders == pytest.approx(before.orders * 4)


def test_an_on_demand_maximum_on_the_table_caps_its_writes() -> None:
    template = copy.deepcopy(load_template())
    table = template["Resources"]["OrdersTable"]["Properties"]
    table["OnDemandThroughput"] = {"MaxWriteRequestUnits": 500}
    capped = rows(template=template)["DynamoDB table writes"]

    assert capped.capacity == 500
    assert capped.orders == pytest.approx(500 / capped.per_order)


def test_costs_are_the_measured_ones(measurements: dict[str, Any]) -> None:
    """Doubling what bench measured for a create's table writes halves the creates/s the table allows."""
    doubled = copy.deepcopy(measurements)
    create = doubled["calls"]["per_endpoint"]["real"]["create_order"]
    table_units = create["wru"] - create["wru_indexes"]
    create["wru"] += table_units
    before = rows(measurements=measurements)["DynamoDB table writes"]
    after = rows(measurements=doubled)["DynamoDB table writes"]

    assert after.creates == pytest.approx(before.creates / 2)
    assert after.changes == pytest.approx(before.changes)


# ------------------------------------------------------------------------------ the bottleneck


@pytest.mark.parametrize(
    "overrides, quotas",
    [
        ({}, {}),
        # Throttle raised: the bottleneck moves downstream, and it must still be the lowest allowance.
        ({"ApiThrottlingRateLimit": "100000"}, {}),
        ({"ApiThrottlingRateLimit": "100000"}, {"apigw_account_rps": 1e6, "lambda_concurrency": 1e5}),
    ],
)
@pytest.mark.parametrize("rate", RATES)
def test_the_bottleneck_is_the_component_allowing_the_fewest_orders(
    rate: float, overrides: dict[str, str], quotas: dict[str, float]
) -> None:
    inputs = read_inputs(overrides=overrides, quota_overrides=quotas)
    total = [row for row in evaluate(inputs, rate) if row.scope == "total"]
    named = verdict(inputs, rate)

    assert named.bottleneck.orders == min(row.orders for row in total)
    assert [row.name for row in named.short] == [
        row.name for row in sorted(total, key=lambda row: row.orders) if row.orders < rate
    ]
    assert all(row.hint for row in named.short), "every component short of the rate says what to raise"


def test_raising_the_throttle_moves_the_bottleneck_off_the_api_stage() -> None:
    before = verdict(read_inputs(), RATES[0]).bottleneck.name
    after = verdict(read_inputs(overrides={"ApiThrottlingRateLimit": "100000"}), RATES[0]).bottleneck.name

    assert before.startswith("API stage throttle")
    assert not after.startswith("API stage throttle")


def test_a_rate_every_component_allows_is_sustained() -> None:
    inputs = read_inputs()
    tightest = verdict(inputs, 1.0).bottleneck.orders
    assert verdict(inputs, tightest / 2).sustained
    assert not verdict(inputs, tightest * 2).sustained


# ------------------------------------------------------------------------------ per partition


def test_one_users_rate_is_capped_by_the_partition_limit_not_the_table_quota() -> None:
    users = {name: row for name, row in rows().items() if row.scope == "one user"}
    assert users, "each index keyed by user gives a per-user row"
    inputs = read_inputs()
    partition = inputs.quotas["dynamodb_partition_wcu"]
    for name, row in users.items():
        index = name.split()[2].rstrip(":")
        create_units = inputs.costs["create"].index_wru[index]
        assert row.capacity == partition
        assert row.creates == pytest.approx(partition / create_units)

    # A table quota increase does nothing for one user; the partition's limit is what caps them.
    raised = rows(quota_overrides={"dynamodb_table_wru": 1e9})
    halved = rows(quota_overrides={"dynamodb_partition_wcu": partition / 2})
    for name, row in users.items():
        assert raised[name].orders == pytest.approx(row.orders)
        assert halved[name].orders == pytest.approx(row.orders / 2)
    # and it is tighter than what the same index allows all users together.
    for name, row in users.items():
        index = name.split()[2].rstrip(":")
        assert row.orders < rows()[f"DynamoDB index {index} writes"].orders


def test_a_status_change_costs_the_status_index_twice_what_it_costs_the_other() -> None:
    """GSI2's sort key moves with the status (delete + put), GSI1's does not: per user, status changes on
    GSI2 are capped at half what GSI1 allows."""
    inputs = read_inputs()
    change = inputs.costs["change"].index_wru
    assert change["GSI2"] == pytest.approx(2 * change["GSI1"])


def status_rows(found: dict[str, Row]) -> dict[str, Row]:
    prefix = "DynamoDB index GSI3: status "
    return {
        name.removeprefix(prefix).split(",")[0]: row for name, row in found.items() if name.startswith(prefix)
    }


def test_the_status_index_is_sharded_by_the_templates_parameter() -> None:
    """Issue 21 part 1's GSI3: STATUS#<status>#<shard>, StatusIndexShards partitions per status, each
    serving 1,000 WCU/s; a status's allowance grows with its shards."""
    inputs = read_inputs()
    default = int(load_template()["Parameters"]["StatusIndexShards"]["Default"])
    assert inputs.indexes["GSI3"] == ("GSI3PK", "status", default)
    found = status_rows(rows())
    assert list(found) == list(capacity.LIFECYCLE_STATUSES), "busiest first: pending, every order's first"
    for row in found.values():
        assert row.scope == "total"
        assert row.capacity == default * inputs.quotas["dynamodb_partition_wcu"]
    doubled = status_rows(rows(overrides={"StatusIndexShards": str(2 * default)}))
    assert doubled["pending"].orders == pytest.approx(2 * found["pending"].orders)


def test_the_status_index_takes_a_put_per_create_and_a_delete_and_a_put_per_change() -> None:
    """A create puts the order in pending's partitions; each change deletes it from the old status's and puts
    it in the new one's: pending takes two writes per order (create, first change), the last status one."""
    assert capacity.status_writes() == {
        "pending": {"create": 1, "change": 1},
        "confirmed": {"create": 0, "change": 2},
        "shipped": {"create": 0, "change": 2},
        "delivered": {"create": 0, "change": 1},
    }
    inputs = read_inputs()
    change, create = inputs.costs["change"].index_wru, inputs.costs["create"].index_wru
    # Its key moves with the status: a change costs GSI3 twice what it costs GSI1, a create the same.
    assert change["GSI3"] == pytest.approx(2 * change["GSI1"])
    assert create["GSI3"] == pytest.approx(create["GSI1"])
    found = status_rows(rows())
    assert found["pending"].per_order == pytest.approx(found["confirmed"].per_order)
    assert found["pending"].per_order == pytest.approx(2 * found["delivered"].per_order)
    # The writes on GSI3's partitions, all statuses together, are what the index takes per order.
    total = sum(row.per_order for row in found.values())
    assert total == pytest.approx(rows()["DynamoDB index GSI3 writes"].per_order)


def test_the_lifecycle_statuses_are_bench_s() -> None:
    from bench.lifecycle import STATUS_PATH

    assert ("pending", *STATUS_PATH) == capacity.LIFECYCLE_STATUSES


def test_the_default_shards_keep_every_status_partition_under_the_limit_at_10000_orders() -> None:
    inputs = read_inputs()
    load = capacity.status_partition_load(inputs, RATES[1])["GSI3"]
    assert max(load, key=lambda status: load[status]) == "pending"
    assert max(load.values()) < inputs.quotas["dynamodb_partition_wcu"]
    short = {row.name for row in verdict(inputs, RATES[1]).short}
    assert not any(name.startswith("DynamoDB index GSI3: status") for name in short)


def test_four_shards_make_the_status_index_a_bottleneck_at_10000_orders() -> None:
    inputs = read_inputs(overrides={"StatusIndexShards": "4"})
    load = capacity.status_partition_load(inputs, RATES[1])["GSI3"]
    assert load["pending"] > inputs.quotas["dynamodb_partition_wcu"]
    short = {row.name: row for row in verdict(inputs, RATES[1]).short}
    pending = short["DynamoDB index GSI3: status pending, 4 partition(s) (GSI3PK)"]
    assert pending.orders < RATES[1]
    assert "raise StatusIndexShards to >= " in pending.hint
    # With the throttles and quotas out of the way, it is the first bottleneck.
    lifted = read_inputs(
        overrides={"StatusIndexShards": "4", "ApiThrottlingRateLimit": "1000000"},
        quota_overrides={name: 1e9 for name in capacity.QUOTAS if not name.startswith("dynamodb_partition")},
        assumption_overrides={"wru_per_shard": 1.0},
    )
    assert verdict(lifted, RATES[1]).bottleneck.name.startswith("DynamoDB index GSI3: status")


def test_measurements_older_than_the_status_index_extrapolate_its_writes(
    measurements: dict[str, Any],
) -> None:
    """An order item without GSI3PK (bench run before the index): GSI3's writes are priced as the other
    indexes' (the same projected item), not taken out of theirs."""
    older = copy.deepcopy(measurements)
    layout = older["calls"]["item_layouts"]["real"]["ORDER"]
    layout.pop("GSI3PK", None)
    create = older["calls"]["per_endpoint"]["real"]["create_order"]
    inputs = read_inputs(measurements=older)
    others = sum(units for name, units in inputs.costs["create"].index_wru.items() if name != "GSI3")
    assert others == pytest.approx(create["wru_indexes"])
    assert inputs.costs["create"].index_wru["GSI3"] == pytest.approx(inputs.costs["create"].index_wru["GSI1"])


# ------------------------------------------------------------------------------ sources and the CLI


def test_every_quota_names_the_aws_page_that_states_it() -> None:
    for name, quota in QUOTAS.items():
        assert quota.source.startswith("https://docs.aws.amazon.com/"), name
        assert quota.value is not None or quota.by_region, name
        assert quota.unit and quota.what, name


def test_a_region_without_a_known_default_asks_for_the_quota() -> None:
    with pytest.raises(CapacityError, match="eventbridge_put_events"):
        read_inputs(region="ap-northeast-3")
    assert read_inputs(region="ap-northeast-3", quota_overrides={"eventbridge_put_events": 500.0})


def test_the_cli_prints_json_and_ends_with_a_summary_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops", "capacity", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    last = done.stderr.strip().splitlines()[-1]
    assert last == result["summary"]
    assert last.startswith("capacity: ")
    assert [target["rate"] for target in result["targets"]] == list(RATES)
    for target in result["targets"]:
        assert target["bottleneck"] in last
    assert all(entry["source"].startswith("https://") for entry in result["quotas"].values())
    assert all(math.isfinite(c["perOrder"]) for c in result["components"])


def test_the_cli_text_names_the_bottleneck_at_a_given_rate() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops", "capacity", "--rate", "250", "--param", "ApiThrottlingRateLimit=5000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = verdict(read_inputs(overrides={"ApiThrottlingRateLimit": "5000"}), 250.0).bottleneck.name
    assert "At 250 orders/s" in done.stdout
    assert expected in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("capacity: ")


def test_the_cli_refuses_a_bad_override_plainly() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops", "capacity", "--param", "Nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --param takes NAME=VALUE")
