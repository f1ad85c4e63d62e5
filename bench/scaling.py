"""Does the time of a request depend on how much data there is?

- list: the first page (10 orders, so both pages hold the same number) of a customer with 10,000 orders
  over one with 10, both in one table, real and baseline. moto answers a Query by scanning the whole
  table and sorting every match (DynamoDB reads only the page), so the end-to-end ratio carries moto's
  cost; the baseline's ratio (same Query, no product code) shows how much, and the ratio of the handler's
  own time (minus its time waiting on HTTP) shows the product's share.
- get and create on a table of 100,000 orders over one of 100 (real functions).
Orders are loaded with BatchWriteItem in the repository's item format (bench.data).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import events
from bench.data import OrderFactory, load
from bench.infra import Infra
from bench.latency import spawn
from bench.stats import percentile, ratio
from bench.workers import Worker

LIST_TABLE = "scale-list"
BIG_USER, SMALL_USER = "scale-big", "scale-small"
USERS_IN_BIG_TABLE = 1000


@dataclass(frozen=True)
class ScalingPlan:
    list_big: int = 10_000
    list_small: int = 10
    page_size: int = 10
    list_samples: int = 30
    table_big: int = 100_000
    table_small: int = 100
    table_samples: int = 300


def _sample(worker: Worker, event: dict[str, Any], into: dict[str, list[float]], expected: int) -> None:
    answer = worker.run([event])
    into["ms"].append(answer["ns"][0] / 1e6)
    into["own_ms"].append((answer["ns"][0] - answer["io_ns"][0]) / 1e6)
    into["errors"].append(answer["status"][0] != expected)


def _p50(series: dict[str, list[float]], key: str = "ms") -> float:
    return percentile(series[key], 50)


def run(infra: Infra, factory: OrderFactory, plan: ScalingPlan, logs: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"plan": plan.__dict__}
    started = time.monotonic()
    load(infra, LIST_TABLE, factory, {BIG_USER: plan.list_big, SMALL_USER: plan.list_small})
    small_table, big_table = f"scale-{plan.table_small}", f"scale-{plan.table_big}"
    small_ids = load(infra, small_table, factory, {events.CUSTOMER: plan.table_small})[events.CUSTOMER]
    per_user = max(1, plan.table_big // USERS_IN_BIG_TABLE)
    users = {events.CUSTOMER: per_user}
    users.update({f"scale-user-{n:04d}": per_user for n in range(1, plan.table_big // per_user)})
    big_ids = load(infra, big_table, factory, users)[events.CUSTOMER]
    result["load_seconds"] = time.monotonic() - started
    result["items_loaded"] = plan.list_big + plan.list_small + plan.table_small + sum(users.values())
    result["moto_rss_mb"] = infra.moto.rss_mb()

    # ---------------------------------------------------------------- list
    def list_event(user: str) -> dict[str, Any]:
        return events.list_user_orders(user=user, limit=plan.page_size)

    list_workers = {
        "real": spawn(infra.real_spec("list_user_orders", LIST_TABLE), list_event(SMALL_USER), logs),
        "baseline": spawn(infra.baseline_spec("list_user_orders", LIST_TABLE), list_event(SMALL_USER), logs),
    }
    series: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    try:
        for worker in list_workers.values():  # warm both users' paths once
            worker.run([list_event(BIG_USER), list_event(SMALL_USER)])
        for index in range(plan.list_samples):
            variants = ("real", "baseline") if index % 2 == 0 else ("baseline", "real")
            for user in (BIG_USER, SMALL_USER) if index % 2 == 0 else (SMALL_USER, BIG_USER):
                for variant in variants:
                    _sample(list_workers[variant], list_event(user), series[(variant, user)], 200)
    finally:
        for worker in list_workers.values():
            worker.close()
    listing: dict[str, Any] = {}
    for variant in ("real", "baseline"):
        big, small = series[(variant, BIG_USER)], series[(variant, SMALL_USER)]
        listing[variant] = {
            "big_p50_ms": _p50(big),
            "small_p50_ms": _p50(small),
            "ratio": ratio(_p50(big), _p50(small)),
            "own_big_p50_ms": _p50(big, "own_ms"),
            "own_small_p50_ms": _p50(small, "own_ms"),
            "own_ratio": ratio(_p50(big, "own_ms"), _p50(small, "own_ms")),
            "errors": sum(big["errors"]) + sum(small["errors"]),
        }
    result["list"] = listing

    # ---------------------------------------------------------------- get and create
    get_event = {
        big_table: lambda n: events.get_order(big_ids[n % len(big_ids)]),
        small_table: lambda n: events.get_order(small_ids[n % len(small_ids)]),
    }
    workers: dict[tuple[str, str], Worker] = {}
    try:
        for table in (big_table, small_table):
            workers[("get_order", table)] = spawn(
                infra.real_spec("get_order", table), get_event[table](0), logs
            )
            workers[("create_order", table)] = spawn(
                infra.real_spec("create_order", table), events.create_order(), logs
            )
        for worker_key, worker in workers.items():  # warm-up
            function, table = worker_key
            worker.run(
                [get_event[table](n) if function == "get_order" else events.create_order() for n in range(5)]
            )
        table_series: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for index in range(plan.table_samples):
            tables = (big_table, small_table) if index % 2 == 0 else (small_table, big_table)
            for table in tables:
                _sample(
                    workers[("get_order", table)],
                    get_event[table](index),
                    table_series[("get_order", table)],
                    200,
                )
                _sample(
                    workers[("create_order", table)],
                    events.create_order(),
                    table_series[("create_order", table)],
                    201,
                )
    finally:
        for worker in workers.values():
            worker.close()
    for function in ("get_order", "create_order"):
        big, small = table_series[(function, big_table)], table_series[(function, small_table)]
        result[function] = {
            "big_table_orders": sum(users.values()),
            "small_table_orders": plan.table_small,
            "big_p50_ms": _p50(big),
            "small_p50_ms": _p50(small),
            "ratio": ratio(_p50(big), _p50(small)),
            "errors": sum(big["errors"]) + sum(small["errors"]),
        }
    result["seconds"] = time.monotonic() - started
    return result
