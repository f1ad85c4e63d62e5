"""ops/capacity.py (`make capacity`): the model reads the template's parameters and resources and bench's
measured costs, names as bottleneck the component allowing the fewest orders/s, caps one user's rate by
the per-partition limit, models the stream consumer settling on the layer's threads, derives the template's
defaults (and template.yaml holds them), and every quota it uses names the AWS page that states it. Offline:
no AWS call."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ops import capacity
from ops.capacity import (
    BY_ASSUMPTION,
    BY_QUOTA,
    BY_TEMPLATE,
    DESIGN_RATE,
    QUOTAS,
    CapacityError,
    Inputs,
    Row,
    consumer_time,
    evaluate,
    load_template,
    read_inputs,
    recommended_defaults,
    template_settings,
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


def consumer_allows(inputs: Inputs, rate: float) -> float:
    return consumer_row({row.name: row for row in evaluate(inputs, rate)}).orders


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
    assert (
        read_inputs(template=template).parallelization_factor
        == stream_mapping(template)["ParallelizationFactor"]
    )
    del stream_mapping(template)["ParallelizationFactor"]  # Lambda's default, 1
    before = consumer_row(rows(template=template))
    assert read_inputs(template=template).parallelization_factor == 1
    stream_mapping(template)["ParallelizationFactor"] = 3
    after = consumer_row(rows(template=template))

    assert read_inputs(template=template).parallelization_factor == 3
    assert after.orders == pytest.approx(before.orders * 3)


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
    """Up to the sustained rate every component allows the rate; past it one does not. (The consumer's allowance
    grows with the rate through its shards, so the bottleneck's allowance at another rate says nothing.)"""
    inputs = read_inputs()
    highest, limiting = capacity.sustained_rate(inputs)
    assert verdict(inputs, highest / 2).sustained
    assert verdict(inputs, highest * 0.99).sustained
    past = verdict(inputs, highest * 1.01)
    assert not past.sustained
    assert past.bottleneck.name == limiting


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


# ------------------------------------------------------------------------------ the concurrent consumer


def test_the_consumer_settles_on_the_layers_background_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from orders import wiring

    assert read_inputs().settling_threads == wiring.BACKGROUND_THREADS
    monkeypatch.setattr(wiring, "BACKGROUND_THREADS", 3)
    inputs = read_inputs()
    assert inputs.settling_threads == 3
    assert consumer_time(inputs).threads == 3
    # No more threads than a batch has records.
    assert consumer_time(replace(inputs, settling_threads=10_000)).threads == inputs.batch_size


def test_threads_shorten_the_consumers_calls_not_its_own_time_nor_its_put_events() -> None:
    inputs = read_inputs()
    consumer, assumed = inputs.consumer, inputs.assumptions
    one = consumer_time(replace(inputs, settling_threads=1))
    ten = consumer_time(replace(inputs, settling_threads=10))
    # One thread is the sequential consumer: every call one after another.
    whole = capacity.duration_s(consumer, assumed, put_events_calls=consumer.events / 10)
    assert one.per_order_s == pytest.approx(whole)
    assert ten.sequential_s == pytest.approx(whole)
    # The calls settling makes (the reservation's DynamoDB calls, the inventory's commit or release) are
    # spread over the threads; the own time and the batch's PutEvents (published first, in order) are not.
    settling_ms = (
        consumer.dynamodb_calls * assumed["dynamodb_ms"] + consumer.inventory_calls * assumed["upstream_ms"]
    )
    assert ten.settling_s * 1000 == pytest.approx(settling_ms)
    assert ten.per_order_s == pytest.approx(ten.serial_s + ten.settling_s / 10)
    assert ten.serial_s * 1000 == pytest.approx(
        consumer.own_ms + consumer.events / 10 * assumed["put_events_ms"]
    )
    # A slower PutEvents costs each order its share in full; a slower inventory call a tenth of it.
    slower_bus = consumer_time(
        read_inputs(assumption_overrides={"put_events_ms": assumed["put_events_ms"] + 100})
    )
    slower_inventory = consumer_time(
        read_inputs(assumption_overrides={"upstream_ms": assumed["upstream_ms"] + 100})
    )
    assert slower_bus.per_order_s - ten.per_order_s == pytest.approx(consumer.events / 10 * 0.1)
    assert slower_inventory.per_order_s - ten.per_order_s == pytest.approx(
        consumer.inventory_calls * 0.1 / 10
    )


@pytest.mark.parametrize("rate", RATES)
def test_the_consumer_allowance_grows_with_threads_and_the_factor(rate: float) -> None:
    """shards x ParallelizationFactor batches at a time, each spending serial + settling / threads per order."""
    inputs = read_inputs()
    timing = consumer_time(inputs)
    shards = capacity.stream_shards(inputs, rate)
    assert shards == max(4, math.ceil(round(rate * capacity.table_wru_per_order(inputs) / 1_000, 6)))

    def allows(factor: int, threads: int) -> float:
        return consumer_allows(replace(inputs, parallelization_factor=factor, settling_threads=threads), rate)

    for factor in (1, 4, 10):
        for threads in (1, 5, 10):
            expected = shards * factor / (timing.serial_s + timing.settling_s / threads)
            assert allows(factor, threads) == pytest.approx(expected)
            modelled = replace(inputs, parallelization_factor=factor, settling_threads=threads)
            assert capacity.consumer_allowance(modelled, rate) == pytest.approx(expected)
    assert allows(2, 10) == pytest.approx(2 * allows(1, 10))
    assert allows(1, 1) < allows(1, 5) < allows(1, 10) < allows(1, 20)
    # ... but never past what the serial part allows, however many threads.
    assert allows(1, 100) < shards / timing.serial_s


def test_a_consumer_the_factor_cannot_save_is_told_to_settle_on_more_threads() -> None:
    inputs = replace(read_inputs(), settling_threads=1, parallelization_factor=1)
    row = consumer_row({row.name: row for row in evaluate(inputs, RATES[1])})
    assert row.orders < RATES[1]
    assert "settling threads" in row.hint
    assert "BACKGROUND_THREADS" in row.hint
    assert capacity.parallelization_factor_for(inputs, RATES[1]) == QUOTAS["parallelization_factor_max"].value
    concurrent = replace(inputs, settling_threads=10)
    hint = consumer_row({row.name: row for row in evaluate(concurrent, RATES[1])}).hint
    assert hint.startswith("set the stream mapping's ParallelizationFactor to >= ")


# ------------------------------------------------------------------------------ the template's defaults


def test_the_templates_defaults_are_the_models(measurements: dict[str, Any]) -> None:
    """template.yaml's throttle, stream mapping and status shards are what recommended_defaults derives from
    the template and bench's latest measurements: change one without the other and this fails."""
    inputs = read_inputs(template=load_template(), measurements=measurements)
    recommended = recommended_defaults(inputs).values()
    assert set(recommended) == {
        "ApiThrottlingRateLimit",
        "ApiThrottlingBurstLimit",
        "ParallelizationFactor",
        "StatusIndexShards",
    }
    now = template_settings(inputs)
    assert recommended_defaults(inputs).off_model(now) == set()
    # Only the stream mapping's factor is accepted in a band (`test_the_factor_is_accepted_...`); the others
    # are exactly the model's.
    del now["ParallelizationFactor"], recommended["ParallelizationFactor"]
    assert now == recommended


def test_the_factor_is_accepted_from_the_least_that_keeps_up_to_the_headrooms() -> None:
    """The stream mapping's factor rests on the consumer's measured time, which a busier bench machine
    measures longer: the template's is accepted from the least factor that keeps up with the design rate to
    the one that keeps up with CONSUMER_HEADROOM x it (the recommendation), and nothing outside."""
    inputs = read_inputs()
    defaults = recommended_defaults(inputs)
    setting, rate = defaults.settings["ParallelizationFactor"], defaults.design_rate
    assert setting.accepted is not None
    low, high = setting.accepted
    assert high == setting.value == capacity.parallelization_factor_for(inputs, rate)
    assert consumer_allows(replace(inputs, parallelization_factor=low), rate) >= rate
    assert low == 1 or consumer_allows(replace(inputs, parallelization_factor=low - 1), rate) < rate
    assert [factor for factor in range(12) if setting.accepts(factor)] == list(range(low, high + 1))
    assert not setting.accepts(None)


@pytest.mark.parametrize(
    "setting, value",
    [
        ("ApiThrottlingRateLimit", 100),  # the defaults before the model set them
        ("ApiThrottlingBurstLimit", 200),
        ("ParallelizationFactor", None),  # not set: Lambda's 1
        ("StatusIndexShards", 32),
    ],
)
def test_a_template_default_off_the_model_is_caught(
    setting: str, value: int | None, measurements: dict[str, Any]
) -> None:
    template = copy.deepcopy(load_template())
    if setting == "ParallelizationFactor":
        del stream_mapping(template)[setting]
    else:
        template["Parameters"][setting]["Default"] = value
    inputs = read_inputs(template=template, measurements=measurements)
    assert recommended_defaults(inputs).off_model(template_settings(inputs)) == {setting}


def test_the_defaults_follow_the_measurements() -> None:
    """A slower inventory service (the consumer's settling) asks for a larger ParallelizationFactor; a costlier
    status index write for more shards."""
    now = template_settings(read_inputs())
    slow = recommended_defaults(read_inputs(assumption_overrides={"upstream_ms": 500})).values()
    assert slow["ParallelizationFactor"] > now["ParallelizationFactor"]
    wider = recommended_defaults(read_inputs(quota_overrides={"dynamodb_partition_wcu": 500})).values()
    assert wider["StatusIndexShards"] > now["StatusIndexShards"]


def test_at_the_design_rate_no_template_setting_is_short() -> None:
    """At 1,000 orders/s whatever is short is an AWS quota or an assumption to agree (an upstream service's
    rate): never something the template sets."""
    inputs = read_inputs()
    assert recommended_defaults(inputs).design_rate == DESIGN_RATE == RATES[0]

    def short(modelled: Inputs) -> list[tuple[str, str]]:
        return [(row.set_by, row.name) for row in verdict(modelled, DESIGN_RATE).short]

    assert [name for by, name in short(inputs) if by == BY_TEMPLATE] == []
    # The old defaults were short there: the throttle (100 a route) and the mapping (factor 1).
    assert {by for by, _ in short(read_inputs(overrides={"ApiThrottlingRateLimit": "100"}))} == {BY_TEMPLATE}
    assert {by for by, _ in short(replace(inputs, parallelization_factor=1))} == {BY_TEMPLATE}
    # What the operator must raise or agree instead: a Region's lower quota, an upstream service's rate.
    low_region = read_inputs(quota_overrides={"apigw_account_rps": 2_500.0})
    assert [by for by, _ in short(low_region)] == [BY_QUOTA]
    agreed = read_inputs(assumption_overrides={"inventory_rps": 1_500.0})
    assert short(agreed) == [(BY_ASSUMPTION, "Inventory service (reserve, commit, release)")]


def test_the_design_rate_is_what_the_default_quotas_allow_and_at_most_1000() -> None:
    inputs = read_inputs()
    quota_rows = [
        row for row in evaluate(inputs, DESIGN_RATE) if row.scope == "total" and row.set_by == BY_QUOTA
    ]
    assert min(row.orders for row in quota_rows) >= DESIGN_RATE
    # A Region whose API Gateway account throttle is 2,500 requests/s (7 a lifecycle order: 357 orders/s).
    low = recommended_defaults(
        read_inputs(region="eu-south-1", quota_overrides={"eventbridge_put_events": 10_000.0})
    )
    assert low.design_rate == 300
    assert low.values()["ApiThrottlingRateLimit"] == 900
    # Quotas raised do not raise the defaults past the first rate.
    raised = read_inputs(
        quota_overrides={name: 1e9 for name in QUOTAS if not name.startswith("dynamodb_partition")}
    )
    assert recommended_defaults(raised).design_rate == DESIGN_RATE


@pytest.mark.parametrize("quota", [1_000.0, 500.0])
def test_every_route_at_the_recommended_throttle_fits_the_lambda_pool(quota: float) -> None:
    """The functions reserve no concurrency (the CKV_AWS_115 skips): the stage throttle is what bounds them, so
    the four routes at their throttle at once fit the account's pool."""
    inputs = read_inputs(quota_overrides={"lambda_concurrency": quota})
    limit = recommended_defaults(inputs).values()["ApiThrottlingRateLimit"]
    assert capacity.routes_at_throttle_concurrency(inputs, limit) <= quota
    # At what the other quotas allow (~1,420 orders/s: 4,300 a route) they would not: why 1,000.
    if quota == 1_000.0:
        assert capacity.routes_at_throttle_concurrency(inputs, 4_300) > quota


@pytest.mark.parametrize("rate", [100.0, *RATES, 100_000.0])
@pytest.mark.parametrize(
    "region, quotas", [("us-east-1", {}), ("eu-south-1", {"eventbridge_put_events": 2_400.0})]
)
def test_the_recommended_throttle_never_exceeds_the_accounts(
    rate: float, region: str, quotas: dict[str, float]
) -> None:
    inputs = read_inputs(region=region, quota_overrides=quotas)
    values = recommended_defaults(inputs, rate).values()
    assert values["ApiThrottlingRateLimit"] <= inputs.quotas["apigw_account_rps"]
    assert values["ApiThrottlingBurstLimit"] <= inputs.quotas["apigw_account_burst"]
    assert values["ApiThrottlingBurstLimit"] <= values["ApiThrottlingRateLimit"]
    # Below the cap it is what the busiest route needs (PATCH: 3 a lifecycle order).
    if rate * 3 < inputs.quotas["apigw_account_rps"]:
        assert values["ApiThrottlingRateLimit"] == math.ceil(rate * 3 / 100) * 100


@pytest.mark.parametrize("rate", RATES)
def test_the_recommended_factor_is_the_smallest_that_keeps_up(rate: float) -> None:
    inputs = read_inputs()
    factor = capacity.parallelization_factor_for(inputs, rate)
    assert 1 <= factor <= 10
    # With CONSUMER_HEADROOM to spare: the batches at most 80% busy at `rate`.
    wanted = capacity.CONSUMER_HEADROOM * rate
    assert consumer_allows(replace(inputs, parallelization_factor=factor), rate) >= wanted
    assert factor == 1 or consumer_allows(replace(inputs, parallelization_factor=factor - 1), rate) < wanted
    assert recommended_defaults(inputs).values()["ParallelizationFactor"] == (
        capacity.parallelization_factor_for(inputs, DESIGN_RATE)
    )


def test_the_status_index_shards_are_twice_the_fewest_10000_orders_need() -> None:
    """The existing rule (`raise StatusIndexShards to >= N` at 10,000 orders/s) gives the fewest; the default
    is twice that (the simulation's busiest second is ~1.4x the average)."""
    one_shard = read_inputs(overrides={"StatusIndexShards": "1"})
    (pending,) = (row for row in verdict(one_shard, RATES[1]).short if "status pending" in row.name)
    fewest = int(pending.hint.rsplit(">= ", 1)[1].replace(",", ""))
    assert recommended_defaults(read_inputs()).values()["StatusIndexShards"] == 2 * fewest
    assert RATES[1] == capacity.SHARDS_DESIGN_RATE


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
    settings = result["recommendedDefaults"]["settings"]
    assert {name: entry["now"] for name, entry in settings.items()} == template_settings(read_inputs())
    assert all(entry["rule"] for entry in settings.values())


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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rate", "nan"], "--rate must be a finite number > 0"),
        (["--rate", "inf"], "--rate must be a finite number > 0"),
        (["--quota", "lambda_scaling_rate=0"], "lambda_scaling_rate: not a finite number > 0"),
        (["--quota", "lambda_scaling_rate=inf"], "lambda_scaling_rate: not a finite number > 0"),
        (["--param", "StatusIndexShards=0"], "StatusIndexShards: not a whole number >= 1"),
        (["--param", "StatusIndexShards=2.5"], "StatusIndexShards: not a whole number >= 1"),
        (
            ["--param", "ApiThrottlingRateLimit=-5"],
            "POST /api/orders ThrottlingRateLimit: not a finite number > 0",
        ),
        (
            ["--param", "ApiThrottlingBurstLimit=nan"],
            "POST /api/orders ThrottlingBurstLimit: not a finite number > 0",
        ),
    ],
)
def test_the_cli_refuses_a_number_that_is_not_finite_and_positive_plainly(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert capacity.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: {message}")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"calls": ', "cannot read {path}: Expecting value"),  # truncated
        ("[]", "{path}: not a JSON object"),
        (None, "cannot read {path}: "),  # a directory
    ],
)
def test_the_cli_refuses_an_unreadable_measurements_file_plainly(
    content: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path
    if content is not None:
        path = tmp_path / "latest.json"
        path.write_text(content)
    assert capacity.main(["--measurements", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: " + message.format(path=path))
    assert len(err.splitlines()) == 1
