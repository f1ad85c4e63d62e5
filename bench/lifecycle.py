"""One order's lifecycle, through the real handlers and through the baselines, recorded call by call:
create (with an Idempotency-Key), get, get, list, three status changes (admin: confirmed, shipped,
delivered), and the table stream's records of it through the consumer, one record per invocation.

Also recorded: create without an Idempotency-Key, a customer's cancel (the `events/` sample), paging
through 45 orders (calls per page) and health. The real create's item is the template every loaded order
is copied from; the real lifecycle's stream records feed the consumer's cold and warm runs.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import crossuser, events
from bench.calls import InProcess
from bench.data import OrderFactory, load
from bench.infra import Infra, function_logical_ids, template

STATUS_PATH = ("confirmed", "shipped", "delivered")
PAGER_USER = "bench-pager"
PAGER_ORDERS = 45
PAGE_SIZE = 20
MAX_PAGES = 10
TOTALLED = ("dynamodb_calls", "rru", "wru", "wru_indexes", "events_put", "upstream_http_calls")


class LifecycleFailed(RuntimeError):
    pass


@dataclass
class Lifecycle:
    per_endpoint: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # variant -> key -> summary
    totals: dict[str, dict[str, float]] = field(default_factory=dict)  # variant -> totals per lifecycle
    stream_records: list[dict[str, Any]] = field(default_factory=list)  # the real lifecycle's, filtered
    template_item: dict[str, Any] | None = None
    statuses: dict[str, list[str]] = field(default_factory=dict)  # variant -> unexpected answers
    # variant -> the items the lifecycle left under its order's partition: sort key -> attribute -> type.
    # The baselines write the table by hand; equal layouts show they measure the same writes.
    item_layouts: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    # Issue 21: a page of the cross-user listing beside a user's page (bench/crossuser.py); {"error": ...} if
    # it could not be measured.
    cross_user: dict[str, Any] | None = None


def _body(response: dict[str, Any]) -> Any:
    return json.loads(response.get("body") or "null")


def _stream_config():
    from local.aws.event_source_mapping import StreamMappingConfig

    function = template()["Resources"][function_logical_ids()["order_events"]]["Properties"]
    stream = next(event for event in function["Events"].values() if event["Type"] == "DynamoDB")
    return StreamMappingConfig.from_event_properties(stream["Properties"])


def _records_of(calls: list[Any]) -> list[dict[str, Any]]:
    """The stream records DynamoDB would emit for these calls' writes."""
    records = []
    # A transaction's items each make their own record, as the single writes they are.
    for write in (write for call in calls for write in (call.writes or [call])):
        if (
            not write.is_dynamodb
            or not write.succeeded
            or write.operation not in ("PutItem", "UpdateItem", "DeleteItem")
        ):
            continue
        if write.old is None and write.new is None:
            continue
        name = "INSERT" if write.old is None else "REMOVE" if write.new is None else "MODIFY"
        records.append(events.stream_record(name, write.old, write.new))
    return records


class _Variant:
    """One variant's recorded invocations."""

    def __init__(self, runner: InProcess, infra: Infra, variant: str) -> None:
        self.runner, self.infra, self.variant = runner, infra, variant
        self.per: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []
        self.calls: list[Any] = []

    def call(self, key: str, function: str, event: dict[str, Any], expect: int) -> dict[str, Any]:
        if self.variant == "baseline" and self.infra.baseline_upstream.get(function):
            os.environ["BASELINE_UPSTREAM"] = "1"
        else:
            os.environ.pop("BASELINE_UPSTREAM", None)
        response, summary = self.runner.invoke(self.variant, function, event)
        calls = summary.pop("_calls")
        self.calls.extend(calls)
        status = int(response.get("statusCode", 200 if not response.get("batchItemFailures") else 207))
        if status != expect:
            self.problems.append(f"{key}: {status} {str(response.get('body'))[:200]}")
        summary["status"] = status
        self.per.setdefault(key, summary)
        return response

    def upstream(self, prefix: str) -> int:
        return sum(
            summary["upstream_http_calls"] for key, summary in self.per.items() if key.startswith(prefix)
        )


