"""`make capacity` (`python -m ops capacity`): the sustained orders/s and status changes/s each component
of the stack allows, from template.yaml's parameters and resources and AWS's published default quotas, and
the first bottleneck at a target rate (1,000 and 10,000 orders/s unless `--rate` says otherwise) with what
to raise. docs/capacity.md explains the model.

What an order costs each component is not guessed: the DynamoDB write and read units, the DynamoDB and
upstream calls and the events of every request are those `make bench` measured on the real code
(`bench/results/latest.json`, `calls`; the units computed from the real items by bench/capacity.py), and
the workload per order is bench's lifecycle (one create, its status changes, gets and a listing). Where
the model needs a number nobody publishes (a DynamoDB or upstream round trip on AWS, the shards a stream
has) it is an ASSUMPTIONS entry, printed as such and overridable (`--assume name=value`), never a quota.

Pure computation and offline by default (no AWS call: it runs against `make dev`'s checkout and on CI).
`--param Name=Value` overrides a template parameter; `--quota name=value` models a quota increase;
`--stage dev|prod` reads a deployed stack's parameter values through CloudFormation (your credentials).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ops.cli import say
from ops.stage import ROOT, StageError, samconfig_stack

TEMPLATE = ROOT / "template.yaml"
MEASUREMENTS = ROOT / "bench" / "results" / "latest.json"
DEFAULT_RATES = (1_000.0, 10_000.0)
INF = math.inf

# What the template's defaults are sized for (`recommended_defaults`, docs/capacity.md "The template's
# defaults against the model"). The API throttle and the stream mapping follow the design rate: the issue's
# first named rate, 1,000 orders/s, or less where AWS's default quotas (or the default Lambda pool, under
# every route at its throttle) allow less. The status index's shards follow the second, 10,000 orders/s: a
# quota request cannot raise a partition's limit, and more shards take a redeploy and `make reindex`.
DESIGN_RATE = DEFAULT_RATES[0]
SHARDS_DESIGN_RATE = DEFAULT_RATES[1]
# StatusIndexShards is this many times the fewest shards that hold the busiest status's average under a
# partition's limit at SHARDS_DESIGN_RATE: the busiest second is ~1.4x the average (uneven hashing, per-second
# arrivals; tests/unit/test_partition_simulation.py), and a changed order's item grows past 1 KB.
STATUS_SHARDS_HEADROOM = 2
# The stream mapping's ParallelizationFactor keeps the consumer's batches at most 1 / CONSUMER_HEADROOM (80%)
# busy at the design rate: a consumer sized to exactly keep up lets any burst or slow upstream call grow the
# iterator age for good, and a measured per-order time a few percent either side of a factor's edge would
# move the default from one bench run to the next (1,000 orders/s x 29.5 ms is 29.5 batches, 30.3 ms 30.3).
CONSUMER_HEADROOM = 1.25
# What sets a component's capacity, so that the operator knows who can move it: a template parameter or
# setting (ours to change), an AWS quota (a quota request, or not raisable), or an assumption (a number to
# agree with someone: the upstream services' limits).
BY_TEMPLATE, BY_QUOTA, BY_ASSUMPTION = "template", "AWS quota", "assumption"

# What the workload is made of: one API request each (the stream consumer's share is counted per order).
OPS = ("create", "change", "get", "list")
# Each operation's function in template.yaml and its name in bench's measurements.
FUNCTIONS = {
    "create": ("CreateOrderFunction", "create_order"),
    "change": ("UpdateOrderStatusFunction", "update_order_status"),
    "get": ("GetOrderFunction", "get_order"),
    "list": ("ListUserOrdersFunction", "list_user_orders"),
}
CONSUMER_FUNCTION = ("OrderEventsFunction", "order_events")

# Whose writes share one partition key, by the key attribute the repository writes
# (layers/orders/python/orders/storage/repository.py): PK is ORDER#<id> (or an idempotency hash), GSI1PK
# is USER#<userId>, the hash key of both GSI1 and GSI2; GSI3PK is STATUS#<status>#<shard> (issue 21's
# cross-user listing), each status write-sharded over the template parameter named here (the shard: crc32
# of the order id modulo it). "global" would be a key every order shares, capped at shards x 1,000 WCU; an
# index keyed by an attribute not listed here counts as "global" with one shard (the stricter reading)
# until it is listed.
PARTITION_SCOPES: dict[str, tuple[str, str | None]] = {
    "PK": ("order", None),
    "GSI1PK": ("user", None),
    "GSI3PK": ("status", "StatusIndexShards"),
}
# Index key attributes a status change rewrites (repository.change_status: GSI2SK = <status>#<id>, GSI3PK =
# STATUS#<status>#<shard>): the item leaves its old index position and takes a new one, two index writes
# instead of one.
STATUS_KEY_ATTRIBUTES = ("GSI2SK", "GSI3PK")
# The statuses one order of the measured lifecycle goes through, in order: the create's, then each status
# change's (bench/lifecycle.py: STATUS_PATH). On a status-keyed index the create puts the order in the first
# one's partitions, and each change deletes it from one status's partitions and puts it in the next one's.
LIFECYCLE_STATUSES = ("pending", "confirmed", "shipped", "delivered")

LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html"
DYNAMODB_QUOTAS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"


@dataclass(frozen=True)
class Quota:
    """An AWS default quota: its value (or its value per Region), unit, and the page that states it."""

    what: str
    value: float | None
    unit: str
    source: str
    adjustable: bool
    by_region: Mapping[str, float] = field(default_factory=dict)

    def in_region(self, region: str) -> float | None:
        return self.by_region.get(region, self.value)


# Regions whose API Gateway account throttle defaults to 2,500 requests/s (burst 1,250), as the page lists
# them: Cape Town, Milan, Jakarta, UAE, Hyderabad, Melbourne, Spain, Zurich, Tel Aviv, Calgary, Malaysia,
# Thailand, Mexico (Central).
_APIGW_LOW_REGIONS = (
    *("af-south-1", "eu-south-1", "ap-southeast-3", "me-central-1", "ap-south-2", "ap-southeast-4"),
    *("eu-south-2", "eu-central-2", "il-central-1", "ca-west-1", "ap-southeast-5", "ap-southeast-7"),
    "mx-central-1",
)

QUOTAS: dict[str, Quota] = {
    "apigw_account_rps": Quota(
        "API Gateway throttle per account and Region, across HTTP, REST and WebSocket APIs",
        10_000,
        "requests/s",
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
        True,
        dict.fromkeys(_APIGW_LOW_REGIONS, 2_500.0),
    ),
    "apigw_account_burst": Quota(
        "API Gateway account burst (token bucket size; set by AWS, not requestable)",
        5_000,
        "requests",
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
        False,
        dict.fromkeys(_APIGW_LOW_REGIONS, 1_250.0),
    ),
    "lambda_concurrency": Quota(
        "Lambda concurrent executions per account and Region (all functions share it)",
        1_000,
        "concurrent executions",
        LAMBDA_QUOTAS,
        True,
    ),
    "lambda_scaling_rate": Quota(
        "Lambda concurrency scaling rate, per function: new execution environments every 10 seconds",
        1_000,
        "environments per 10 s",
        LAMBDA_SCALING,
        False,
    ),
    "lambda_requests_per_environment": Quota(
        "Lambda requests per second one execution environment serves at most (10,000 requests/s per "
        "1,000 environments)",
        10,
        "requests/s per concurrent execution",
        LAMBDA_SCALING,
        False,
    ),
    "dynamodb_table_wru": Quota(
        "DynamoDB on-demand write throughput per table, and per each of its GSIs (no account-level quota "
        "in on-demand mode)",
        40_000,
        "write request units/s",
        DYNAMODB_QUOTAS,
        True,
    ),
    "dynamodb_table_rru": Quota(
        "DynamoDB on-demand read throughput per table, and per each of its GSIs",
        40_000,
        "read request units/s",
        DYNAMODB_QUOTAS,
        True,
    ),
    "dynamodb_partition_wcu": Quota(
        "DynamoDB writes one partition (of a table or an index) serves: all writes to one partition key",
        1_000,
        "write units/s",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
        False,
    ),
    "dynamodb_partition_rcu": Quota(
        "DynamoDB reads one partition serves",
        3_000,
        "read units/s",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
        False,
    ),
    "dynamodb_new_table_wru": Quota(
        "DynamoDB writes a new on-demand table sustains at first (then up to twice its previous peak; "
        "more within 30 minutes throttles unless pre-warmed)",
        4_000,
        "writes/s",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/pre-warming-on-demand-capacity-mode.html",
        False,
    ),
    "streams_readers_per_shard": Quota(
        "DynamoDB Streams: processes reading one shard at the same time (more are throttled)",
        2,
        "readers",
        f"{DYNAMODB_QUOTAS}#limits-dynamodb-streams",
        False,
    ),
    "parallelization_factor_max": Quota(
        "Lambda event source mapping ParallelizationFactor: concurrent batches per shard (1 by default)",
        10,
        "batches per shard",
        "https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html",
        False,
    ),
    "eventbridge_put_events": Quota(
        "EventBridge PutEvents throttle per account and Region (all buses); the page states it in "
        "transactions/s and does not say whether one call or one entry is a transaction: the model counts "
        "entries, the stricter reading",
        None,
        "transactions/s",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html",
        True,
        {"us-east-1": 10_000.0, "us-east-2": 2_400.0},
    ),
    "eventbridge_entries_per_call": Quota(
        "EventBridge entries per PutEvents call",
        10,
        "entries",
        "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html",
        False,
    ),
}

# Numbers the model needs that no AWS page states: assumptions, printed beside the results.
ASSUMPTIONS: dict[str, tuple[float, str]] = {
    "dynamodb_ms": (10.0, "p99 of one DynamoDB request from Lambda in the same Region, ms"),
    "upstream_ms": (100.0, "p99 of one call to the user or inventory service, ms (their SLO is not ours)"),
    "put_events_ms": (30.0, "p99 of one PutEvents call, ms"),
    "entries_per_put_events": (
        10.0,
        "entries per PutEvents call under load (the consumer packs up to 10; a quiet stream sends fewer)",
    ),
    "wru_per_shard": (
        1_000.0,
        (
            "table write units/s per stream shard: shards follow partitions, so a table taking W write "
            "units/s has at least W/1,000, and a new table at least 4,000/1,000 (DynamoDB does not publish "
            "the count; DescribeStream shows it)"
        ),
    ),
    "users_rps": (INF, "calls/s the user service accepts from us (unknown: inf = not modelled)"),
    "inventory_rps": (INF, "calls/s the inventory service accepts from us (unknown: inf = not modelled)"),
}


class CapacityError(Exception):
    """The model cannot be computed (a missing measurement, an unknown parameter): said plainly."""


# ------------------------------------------------------------------------------------------ the inputs


@dataclass(frozen=True)
class Cost:
    """What one operation costs, as measured by `make bench` (DynamoDB units per table and per index)."""

    table_wru: float = 0.0
    index_wru: Mapping[str, float] = field(default_factory=dict)
    table_rru: float = 0.0
    index_rru: Mapping[str, float] = field(default_factory=dict)
    dynamodb_calls: float = 0.0
    users_calls: float = 0.0
    inventory_calls: float = 0.0
    events: float = 0.0
    own_ms: float = 0.0  # the product's own time in the function (no I/O), warm p50 on bench's machine


@dataclass(frozen=True)
class Inputs:
    region: str
    parameters: dict[str, Any]
    route_rate: dict[str, float]  # op -> the stage's per-route throttle (requests/s)
    route_burst: dict[str, float]
    routes: dict[str, str]  # op -> "METHOD /path"
    indexes: dict[str, tuple[str, str, int]]  # GSI -> (hash attribute, scope, shards)
    table_max_wru: float  # OnDemandThroughput.MaxWriteRequestUnits, inf when unset
    batch_size: int
    parallelization_factor: int
    # The consumer's threads settling a batch's records (orders.wiring.BACKGROUND_THREADS).
    settling_threads: int
    stream_readers: int
    mix: dict[str, float]  # operations per order (create is 1)
    costs: dict[str, Cost]  # per operation (the API function's own share)
    consumer: Cost  # per order: what the stream consumer does for one order's records
    quotas: dict[str, float]
    assumptions: dict[str, float]
    measured: str  # where the costs come from


def settling_threads() -> int:
    """The threads the stream consumer settles a batch's records on: the domain layer's background pool
    (`orders.wiring.BACKGROUND_THREADS`, which `wiring.side_by_side` runs on; ops/__init__.py puts the layer
    on the path, as Lambda has it in /opt/python)."""
    from orders.wiring import BACKGROUND_THREADS

    return int(BACKGROUND_THREADS)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    # The repository's CloudFormation-aware loader (SAM CLI's, which knows !Ref, !GetAtt, !Sub, ...).
    from local.template import load_template as load

    return load(path)


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    declared = template.get("Parameters") or {}
    values = {name: spec.get("Default") for name, spec in declared.items()}
    for name, value in overrides.items():
        if name not in declared:
            raise CapacityError(
                f"template.yaml has no parameter {name!r} (known: {', '.join(sorted(declared))})"
            )
        values[name] = value
    return values


def _resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters.get(value["Ref"])
    return value


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CapacityError(f"{what}: not a number ({value!r})") from None


def _positive(value: Any, what: str) -> float:
    number = _number(value, what)
    if not (math.isfinite(number) and number > 0):
        raise CapacityError(f"{what}: not a finite number > 0 ({value!r})")
    return number


def _count(value: Any, what: str) -> int:
    number = _number(value, what)
    if not (number >= 1 and number.is_integer()):
        raise CapacityError(f"{what}: not a whole number >= 1 ({value!r})")
    return int(number)


def _unmeasured(measurements: Mapping[str, Any], index_keys: Mapping[str, Sequence[str]]) -> list[str]:
    """Indexes the measured order item was not in (measurements older than the index): their writes are
    extrapolated from the others' (`_index_split`)."""
    layout = ((measurements.get("calls") or {}).get("item_layouts") or {}).get("real", {}).get("ORDER")
    if not layout:
        return []
    return [name for name, keys in index_keys.items() if not all(key in layout for key in keys)]


