"""$ per million order lifecycles, from what this run measured, beside the floor that per-request prices
alone set.

A lifecycle: create (with an Idempotency-Key), get, get, list one page, three status changes (confirmed,
shipped, delivered), and the table stream's records of it through the consumer (one record per
invocation: at low traffic each change arrives in its own batch; busier streams batch and pay less).
Measured inputs: API requests and Lambda invocations of the lifecycle, DynamoDB request units (computed
from the real items, indexes included: bench.capacity), events put, and the warm billed duration of each
function on this machine (x86-64 against moto on loopback, not Graviton against DynamoDB: a stand-in).
"""

from __future__ import annotations

from typing import Any

from bench.infra import function_memory_mb

PRICES = {
    "region": "us-east-1",
    "as_of": "2024-11 (DynamoDB on-demand after the 2024-11-01 price cut)",
    "http_api_per_million_requests": 1.00,
    "lambda_arm64_per_million_requests": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "dynamodb_on_demand_per_million_wru": 0.625,
    "dynamodb_on_demand_per_million_rru": 0.125,
    "eventbridge_custom_per_million_events": 1.00,
}
# Not in the price list: shown beside the model, never added to it.
INFORMATIONAL_PRICES = {
    "cloudwatch_logs_ingestion_per_gb": 0.50,
    "xray_per_million_traces_recorded": 5.00,
    "xray_sampling_share": 0.05,
}

LIFECYCLE = {
    "create_order": 1,
    "get_order": 2,
    "list_user_orders": 1,
    "update_order_status": 3,
}
CHANGES = 1 + 3  # created + three status changes: one write and one event each


def model(
    totals: dict[str, float], billed_ms: dict[str, float], log_bytes: dict[str, float] | None = None
) -> dict[str, Any]:
    """Cost items in $ per million lifecycles."""
    p = PRICES
    consumer = int(totals["consumer_invocations"])
    invocations = {**LIFECYCLE, "order_events": consumer}
    gb_seconds = sum(
        count * billed_ms.get(function, 0.0) / 1000 * function_memory_mb(function) / 1024
        for function, count in invocations.items()
    )
    items = {
        "API Gateway HTTP API requests": totals["api_requests"] * p["http_api_per_million_requests"],
        "Lambda requests": (totals["api_requests"] + consumer) * p["lambda_arm64_per_million_requests"],
        "Lambda duration (GB-s)": gb_seconds * 1e6 * p["lambda_arm64_per_gb_second"],
        "DynamoDB writes (WRU)": totals["wru"] * p["dynamodb_on_demand_per_million_wru"],
        "DynamoDB reads (RRU)": totals["rru"] * p["dynamodb_on_demand_per_million_rru"],
        "EventBridge events": totals["events_put"] * p["eventbridge_custom_per_million_events"],
    }
    total = sum(items.values())
    floor_items = {
        "API Gateway HTTP API requests": totals["api_requests"] * p["http_api_per_million_requests"],
        "Lambda requests": totals["api_requests"] * p["lambda_arm64_per_million_requests"],
        "DynamoDB writes (WRU)": CHANGES * p["dynamodb_on_demand_per_million_wru"],
        "EventBridge events": CHANGES * p["eventbridge_custom_per_million_events"],
    }
    floor = sum(floor_items.values())
    # Listing a user's orders in one Query per page takes an index by user that holds what a page shows
    # (status included), and DynamoDB bills a write to that index for every order write that changes it:
    # no design with that listing pays less than one more write unit per write.
    floor_with_listing_index = floor + CHANGES * p["dynamodb_on_demand_per_million_wru"]
    excess = {name: value - floor_items.get(name, 0.0) for name, value in items.items()}
    result = {
        "per_million_lifecycles_usd": total,
        "floor_per_million_lifecycles_usd": floor,
        "ratio_to_floor": total / floor if floor else None,
        "floor_with_listing_index_usd": floor_with_listing_index,
        "ratio_to_floor_with_listing_index": total / floor_with_listing_index,
        "items_usd": items,
        "floor_items_usd": floor_items,
        "largest_item": max(items, key=items.get),
        "largest_excess_over_floor": max(excess, key=excess.get),
        "excess_over_floor_usd": excess,
        "inputs": {
            "api_requests": totals["api_requests"],
            "lambda_invocations": totals["api_requests"] + consumer,
            "wru": totals["wru"],
            "wru_on_indexes": totals.get("wru_indexes", 0.0),
            "rru": totals["rru"],
            "events": totals["events_put"],
            "gb_seconds": gb_seconds,
            "billed_ms": {function: billed_ms.get(function) for function in invocations},
        },
    }
    if log_bytes is not None:
        log_total = sum(count * log_bytes.get(function, 0.0) for function, count in invocations.items())
        sampled = (totals["api_requests"] + consumer) * INFORMATIONAL_PRICES["xray_sampling_share"]
        result["not_included_usd"] = {
            "CloudWatch Logs ingestion (measured log bytes)": log_total
            * 1e6
            / 1e9
            * INFORMATIONAL_PRICES["cloudwatch_logs_ingestion_per_gb"],
            "X-Ray traces (5% sampled)": sampled * INFORMATIONAL_PRICES["xray_per_million_traces_recorded"],
        }
    return result