def _lifecycle(run: _Variant, result: Lifecycle, table: str, stream_filter: Any) -> list[str]:
    """The lifecycle itself; returns the keys it recorded (the totals are theirs)."""
    created = run.call("create_order", "create_order", events.create_order(), 201)
    order_id = (_body(created) or {}).get("id")
    if not order_id:
        raise LifecycleFailed(
            f"{run.variant} create_order answered {created.get('statusCode')}: {created.get('body')}"
        )
    if run.variant == "real":
        from orders.storage.repository import ORDER_SK, order_pk

        key = {"PK": {"S": order_pk(order_id)}, "SK": {"S": ORDER_SK}}
        result.template_item = run.runner.side.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
        run.infra.baseline_upstream["create_order"] = run.upstream("create_order") > 0
    run.call("get_order", "get_order", events.get_order(order_id), 200)
    run.call("get_order#2", "get_order", events.get_order(order_id), 200)
    run.call("list_user_orders", "list_user_orders", events.list_user_orders(limit=PAGE_SIZE), 200)
    for number, status in enumerate(STATUS_PATH, start=1):
        key = "update_order_status" if number == 1 else f"update_order_status#{number}"
        run.call(key, "update_order_status", events.change_status(order_id, status, admin=True), 200)
    # Each variant's consumer reads the stream of its own writes (the real one's also feeds the workers).
    records = [record for record in _records_of(run.calls) if stream_filter.accepts(record)]
    if run.variant == "real":
        result.stream_records = records
    for number, record in enumerate(records, start=1):
        key = "order_events" if number == 1 else f"order_events#{number}"
        run.call(key, "order_events", events.stream_event([record]), 200)
    consumer_keys = [key for key in run.per if key.startswith("order_events")]
    aggregate: dict[str, Any] = {
        name: sum(run.per[key].get(name, 0) for key in consumer_keys) for name in TOTALLED
    }
    aggregate["dynamodb_ops"] = [op for key in consumer_keys for op in run.per[key]["dynamodb_ops"]]
    aggregate["invocations"] = len(consumer_keys)
    if run.variant == "real":
        # The real consumer's use of the inventory service, if any, decides the baseline's.
        run.infra.baseline_upstream["order_events"] = run.upstream("order_events") > 0
    result.item_layouts[run.variant] = _item_layout(run.runner.side, table, order_id)
    keys = list(run.per)
    run.per[f"order_events (all {len(consumer_keys)} records of the lifecycle)"] = aggregate
    return keys


def _item_layout(client: Any, table: str, order_id: str) -> dict[str, dict[str, str]]:
    """Every item under the order's partition (the order, its reservation state): each attribute's
    DynamoDB type, by sort key."""
    from orders.storage.repository import order_pk

    items = client.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": order_pk(order_id)}},
        ConsistentRead=True,
    )["Items"]
    return {
        item["SK"]["S"]: {name: next(iter(value)) for name, value in sorted(item.items())} for item in items
    }


def _extras(run: _Variant, infra: Infra, table: str, factory: OrderFactory) -> None:
    run.call("create_order (no Idempotency-Key)", "create_order", events.create_order(None), 201)
    other = _body(run.call("create_order (for cancel)", "create_order", events.create_order(), 201)) or {}
    if other.get("id"):
        cancel = events.change_status(other["id"])
        run.call("update_order_status (customer cancel)", "update_order_status", cancel, 200)
    run.call("health", "health", events.health(), 200)
    pager = f"{PAGER_USER}-{run.variant}"
    load(infra, table, factory, {pager: PAGER_ORDERS}, threads=1)
    cursor, pages, page_calls = None, 0, 0
    while pages < MAX_PAGES:
        pages += 1
        key = f"list page {pages}"
        response = run.call(key, "list_user_orders", events.list_user_orders(pager, PAGE_SIZE, cursor), 200)
        page_calls += run.per[key]["dynamodb_calls"]
        cursor = (_body(response) or {}).get("nextCursor")
        if not cursor:
            break
    run.per["list_user_orders (per page)"] = {
        "dynamodb_calls": page_calls / pages,
        "pages": pages,
        "orders": PAGER_ORDERS,
        "page_size": PAGE_SIZE,
    }


def run(infra: Infra, table: str, log_path: Path, cross_user_orders: int = 0) -> Lifecycle:
    """The lifecycle through both variants, then (`cross_user_orders` > 0) a page of the cross-user listing on
    a table of that many orders (bench/crossuser.py)."""
    infra.ensure_table(table)
    runner = InProcess(infra, table, log_path)
    result = Lifecycle()
    stream_filter = _stream_config()
    try:
        for variant in ("real", "baseline"):
            recorded = _Variant(runner, infra, variant)
            lifecycle_keys = _lifecycle(recorded, result, table, stream_filter)
            _extras(recorded, infra, table, OrderFactory(result.template_item))
            totals: dict[str, float] = dict.fromkeys((*TOTALLED, "api_requests", "consumer_invocations"), 0)
            for key in lifecycle_keys:
                summary = recorded.per[key]
                totals["consumer_invocations" if key.startswith("order_events") else "api_requests"] += 1
                for name in TOTALLED:
                    totals[name] += summary.get(name, 0)
            totals["stream_records"] = len(result.stream_records)
            result.totals[variant] = totals
            result.per_endpoint[variant] = recorded.per
            result.statuses[variant] = recorded.problems
        if cross_user_orders and result.template_item is not None:
            try:
                result.cross_user = crossuser.run(runner, result.template_item, cross_user_orders)
            except Exception as error:  # noqa: BLE001 - the lifecycle's figures stand; run.py marks the failure
                traceback.print_exc(file=sys.stderr)
                result.cross_user = {"error": f"{type(error).__name__}: {error}"}
    finally:
        os.environ.pop("BASELINE_UPSTREAM", None)
        runner.close()
    return result