def _measured_costs(
    measurements: Mapping[str, Any],
    index_names: Sequence[str],
    status_keyed: Sequence[str],
    unmeasured: Sequence[str] = (),
) -> tuple[dict[str, float], dict[str, Cost], Cost]:
    """Per-operation costs from bench's `calls` (one call of each endpoint, each status change of the
    lifecycle, each record the consumer handled), and the lifecycle's mix."""
    try:
        endpoints = measurements["calls"]["per_endpoint"]["real"]
        warm = measurements["warm"]
        lifecycle = measurements["cost"]["lifecycle"]
    except (KeyError, TypeError):
        raise CapacityError(
            "the measurements lack calls/warm/cost: run `make bench` (or `--measurements`)"
        ) from None

    def runs(name: str) -> list[Mapping[str, Any]]:
        pattern = re.compile(rf"{re.escape(name)}(#\d+)?")
        found = [value for key, value in endpoints.items() if pattern.fullmatch(key)]
        if not found:
            raise CapacityError(f"the measurements have no call of {name}")
        return found

    def own_ms(function: str) -> float:
        return float(warm[function]["real"]["own_p50_ms"])

    mix = {op: float(lifecycle[FUNCTIONS[op][1]]) for op in OPS}
    if not mix["create"]:
        raise CapacityError("the measured lifecycle has no create")
    # Operations per order: the lifecycle's counts divided by its creates.
    mix = {op: count / mix["create"] for op, count in mix.items()}

    costs: dict[str, Cost] = {}
    for op in OPS:
        measured = runs(FUNCTIONS[op][1])
        n = len(measured)
        wru = sum(float(run["wru"]) for run in measured) / n
        wru_indexes = sum(float(run["wru_indexes"]) for run in measured) / n
        rru = sum(float(run["rru"]) for run in measured) / n
        upstream = sum(float(run["upstream_http_calls"]) for run in measured) / n
        reads_index = op == "list"  # the listing is a Query of a user index; the rest read the table
        costs[op] = Cost(
            table_wru=wru - wru_indexes,
            index_wru=_index_split(
                wru_indexes, index_names, status_keyed if op == "change" else (), unmeasured
            ),
            table_rru=0.0 if reads_index else rru,
            index_rru={index_names[0]: rru} if reads_index and index_names else {},
            dynamodb_calls=sum(float(run["dynamodb_calls"]) for run in measured) / n,
            # create: the buyer check (user service) and the reservation (inventory), one each.
            users_calls=min(upstream, 1.0) if op == "create" else 0.0,
            inventory_calls=upstream - min(upstream, 1.0) if op == "create" else upstream,
            own_ms=own_ms(FUNCTIONS[op][1]),
        )
    # The consumer: every record of one lifecycle (the create's and each change's), summed: per order.
    records = runs(CONSUMER_FUNCTION[1])
    if len(records) != round(1 + mix["change"]):
        raise CapacityError(
            f"the measurements have {len(records)} consumer records for a lifecycle of 1 create and "
            f"{mix['change']:g} changes"
        )
    consumer = Cost(
        table_wru=sum(float(run["wru"]) - float(run["wru_indexes"]) for run in records),
        table_rru=sum(float(run["rru"]) for run in records),
        dynamodb_calls=sum(float(run["dynamodb_calls"]) for run in records),
        inventory_calls=sum(float(run["upstream_http_calls"]) for run in records),
        events=sum(float(run["events_put"]) for run in records),
        own_ms=own_ms(CONSUMER_FUNCTION[1]) * len(records),
    )
    return mix, costs, consumer


def _index_split(
    units: float, index_names: Sequence[str], moved: Sequence[str], unmeasured: Sequence[str] = ()
) -> dict[str, float]:
    """The measured index units of one write, per index: each index holding the item takes one share, an
    index whose key the write moves (`moved`: delete + put) two. An index the measured item was not in
    (`unmeasured`) is added at the same price per share (every index projects the whole item)."""
    if not index_names or not units:
        return {}
    weights = {name: 2.0 if name in moved else 1.0 for name in index_names}
    total = sum(weight for name, weight in weights.items() if name not in unmeasured) or sum(weights.values())
    return {name: units * weight / total for name, weight in weights.items()}


def read_inputs(
    *,
    template: Mapping[str, Any] | None = None,
    measurements: Mapping[str, Any] | None = None,
    overrides: Mapping[str, str] | None = None,
    quota_overrides: Mapping[str, float] | None = None,
    assumption_overrides: Mapping[str, float] | None = None,
    region: str | None = None,
    measured_from: str = str(MEASUREMENTS.relative_to(ROOT)),
) -> Inputs:
    template = template if template is not None else load_template()
    if measurements is None:
        try:
            measurements = json.loads(MEASUREMENTS.read_text())
        except FileNotFoundError:
            raise CapacityError(f"no {MEASUREMENTS.relative_to(ROOT)}: run `make bench` first") from None
    parameters = parameter_values(template, overrides or {})
    resources = template["Resources"]
    region = region or samconfig_stack("default")[1]

    # API: the stage's default route throttle (and any per-route setting) for each operation's route.
    api = next((r for r in resources.values() if r.get("Type") == "AWS::Serverless::HttpApi"), None)
    if api is None:
        raise CapacityError("template.yaml has no AWS::Serverless::HttpApi")
    api_props = api.get("Properties") or {}
    default_route = api_props.get("DefaultRouteSettings") or {}
    per_route = api_props.get("RouteSettings") or {}
    routes: dict[str, str] = {}
    route_rate: dict[str, float] = {}
    route_burst: dict[str, float] = {}
    for op, (function, _) in FUNCTIONS.items():
        events = ((resources.get(function) or {}).get("Properties") or {}).get("Events") or {}
        http = [e["Properties"] for e in events.values() if e.get("Type") == "HttpApi"]
        if not http:
            raise CapacityError(f"{function} has no HttpApi event")
        route = f"{http[0]['Method'].upper()} {http[0]['Path']}"
        settings = {**default_route, **(per_route.get(route) or {})}
        routes[op] = route
        rate = _resolve(settings.get("ThrottlingRateLimit"), parameters)
        burst = _resolve(settings.get("ThrottlingBurstLimit"), parameters)
        route_rate[op] = INF if rate is None else _positive(rate, f"{route} ThrottlingRateLimit")
        route_burst[op] = INF if burst is None else _positive(burst, f"{route} ThrottlingBurstLimit")

    # The table: its indexes, whose writes share a partition key, any on-demand maximum.
    tables = [r for r in resources.values() if r.get("Type") == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        raise CapacityError(f"expected one DynamoDB table in template.yaml, found {len(tables)}")
    table = tables[0]["Properties"]
    if table.get("BillingMode") != "PAY_PER_REQUEST":
        raise CapacityError("the model covers on-demand tables (BillingMode: PAY_PER_REQUEST) only")
    max_wru = (table.get("OnDemandThroughput") or {}).get("MaxWriteRequestUnits")
    indexes: dict[str, tuple[str, str, int]] = {}
    index_keys: dict[str, tuple[str, ...]] = {}
    status_keyed: list[str] = []
    for index in table.get("GlobalSecondaryIndexes") or []:
        keys = {key["KeyType"]: key["AttributeName"] for key in index["KeySchema"]}
        index_keys[index["IndexName"]] = tuple(keys.values())
        scope, shards_parameter = PARTITION_SCOPES.get(keys["HASH"], ("global", None))
        shards = _count(parameters.get(shards_parameter), shards_parameter) if shards_parameter else 1
        indexes[index["IndexName"]] = (keys["HASH"], scope, shards)
        if any(attribute in STATUS_KEY_ATTRIBUTES for attribute in keys.values()):
            status_keyed.append(index["IndexName"])

    # The stream consumer's mapping.
    consumer_events = ((resources.get(CONSUMER_FUNCTION[0]) or {}).get("Properties") or {}).get(
        "Events"
    ) or {}
    streams = [e["Properties"] for e in consumer_events.values() if e.get("Type") == "DynamoDB"]
    if not streams:
        raise CapacityError(f"{CONSUMER_FUNCTION[0]} has no DynamoDB stream event")
    mapping = streams[0]
    readers = sum(
        1
        for resource in resources.values()
        if resource.get("Type") == "AWS::Serverless::Function"
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values()
        if event.get("Type") == "DynamoDB"
    ) + sum(1 for r in resources.values() if r.get("Type") == "AWS::Lambda::EventSourceMapping")

    quotas: dict[str, float] = {}
    for name, quota in QUOTAS.items():
        value = quota.in_region(region)
        if value is not None:
            quotas[name] = float(value)
    quotas.update(quota_overrides or {})
    missing = [name for name in QUOTAS if name not in quotas]
    if missing:
        raise CapacityError(
            f"no default of {', '.join(missing)} known for {region}: see "
            f"{', '.join(QUOTAS[name].source for name in missing)} and give --quota NAME=VALUE"
        )
    assumptions = {name: value for name, (value, _) in ASSUMPTIONS.items()}
    for name, value in (assumption_overrides or {}).items():
        if name not in ASSUMPTIONS:
            raise CapacityError(f"no assumption {name!r} (known: {', '.join(ASSUMPTIONS)})")
        assumptions[name] = value

    mix, costs, consumer = _measured_costs(
        measurements, list(indexes), status_keyed, _unmeasured(measurements, index_keys)
    )
    started = str(measurements.get("started_at", "?"))[:10]
    commit = str((measurements.get("machine") or {}).get("git_commit", "?"))
    return Inputs(
        region=region,
        parameters=parameters,
        route_rate=route_rate,
        route_burst=route_burst,
        routes=routes,
        indexes=indexes,
        table_max_wru=INF
        if max_wru is None
        else _positive(_resolve(max_wru, parameters), "MaxWriteRequestUnits"),
        batch_size=_count(_resolve(mapping.get("BatchSize", 100), parameters), "BatchSize"),
        parallelization_factor=_count(
            _resolve(mapping.get("ParallelizationFactor", 1), parameters), "ParallelizationFactor"
        ),
        settling_threads=settling_threads(),
        stream_readers=readers,
        mix=mix,
        costs=costs,
        consumer=consumer,
        quotas=quotas,
        assumptions=assumptions,
        measured=f"{measured_from} ({started}, commit {commit})",
    )


# ------------------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Component:
    """One limit: `capacity` units/s (or concurrent executions), and what each operation costs in those
    units. `consumer_per_order`: what the stream consumer adds per order (it has no API operation)."""

    name: str
    capacity: float
    unit: str
    per_op: Mapping[str, float]
    consumer_per_order: float = 0.0
    consumer_create: float = 0.0  # the consumer's share per created record
    consumer_change: float = 0.0  # and per status change
    raise_hint: Callable[[float, float], str] = field(default=lambda needed, rate: "")
    scope: str = "total"  # "total": all traffic; "one user": the traffic of a single user
    rate_dependent: Callable[[float], float] | None = None  # capacity at a given orders/s (stream shards)
    # What sets `capacity`: BY_TEMPLATE (a parameter, a setting), BY_QUOTA or BY_ASSUMPTION.
    set_by: str = BY_QUOTA

    def capacity_at(self, rate: float) -> float:
        return self.rate_dependent(rate) if self.rate_dependent else self.capacity

    def per_order(self, mix: Mapping[str, float]) -> float:
        return sum(self.per_op.get(op, 0.0) * count for op, count in mix.items()) + self.consumer_per_order

    def allows(self, demand_per_unit: float, rate: float) -> float:
        capacity = self.capacity_at(rate)
        return INF if demand_per_unit <= 0 else capacity / demand_per_unit

    def orders_per_second(self, mix: Mapping[str, float], rate: float) -> float:
        """Lifecycle orders/s: every order with its mix of changes and reads."""
        return self.allows(self.per_order(mix), rate)

    def creates_per_second(self, rate: float) -> float:
        """Creates/s alone (each with the consumer's share for its created record)."""
        return self.allows(self.per_op.get("create", 0.0) + self.consumer_create, rate)

    def changes_per_second(self, rate: float) -> float:
        return self.allows(self.per_op.get("change", 0.0) + self.consumer_change, rate)


def _ceil_to(value: float, step: float) -> int:
    return int(math.ceil(value / step) * step) if math.isfinite(value) else 0


def duration_s(cost: Cost, assumptions: Mapping[str, float], *, put_events_calls: float = 0.0) -> float:
    """Seconds one invocation (or one order's share of the consumer) runs: the measured own time plus each
    call at its assumed AWS round trip, one after another (conservative: create's claim overlaps the
    buyer check)."""
    return (
        cost.own_ms
        + cost.dynamodb_calls * assumptions["dynamodb_ms"]
        + (cost.users_calls + cost.inventory_calls) * assumptions["upstream_ms"]
        + put_events_calls * assumptions["put_events_ms"]
    ) / 1000.0


@dataclass(frozen=True)
class ConsumerTime:
    """The stream consumer's seconds per order, split by what settling threads shorten and what they do not.

    A batch is published first (its events packed into PutEvents calls of up to 10, one call after another,
    in stream order), then settled: the records of different table items side by side on `threads` threads,
    each item's records in stream order (functions/order_events, orders.events.batch). So per order:

    - `serial_s`: its records' own time (Python code: one interpreter lock, however many threads) and its
      share of the batch's PutEvents calls;
    - `settling_s`: its records' DynamoDB and inventory calls (the reservation's marker, the commit or release),
      one after another within the order, spread over the threads: assumed, a batch of up to BatchSize
      records holds at least `threads` distinct items under load (a full batch is a fraction of a second of
      one shard's records, an order's records are its status changes, seconds to days apart), and its calls
      spread evenly over them (docs/capacity.md says where that is optimistic).
    """

    serial_s: float
    settling_s: float
    threads: int

    @property
    def per_order_s(self) -> float:
        """Wall-clock seconds of one batch lane per order: what one running batch spends on each order."""
        return self.serial_s + self.settling_s / self.threads

    @property
    def sequential_s(self) -> float:
        """The same work one record after another (one settling thread)."""
        return self.serial_s + self.settling_s


def consumer_time(inputs: Inputs) -> ConsumerTime:
    """The consumer's time per order from its measured calls at the assumed round trips (`duration_s`), its
    settling spread over `inputs.settling_threads` (at most a batch's records)."""
    per_call = min(
        inputs.assumptions["entries_per_put_events"], inputs.quotas["eventbridge_entries_per_call"]
    )
    consumer = inputs.consumer
    serial = duration_s(
        replace(consumer, dynamodb_calls=0.0, users_calls=0.0, inventory_calls=0.0),
        inputs.assumptions,
        put_events_calls=consumer.events / per_call,
    )
    settling = duration_s(replace(consumer, own_ms=0.0), inputs.assumptions)
    threads = max(1, min(inputs.settling_threads, inputs.batch_size))
    return ConsumerTime(serial, settling, threads)


def consumer_seconds(inputs: Inputs) -> float:
    """Seconds of the stream consumer per order, as one batch lane spends them (`ConsumerTime.per_order_s`):
    what its concurrency and its allowance count."""
    return consumer_time(inputs).per_order_s


def table_wru_per_order(inputs: Inputs) -> float:
    """Table write units one lifecycle order takes (its requests' and the consumer's), indexes apart."""
    return sum(inputs.costs[op].table_wru * inputs.mix[op] for op in OPS) + inputs.consumer.table_wru


def stream_shards(inputs: Inputs, rate: float) -> int:
    """The fewest shards the table's stream has at `rate` orders/s. Shards follow the table's partitions: at
    least one per `wru_per_shard` write units/s the table takes, and at least as many as a new on-demand
    table starts with (it sustains 4,000 writes/s, and one partition serves 1,000)."""
    q, a = inputs.quotas, inputs.assumptions
    first = math.ceil(q["dynamodb_new_table_wru"] / q["dynamodb_partition_wcu"])
    return max(first, math.ceil(round(rate * table_wru_per_order(inputs) / a["wru_per_shard"], 6)))


def consumer_allowance(inputs: Inputs, rate: float) -> float:
    """Lifecycle orders/s the stream consumer keeps up with at `rate` orders/s: shards x ParallelizationFactor
    batches at a time, each spending `consumer_seconds` per order (its calls spread over its threads)."""
    return stream_shards(inputs, rate) * inputs.parallelization_factor / consumer_seconds(inputs)


def components(inputs: Inputs) -> list[Component]:
    q, a, mix = inputs.quotas, inputs.assumptions, inputs.mix
    costs, consumer = inputs.costs, inputs.consumer
    changes = mix["change"]
    found: list[Component] = []

    # API Gateway: the stage's throttle applies to each route on its own; the account's to every request.
    def stage_hint(needed: float, _rate: float) -> str:
        hint = f"raise ApiThrottlingRateLimit to >= {_ceil_to(needed, 100):,}"
        if needed > q["apigw_account_rps"]:
            hint += (
                f" (over the account's {q['apigw_account_rps']:,.0f} requests/s: after its quota increase)"
            )
        return hint

    for op in OPS:
        route = inputs.routes[op]
        found.append(
            Component(
                f"API stage throttle {route}",
                inputs.route_rate[op],
                "requests/s",
                {op: 1.0},
                raise_hint=stage_hint,
                set_by=BY_TEMPLATE,
            )
        )
    found.append(
        Component(
            "API Gateway account throttle (Region)",
            q["apigw_account_rps"],
            "requests/s",
            dict.fromkeys(OPS, 1.0),
            raise_hint=lambda n, _rate: (
                f"request an API Gateway throttle quota increase to >= {_ceil_to(n, 1000):,} requests/s"
            ),
        )
    )

    # Lambda: concurrency = rate x duration, for the API functions and the consumer, from one shared pool.
    consumer_s = consumer_seconds(inputs)
    records = 1.0 + changes  # stream records reaching the consumer per order (the filter drops the rest)
    create_share = 1.0 / records
    seconds = {op: duration_s(costs[op], a) for op in OPS}
    found.append(
        Component(
            "Lambda concurrency (account, all functions)",
            q["lambda_concurrency"],
            "concurrent executions",
            seconds,
            consumer_per_order=consumer_s,
            consumer_create=consumer_s * create_share,
            consumer_change=consumer_s * (1 - create_share) / changes if changes else 0.0,
            raise_hint=lambda n, _rate: (
                f"request a Lambda concurrency increase to >= {_ceil_to(n * 1.2, 100):,} (20% headroom)"
            ),
        )
    )
    invocations_per_order = records / inputs.batch_size  # batches fill under load
    found.append(
        Component(
            "Lambda invocations (10/s per unit of concurrency quota)",
            q["lambda_concurrency"] * q["lambda_requests_per_environment"],
            "invocations/s",
            dict.fromkeys(OPS, 1.0),
            consumer_per_order=invocations_per_order,
            consumer_create=invocations_per_order * create_share,
            consumer_change=invocations_per_order * (1 - create_share) / changes if changes else 0.0,
            raise_hint=lambda n, _rate: (
                f"request a Lambda concurrency increase to >= {_ceil_to(n / 10, 100):,}"
            ),
        )
    )

    # DynamoDB: the table and each index have their own on-demand quota.
    table_quota = min(q["dynamodb_table_wru"], inputs.table_max_wru)
    consumer_change_wru = consumer.table_wru / changes if changes else 0.0
    found.append(
        Component(
            "DynamoDB table writes",
            table_quota,
            "WRU/s",
            {op: costs[op].table_wru for op in OPS},
            consumer_per_order=consumer.table_wru,
            consumer_change=consumer_change_wru,
            raise_hint=lambda n, _rate: (
                f"request a DynamoDB table-level write quota increase to >= {_ceil_to(n, 1000):,} WRU/s"
                if inputs.table_max_wru >= q["dynamodb_table_wru"]
                else f"raise the table's OnDemandThroughput.MaxWriteRequestUnits to >= {_ceil_to(n, 1000):,}"
            ),
            set_by=BY_QUOTA if inputs.table_max_wru >= q["dynamodb_table_wru"] else BY_TEMPLATE,
        )
    )
    found.append(
        Component(
            "DynamoDB table reads",
            q["dynamodb_table_rru"],
            "RRU/s",
            {op: costs[op].table_rru for op in OPS},
            consumer_per_order=consumer.table_rru,
            consumer_change=consumer.table_rru / changes if changes else 0.0,
            raise_hint=lambda n, _rate: (
                f"request a DynamoDB table-level read quota increase to >= {_ceil_to(n, 1000):,} RRU/s"
            ),
        )
    )
    for name in inputs.indexes:
        found.append(
            Component(
                f"DynamoDB index {name} writes",
                q["dynamodb_table_wru"],
                "WRU/s",
                {op: costs[op].index_wru.get(name, 0.0) for op in OPS},
                raise_hint=lambda n, _rate: (
                    f"request a DynamoDB table-level write quota increase to >= {_ceil_to(n, 1000):,} WRU/s"
                ),
            )
        )
    # Per partition: a key that every order shares caps the total; a per-user key caps one user.
    for name, (attribute, scope, key_shards) in inputs.indexes.items():
        per_op = {op: costs[op].index_wru.get(name, 0.0) for op in OPS}
        if scope == "global":
            found.append(
                Component(
                    f"DynamoDB index {name}: one partition key ({attribute}) x {key_shards} shard(s)",
                    q["dynamodb_partition_wcu"] * key_shards,
                    "WCU/s",
                    per_op,
                    raise_hint=lambda n, _rate: f"shard the index key into >= {math.ceil(n / 1000):,} keys",
                    set_by=BY_TEMPLATE,
                )
            )
        elif scope == "status":
            found.extend(_status_partitions(inputs, name, attribute, key_shards, per_op))
        elif scope == "user":
            found.append(
                Component(
                    f"DynamoDB index {name}: one user's partition ({attribute})",
                    q["dynamodb_partition_wcu"],
                    "WCU/s",
                    per_op,
                    scope="one user",
                    raise_hint=lambda n, _rate: (
                        "not raisable: one partition serves 1,000 WCU/s (bound one user's rate)"
                    ),
                )
            )

    # The stream consumer: one batch per shard at a time, ParallelizationFactor of them with more, each
    # settling its records on the consumer's threads (`consumer_time`).
    factor = inputs.parallelization_factor
    timing = consumer_time(inputs)

    def consumer_hint(needed: float, rate: float) -> str:
        count = stream_shards(inputs, rate)
        wanted = math.ceil(round(needed / count, 6))
        if wanted <= q["parallelization_factor_max"]:
            return f"set the stream mapping's ParallelizationFactor to >= {wanted} (now {factor})"
        most = int(q["parallelization_factor_max"])
        return (
            f"needs {needed:,.0f} concurrent batches; {count:,.0f} shards x ParallelizationFactor {most} (the "
            f"most, now {factor}) give {count * most:,.0f}: also cut the consumer's {consumer_s * 1000:.0f} ms "
            f"per order: {timing.settling_s * 1000:.0f} ms of calls over {timing.threads} settling threads "
            "(more threads: orders.wiring.BACKGROUND_THREADS; or a faster inventory call), "
            f"{timing.serial_s * 1000:.0f} ms its own time and its PutEvents share, which threads do not shorten"
        )

    consumer_component = Component(
        f"Stream consumer (ParallelizationFactor={factor}, {timing.threads} thread{'s' if timing.threads > 1 else ''})",
        float(factor),
        "concurrent batches",
        {},
        consumer_per_order=consumer_s,
        consumer_create=consumer_s * create_share,
        consumer_change=consumer_s * (1 - create_share) / changes if changes else 0.0,
        rate_dependent=lambda rate: factor * stream_shards(inputs, rate),
        raise_hint=consumer_hint,
        set_by=BY_TEMPLATE,
    )
    found.append(consumer_component)

    # EventBridge: one entry per order record (OrderCreated, each OrderStatusChanged).
    per_change_events = (consumer.events - 1.0) / changes if changes else 0.0
    found.append(
        Component(
            "EventBridge PutEvents (entries)",
            q["eventbridge_put_events"],
            "entries/s",
            {},
            consumer_per_order=consumer.events,
            consumer_create=1.0,
            consumer_change=per_change_events,
            raise_hint=lambda n, _rate: (
                f"request an EventBridge PutEvents quota increase to >= {_ceil_to(n, 1000):,}/s"
            ),
        )
    )

    # Upstream services: calls the create makes and the consumer's settlements.
    found.append(
        Component(
            "User service (buyer check)",
            a["users_rps"],
            "calls/s",
            {op: costs[op].users_calls for op in OPS},
            raise_hint=lambda n, _rate: f"agree >= {_ceil_to(n, 100):,} calls/s with the user service",
            set_by=BY_ASSUMPTION,
        )
    )
    found.append(
        Component(
            "Inventory service (reserve, commit, release)",
            a["inventory_rps"],
            "calls/s",
            {op: costs[op].inventory_calls for op in OPS},
            consumer_per_order=consumer.inventory_calls,
            consumer_change=consumer.inventory_calls / changes if changes else 0.0,
            raise_hint=lambda n, _rate: f"agree >= {_ceil_to(n, 100):,} calls/s with the inventory service",
            set_by=BY_ASSUMPTION,
        )
    )
    return found


def status_writes(statuses: Sequence[str] = LIFECYCLE_STATUSES) -> dict[str, dict[str, int]]:
    """Writes one order of the lifecycle makes to each status's partitions of a status-keyed index, by
    operation: the create puts it in the first status's, each change deletes it from one and puts it in the
    next (its key moves)."""
    writes = {status: {"create": 0, "change": 0} for status in statuses}
    writes[statuses[0]]["create"] += 1
    for before, after in itertools.pairwise(statuses):
        writes[before]["change"] += 1  # the delete
        writes[after]["change"] += 1  # the put
    return writes


def _status_partitions(
    inputs: Inputs, name: str, attribute: str, shards: int, per_op: Mapping[str, float]
) -> list[Component]:
    """A status-keyed index (GSI3): one status's writes spread over its `shards` partitions (each serving
    `dynamodb_partition_wcu`), so each status allows shards x 1,000 WCU/s; one component per status the
    lifecycle writes, busiest first. Each write of the index costs the same share of its measured units."""
    q, mix = inputs.quotas, inputs.mix
    writes = status_writes()
    if len(writes) != round(1 + mix["change"]):
        raise CapacityError(
            f"LIFECYCLE_STATUSES names {len(writes)} statuses for a lifecycle of 1 create and {mix['change']:g} "
            "changes"
        )
    total_writes = sum(w["create"] * mix["create"] + w["change"] for w in writes.values())
    units_per_write = sum(per_op.get(op, 0.0) * mix[op] for op in OPS) / total_writes
    parameter = PARTITION_SCOPES[attribute][1] or "its shard count"
    found = []
    for status, count in sorted(writes.items(), key=lambda item: -sum(item[1].values())):
        found.append(
            Component(
                f"DynamoDB index {name}: status {status}, {shards} partition(s) ({attribute})",
                q["dynamodb_partition_wcu"] * shards,
                "WCU/s",
                {
                    "create": count["create"] * units_per_write,
                    # per change: this status's share of the lifecycle's changes' writes
                    "change": count["change"] * units_per_write / mix["change"] if mix["change"] else 0.0,
                },
                raise_hint=lambda n, _rate: (
                    f"raise {parameter} to >= {math.ceil(n / q['dynamodb_partition_wcu']):,}"
                ),
                set_by=BY_TEMPLATE,
            )
        )
    return found


@dataclass(frozen=True)
class Row:
    name: str
    scope: str
    unit: str
    capacity: float
    per_order: float
    orders: float  # lifecycle orders/s
    creates: float
    changes: float
    hint: str
    set_by: str = BY_QUOTA  # who can move this component's capacity (Component.set_by)


def evaluate(inputs: Inputs, rate: float) -> list[Row]:
    rows = []
    for component in components(inputs):
        per_order = component.per_order(inputs.mix)
        needed = rate * per_order
        hint = component.raise_hint(needed, rate)
        rows.append(
            Row(
                name=component.name,
                scope=component.scope,
                unit=component.unit,
                capacity=component.capacity_at(rate),
                per_order=per_order,
                orders=component.orders_per_second(inputs.mix, rate),
                creates=component.creates_per_second(rate),
                changes=component.changes_per_second(rate),
                hint=hint,
                set_by=component.set_by,
            )
        )
    return rows


@dataclass(frozen=True)
class Verdict:
    rate: float
    bottleneck: Row  # the total-traffic component with the lowest lifecycle allowance
    short: list[Row]  # every total-traffic component allowing less than `rate`, lowest first

    @property
    def sustained(self) -> bool:
        return not self.short


def verdict(inputs: Inputs, rate: float) -> Verdict:
    rows = [row for row in evaluate(inputs, rate) if row.scope == "total"]
    ordered = sorted(rows, key=lambda row: row.orders)
    return Verdict(rate, ordered[0], [row for row in ordered if row.orders < rate])


def sustained_rate(inputs: Inputs) -> tuple[float, str]:
    """The highest lifecycle orders/s every total-traffic component allows (the consumer's allowance grows
    with the rate through its shards, so this is found by bisection), and the component that sets it."""
    low, high = 0.0, 1e7

    def fits(rate: float) -> bool:
        return all(row.orders >= rate for row in evaluate(inputs, rate) if row.scope == "total")

    if fits(high):
        return INF, "nothing"
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    limiting = verdict(inputs, high).bottleneck.name
    return low, limiting


# ------------------------------------------------------------------------------------------ the defaults


@dataclass(frozen=True)
class Setting:
    """One template default the model derives: its name in template.yaml, the value, and the rule with its
    figures."""

    name: str
    value: int
    rule: str
    # The values the model accepts in the template, where a measured input's noise would otherwise move the
    # value from run to run: (lowest, highest), `value` among them. None: only `value`.
    accepted: tuple[int, int] | None = None

    def accepts(self, current: int | None) -> bool:
        if current is None or self.accepted is None:
            return current == self.value
        return self.accepted[0] <= current <= self.accepted[1]


@dataclass(frozen=True)
class Defaults:
    """`recommended_defaults`: the design rate and the template settings derived from it."""

    design_rate: float
    design_rule: str
    settings: dict[str, Setting]

    def values(self) -> dict[str, int]:
        return {name: setting.value for name, setting in self.settings.items()}

    def off_model(self, now: Mapping[str, int | None]) -> set[str]:
        """The settings whose template values (`template_settings`) the model does not accept."""
        return {name for name, setting in self.settings.items() if not setting.accepts(now.get(name))}


def _floor_to(value: float, step: float) -> float:
    return math.floor(value / step) * step if value >= step else max(1.0, math.floor(value))


def template_settings(inputs: Inputs) -> dict[str, int]:
    """The template's values (or the overrides given) of the settings `recommended_defaults` derives."""
    found = {
        name: int(_number(inputs.parameters.get(name), name))
        for name in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit", "StatusIndexShards")
        if inputs.parameters.get(name) is not None
    }
    found["ParallelizationFactor"] = inputs.parallelization_factor
    return found


def parallelization_factor_for(inputs: Inputs, rate: float, *, headroom: float = CONSUMER_HEADROOM) -> int:
    """The smallest ParallelizationFactor (1 to the quota's 10) whose batches keep up with `headroom` x `rate`
    orders/s on the shards a table writing that much has; the most when none does."""
    needed = headroom * rate * consumer_seconds(inputs)
    most = int(inputs.quotas["parallelization_factor_max"])
    count = stream_shards(inputs, rate)
    return next((f for f in range(1, most + 1) if count * f >= needed), most)


def routes_at_throttle_concurrency(inputs: Inputs, rate_limit: float) -> float:
    """Concurrent executions the API functions need with every route at `rate_limit` requests/s at once:
    what the stage throttle bounds (the functions reserve no concurrency: the checkov CKV_AWS_115 skips)."""
    return sum(rate_limit * duration_s(inputs.costs[op], inputs.assumptions) for op in OPS)


def recommended_defaults(inputs: Inputs, rate: float | None = None) -> Defaults:
    """The template's defaults as the model derives them (docs/capacity.md, "The template's defaults against
    the model"); tests/unit/test_capacity.py checks template.yaml holds them. `rate`: size the throttle and
    the stream mapping for that many orders/s instead of the design rate.

    - The design rate: DESIGN_RATE (1,000 orders/s, the issue's first named rate), or less if less is all
      that (a) the components AWS's quotas set (the API Gateway account throttle, Lambda, DynamoDB's table
      quotas, EventBridge; default quotas unless `--quota`) allow together, or (b) the default Lambda pool
      holds with every route at its throttle at once (so the stage throttles with cheap 429s before Lambda
      throttles, and one flooded route cannot starve the others); each rounded down to 100. Not the 1,420 or
      so the quotas allow: that is their ceiling, and a throttle at it leaves Lambda no headroom.
    - ApiThrottlingRateLimit (per route: the HTTP API's DefaultRouteSettings apply to each route alone) =
      what the busiest route needs at the design rate (PATCH, the lifecycle's status changes per order),
      rounded up to 100, and never above the account's throttle (a stage throttle over it protects nothing).
    - ApiThrottlingBurstLimit = one second of the rate limit, never above the account's burst (5,000).
    - ParallelizationFactor = the smallest factor (1 to 10) whose shards x factor concurrent batches keep up
      with CONSUMER_HEADROOM (1.25) x the design rate (batches at most 80% busy), on the fewest shards a
      table writing that much has (`stream_shards`), the consumer settling on its threads (`consumer_time`).
      Also computed at SHARDS_DESIGN_RATE, for the rule. The template's is accepted down to the least factor
      that keeps up without the headroom (`Setting.accepted`): its input is the consumer's time measured on a
      shared machine.
    - StatusIndexShards = STATUS_SHARDS_HEADROOM (2) x the fewest shards that keep the busiest status's
      average write units per partition under a partition's limit at SHARDS_DESIGN_RATE (10,000 orders/s:
      its shards cannot follow traffic, a partition's limit is no quota; `raise StatusIndexShards to >= N`
      gives the fewest).
    """
    q = inputs.quotas
    busiest_op = max(OPS, key=lambda op: inputs.mix[op])
    busiest = inputs.mix[busiest_op]
    quota_rows = [
        row for row in evaluate(inputs, DESIGN_RATE) if row.scope == "total" and row.set_by == BY_QUOTA
    ]
    quota_row = min(quota_rows, key=lambda row: row.orders)
    per_throttled_request = sum(duration_s(inputs.costs[op], inputs.assumptions) for op in OPS)
    pool_rate = q["lambda_concurrency"] / (busiest * per_throttled_request)
    design = min(DESIGN_RATE, _floor_to(quota_row.orders, 100), _floor_to(pool_rate, 100))
    design_rule = (
        f"the issue's {DESIGN_RATE:,.0f} orders/s at most; AWS's quotas allow {number(quota_row.orders)} "
        f"({quota_row.name}), the Lambda pool of {q['lambda_concurrency']:,.0f} holds every route at its "
        f"throttle up to {number(pool_rate)}"
    )
    sized_for = design if rate is None else rate

    account = q["apigw_account_rps"]
    wanted = _ceil_to(sized_for * busiest, 100)
    rate_limit = int(min(wanted, account))
    capped = f"; capped at the account's {account:,.0f} requests/s" if wanted > account else ""
    burst = int(min(rate_limit, q["apigw_account_burst"]))
    factor = parallelization_factor_for(inputs, sized_for)
    # The least that keeps up at all: a bench run on a busier machine measures the consumer longer (34.0 ms per
    # order against 29.3 the run before), which can move the headroom's factor by one; the template need not
    # follow each run.
    keeps_up = parallelization_factor_for(inputs, sized_for, headroom=1.0)
    factor_at_top = parallelization_factor_for(inputs, SHARDS_DESIGN_RATE)
    timing = consumer_time(inputs)
    settings = {
        "ApiThrottlingRateLimit": Setting(
            "ApiThrottlingRateLimit",
            rate_limit,
            f"the busiest route ({inputs.routes[busiest_op]}, {busiest:g} per order) at {sized_for:,.0f} "
            f"orders/s = {sized_for * busiest:,.0f} requests/s, rounded up to 100{capped}; every route at it "
            f"at once needs {routes_at_throttle_concurrency(inputs, rate_limit):,.0f} concurrent executions "
            f"(pool {q['lambda_concurrency']:,.0f})",
        ),
        "ApiThrottlingBurstLimit": Setting(
            "ApiThrottlingBurstLimit",
            burst,
            f"one second of the rate limit, at most the account's burst ({q['apigw_account_burst']:,.0f})",
        ),
        "ParallelizationFactor": Setting(
            "ParallelizationFactor",
            factor,
            f"{sized_for:,.0f} orders/s x {timing.per_order_s * 1000:.1f} ms per order "
            f"({timing.threads} settling threads) = {sized_for * timing.per_order_s:,.1f} concurrent batches "
            f"(x {CONSUMER_HEADROOM:g} headroom: {CONSUMER_HEADROOM * sized_for * timing.per_order_s:,.1f}) on "
            f"{stream_shards(inputs, sized_for):,} shards; at {SHARDS_DESIGN_RATE:,.0f} orders/s "
            f"{SHARDS_DESIGN_RATE * timing.per_order_s:,.0f} on {stream_shards(inputs, SHARDS_DESIGN_RATE):,} "
            f"shards: {factor_at_top}; accepted from {keeps_up}, the least that keeps up",
            accepted=(keeps_up, factor),
        ),
    }
    for name, (attribute, scope, shards) in inputs.indexes.items():
        parameter = PARTITION_SCOPES.get(attribute, ("", None))[1]
        if scope != "status" or parameter is None:
            continue
        load = status_partition_load(inputs, SHARDS_DESIGN_RATE).get(name) or {"-": 0.0}
        status = max(load, key=lambda key: load[key])
        busiest_units = load[status] * shards  # the busiest status's WCU/s, all its partitions together
        fewest = max(1, math.ceil(round(busiest_units / q["dynamodb_partition_wcu"], 6)))
        settings[parameter] = Setting(
            parameter,
            STATUS_SHARDS_HEADROOM * fewest,
            f"{STATUS_SHARDS_HEADROOM} x the fewest ({fewest}) that hold {name}'s busiest status ({status}, "
            f"{busiest_units:,.0f} WCU/s at {SHARDS_DESIGN_RATE:,.0f} orders/s) under "
            f"{q['dynamodb_partition_wcu']:,.0f} WCU/s per partition on average",
        )
    return Defaults(design, design_rule, settings)


# ------------------------------------------------------------------------------------------ output


WHOLE_FROM, ONE_DECIMAL_FROM = 100, 10  # figures shown without decimals from 100, with one from 10


def number(value: float) -> str:
    if not math.isfinite(value):
        return "no limit"
    if value >= WHOLE_FROM:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value >= ONE_DECIMAL_FROM else f"{value:,.2f}"


def summary_line(verdicts: Sequence[Verdict], sustained: tuple[float, str]) -> str:
    parts = []
    for v in verdicts:
        if v.sustained:
            parts.append(
                f"{v.rate:,.0f} orders/s fits (tightest: {v.bottleneck.name}, {number(v.bottleneck.orders)})"
            )
        else:
            parts.append(
                f"at {v.rate:,.0f} orders/s the first bottleneck is {v.bottleneck.name} "
                f"({number(v.bottleneck.orders)} orders/s; {len(v.short)} component(s) short)"
            )
    rate, limiting = sustained
    return (
        f"capacity: {'; '.join(parts)}; as modelled the stack sustains {number(rate)} orders/s ({limiting})"
    )


def report(inputs: Inputs, rates: Sequence[float]) -> dict[str, Any]:
    verdicts = [verdict(inputs, rate) for rate in rates]
    sustained = sustained_rate(inputs)
    base = rates[0]
    timing = consumer_time(inputs)
    defaults = recommended_defaults(inputs)
    now = template_settings(inputs)
    return {
        "region": inputs.region,
        "measured": inputs.measured,
        "parameters": {
            name: inputs.parameters[name]
            for name in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit")
            if name in inputs.parameters
        },
        "stream": {
            "batchSize": inputs.batch_size,
            "parallelizationFactor": inputs.parallelization_factor,
            "settlingThreads": timing.threads,
            "consumerMsPerOrder": timing.per_order_s * 1000,
            "consumerSerialMsPerOrder": timing.serial_s * 1000,
            "consumerSettlingMsPerOrder": timing.settling_s * 1000,
            "readers": inputs.stream_readers,
            "readersQuota": inputs.quotas["streams_readers_per_shard"],
        },
        "recommendedDefaults": {
            "designRate": defaults.design_rate,
            "designRule": defaults.design_rule,
            "settings": {
                name: {
                    "value": setting.value,
                    "accepted": list(setting.accepted or (setting.value, setting.value)),
                    "now": now.get(name),
                    "nowAccepted": setting.accepts(now.get(name)),
                    "rule": setting.rule,
                }
                for name, setting in defaults.settings.items()
            },
        },
        "workloadPerOrder": inputs.mix,
        "quotas": {
            name: {
                "value": inputs.quotas[name],
                "unit": quota.unit,
                "what": quota.what,
                "source": quota.source,
                "adjustable": quota.adjustable,
                "default": quota.in_region(inputs.region),
            }
            for name, quota in QUOTAS.items()
        },
        "assumptions": {
            name: {"value": value if math.isfinite(value) else None, "what": ASSUMPTIONS[name][1]}
            for name, value in inputs.assumptions.items()
        },
        "components": [
            {
                "name": row.name,
                "scope": row.scope,
                "unit": row.unit,
                "capacity": _finite(row.capacity),
                "perOrder": row.per_order,
                "ordersPerSecond": _finite(row.orders),
                "createsPerSecond": _finite(row.creates),
                "statusChangesPerSecond": _finite(row.changes),
                "setBy": row.set_by,
                "atRate": base,
            }
            for row in evaluate(inputs, base)
        ],
        "targets": [
            {
                "rate": v.rate,
                "sustained": v.sustained,
                "bottleneck": v.bottleneck.name,
                "bottleneckOrdersPerSecond": _finite(v.bottleneck.orders),
                "short": [
                    {
                        "name": row.name,
                        "ordersPerSecond": _finite(row.orders),
                        "setBy": row.set_by,
                        "raise": row.hint,
                    }
                    for row in v.short
                ],
            }
            for v in verdicts
        ],
        "sustainedOrdersPerSecond": _finite(sustained[0]),
        "limitedBy": sustained[1],
        "summary": summary_line(verdicts, sustained),
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def render(inputs: Inputs, rates: Sequence[float]) -> str:
    base = rates[0]
    rows = evaluate(inputs, base)
    mix = ", ".join(f"{count:g} {op}" for op, count in inputs.mix.items())
    throttle = ", ".join(
        f"{name}={inputs.parameters.get(name)}"
        for name in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit")
    )
    settings = f"ParallelizationFactor={inputs.parallelization_factor}, BatchSize={inputs.batch_size}"
    lines = [
        f"Capacity model: template.yaml ({throttle}, {settings}), AWS default quotas for {inputs.region}",
        f"Costs per request measured by make bench: {inputs.measured}; per order: {mix}",
        "",
    ]
    width = max(len(row.name) for row in rows)
    header = f"{'component':<{width}}  {'creates/s':>10}  {'changes/s':>10}  {'orders/s':>10}"
    lines += [
        header + f"   (creates/s, changes/s: each alone; orders/s: each order with its changes and reads; "
        f"at {base:,.0f} orders/s)",
        "-" * len(header),
    ]
    for row in rows:
        if row.scope == "total":
            lines.append(
                f"{row.name:<{width}}  {number(row.creates):>10}  {number(row.changes):>10}  {number(row.orders):>10}"
            )
    lines.append("")
    lines.append("one user (per-partition limit on the user's index key):")
    for row in rows:
        if row.scope != "total":
            lines.append(
                f"  {row.name}: {number(row.creates)} creates/s, {number(row.changes)} changes/s, {number(row.orders)} orders/s"
            )
    timing = consumer_time(inputs)
    lines.append(
        f"stream consumer: {timing.per_order_s * 1000:.1f} ms per order = {timing.serial_s * 1000:.1f} ms its own "
        f"time and PutEvents share + {timing.settling_s * 1000:.0f} ms of settling calls over {timing.threads} "
        f"threads ({timing.sequential_s * 1000:.0f} ms one after another); one batch per shard at a time x "
        f"ParallelizationFactor {inputs.parallelization_factor}"
    )
    lines.append(
        f"stream readers: {inputs.stream_readers} of {inputs.quotas['streams_readers_per_shard']:.0f} per shard "
        "(one more may subscribe to the table's stream directly)"
    )
    lines.append(
        "the consumer's allowance at a rate counts the shards a table writing that much has at least "
        f"(one per {inputs.assumptions['wru_per_shard']:,.0f} WRU/s, 4 at first)"
    )
    lines.append("")
    for rate in rates:
        v = verdict(inputs, rate)
        if v.sustained:
            lines.append(
                f"At {rate:,.0f} orders/s: every component allows it (tightest: {v.bottleneck.name}, {number(v.bottleneck.orders)} orders/s)."
            )
        else:
            lines.append(
                f"At {rate:,.0f} orders/s: first bottleneck {v.bottleneck.name} ({number(v.bottleneck.orders)} orders/s). To raise, lowest first:"
            )
            done: set[str] = set()
            for row in v.short:
                action = row.hint.split(" to >= ")[0]
                said = f"covered by the above ({action})" if action in done else row.hint
                done.add(action)
                lines.append(f"  - {row.name} ({number(row.orders)}; {row.set_by}): {said}")
        lines.append(_scaling_note(inputs, rate))
        lines.append(_upstream_note(inputs, rate))
        lines.append(_new_table_note(inputs, rate))
        lines.extend(_status_index_notes(inputs, rate))
    lines += ["", *_defaults_lines(inputs)]
    assumed = ", ".join(
        f"{name}={number(value) if math.isfinite(value) else 'unknown'}"
        for name, value in inputs.assumptions.items()
    )
    lines += [
        "",
        f"Assumed (not published; --assume to change): {assumed}",
        "Quotas and their sources: docs/capacity.md (or --json)",
    ]
    return "\n".join(lines)


def _defaults_lines(inputs: Inputs) -> list[str]:
    """The template defaults the model derives (`recommended_defaults`) beside the values modelled."""
    defaults = recommended_defaults(inputs)
    now = template_settings(inputs)
    lines = [
        f"Template defaults from the model: design rate {defaults.design_rate:,.0f} orders/s ({defaults.design_rule})"
    ]
    for name, setting in defaults.settings.items():
        current = now.get(name)
        if current == setting.value:
            verdict_text = "as modelled"
        elif setting.accepts(current):
            verdict_text = f"modelled here: {current:,}, which the model accepts"
        else:
            verdict_text = f"modelled here: {current:,}"
        lines.append(f"  {name} {setting.value:,} ({verdict_text}): {setting.rule}")
    return lines


def status_partition_load(inputs: Inputs, rate: float) -> dict[str, dict[str, float]]:
    """Per status-keyed index: each status's write units/s on each of its partitions at `rate` orders/s."""
    load: dict[str, dict[str, float]] = {}
    for name, (_, scope, shards) in inputs.indexes.items():
        if scope != "status":
            continue
        prefix = f"DynamoDB index {name}: status "
        for row in evaluate(inputs, rate):
            if row.name.startswith(prefix):
                status = row.name.removeprefix(prefix).split(",")[0]
                load.setdefault(name, {})[status] = rate * row.per_order / shards
    return load


def _status_index_notes(inputs: Inputs, rate: float) -> list[str]:
    """What each partition of a status-keyed index takes at `rate`, against the partition's limit."""
    limit = inputs.quotas["dynamodb_partition_wcu"]
    notes = []
    for name, per_status in status_partition_load(inputs, rate).items():
        attribute, _, shards = inputs.indexes[name]
        busiest = max(per_status.values())
        verdict_text = (
            "every partition under the limit"
            if busiest < limit
            else f"over the limit: raise {PARTITION_SCOPES[attribute][1]} to >= "
            f"{math.ceil(busiest * shards / limit):,}"
        )
        shares = ", ".join(f"{status} {number(value)}" for status, value in per_status.items())
        notes.append(
            f"  status index {name} ({shards} partitions per status): WCU/s per partition {shares} "
            f"(limit {limit:,.0f}): {verdict_text}"
        )
    return notes


def _new_table_note(inputs: Inputs, rate: float) -> str:
    """A new on-demand table sustains 4,000 writes/s at first (doubling from its previous peak after)."""
    table = next(row for row in evaluate(inputs, rate) if row.name == "DynamoDB table writes")
    first = inputs.quotas["dynamodb_new_table_wru"] / table.per_order
    verdict_text = "fits" if first >= rate else "pre-warm it (warm throughput) before traffic arrives"
    return (
        f"  new table: sustains {inputs.quotas['dynamodb_new_table_wru']:,.0f} writes/s at first = "
        f"{number(first)} orders/s: {verdict_text}"
    )


def _upstream_note(inputs: Inputs, rate: float) -> str:
    """The call rates the upstream services must take at `rate` (their limits are not ours to know)."""
    users = rate * sum(inputs.costs[op].users_calls * inputs.mix[op] for op in OPS)
    inventory = rate * (
        sum(inputs.costs[op].inventory_calls * inputs.mix[op] for op in OPS) + inputs.consumer.inventory_calls
    )
    return f"  upstream: the user service must take {number(users)} calls/s, the inventory service {number(inventory)}"


def _scaling_note(inputs: Inputs, rate: float) -> str:
    """How long Lambda's per-function scaling rate needs to bring the busiest function to its concurrency."""
    durations = {op: duration_s(inputs.costs[op], inputs.assumptions) * rate * inputs.mix[op] for op in OPS}
    busiest = max(durations, key=lambda op: durations[op])
    needed = durations[busiest]
    steps = math.ceil(needed / inputs.quotas["lambda_scaling_rate"])
    return (
        f"  ramp: {FUNCTIONS[busiest][0]} needs ~{needed:,.0f} concurrent executions; from cold, Lambda's "
        f"scaling rate ({inputs.quotas['lambda_scaling_rate']:,.0f} per 10 s) gets there in ~{max(steps, 1) * 10} s"
    )


# ------------------------------------------------------------------------------------------ CLI


def _pairs(values: Sequence[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise CapacityError(f"{what} takes NAME=VALUE, not {value!r}")
        pairs[name.strip()] = text.strip()
    return pairs


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _deployed_parameters(stage: str) -> tuple[dict[str, str], str]:
    """A deployed stack's parameter values and its region (CloudFormation DescribeStacks, your credentials)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    stack_name, region = samconfig_stack(stage)
    try:
        stack = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)[
            "Stacks"
        ][0]
    except (BotoCoreError, ClientError) as error:
        raise StageError(f"cannot describe stack {stack_name} in {region}: {error}") from None
    values = {item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters") or []}
    return values, region


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate", type=float, action="append", help="target orders/s (repeatable; default 1,000 and 10,000)"
    )
    parser.add_argument(
        "--param", action="append", default=[], help="template parameter override, Name=Value"
    )
    parser.add_argument(
        "--quota", action="append", default=[], help="quota value to model, name=value (see --json)"
    )
    parser.add_argument("--assume", action="append", default=[], help="assumption override, name=value")
    parser.add_argument(
        "--parallelization-factor",
        type=int,
        choices=range(1, 11),
        metavar="1-10",
        help="model the stream mapping with this ParallelizationFactor instead of the template's",
    )
    parser.add_argument(
        "--settling-threads",
        type=int,
        metavar="N",
        help="model the stream consumer settling on N threads instead of orders.wiring.BACKGROUND_THREADS",
    )
    parser.add_argument("--region", help="AWS Region of the quotas (default: samconfig.toml's)")
    parser.add_argument(
        "--measurements", type=Path, default=MEASUREMENTS, help="bench results (default %(default)s)"
    )
    parser.add_argument(
        "--stage", help="read a deployed stage's parameter values (dev|prod; calls CloudFormation)"
    )
    parser.add_argument("--json", action="store_true", help="print the model as JSON")
    args = parser.parse_args(argv)
    try:
        overrides: dict[str, str] = {}
        region = args.region
        if args.stage:
            overrides, stage_region = _deployed_parameters(args.stage)
            region = region or stage_region
        overrides.update(_pairs(args.param, "--param"))
        quotas = {name: _positive(value, name) for name, value in _pairs(args.quota, "--quota").items()}
        unknown = sorted(set(quotas) - set(QUOTAS))
        if unknown:
            raise CapacityError(f"no quota {', '.join(unknown)} (known: {', '.join(QUOTAS)})")
        assumptions = {name: _number(value, name) for name, value in _pairs(args.assume, "--assume").items()}
        try:
            measurements = json.loads(args.measurements.read_text())
        except FileNotFoundError:
            raise CapacityError(f"no {args.measurements}: run `make bench` first") from None
        except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON
            raise CapacityError(f"cannot read {args.measurements}: {error}") from None
        if not isinstance(measurements, dict):
            raise CapacityError(f"{args.measurements}: not a JSON object")
        inputs = read_inputs(
            measurements=measurements,
            overrides=overrides,
            quota_overrides=quotas,
            assumption_overrides=assumptions,
            region=region,
            measured_from=_shown(args.measurements),
        )
        if args.parallelization_factor:
            inputs = replace(inputs, parallelization_factor=args.parallelization_factor)
        if args.settling_threads is not None:
            if args.settling_threads < 1:
                raise CapacityError("--settling-threads must be at least 1")
            inputs = replace(inputs, settling_threads=args.settling_threads)
        rates = tuple(args.rate) if args.rate else DEFAULT_RATES
        if not all(math.isfinite(rate) and rate > 0 for rate in rates):
            raise CapacityError("--rate must be a finite number > 0")
        result = report(inputs, rates)
    except (CapacityError, StageError) as error:
        say(f"error: {error}")
        return 2
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(render(inputs, rates))
    say(result["summary"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
