"""The targets the results are held to, and each one's verdict."""

from __future__ import annotations

from typing import Any

KB, MB = 1024, 1024 * 1024
TARGETS = {
    # Issue 20: every function's cold start at most 1.5x its raw-boto3 baseline, get and the consumer 1.2x.
    "cold_start_ratio": 1.5,
    "cold_start_ratio_by_function": {"get_order": 1.2, "order_events": 1.2},
    "warm_ratio": 1.1,
    "tracing_agent_down_overhead_ms": 5.0,
    "dynamodb_calls": {
        "GET /api/orders/{id}": 1,
        "GET /api/users/{userId}/orders": 1,
        "PATCH /api/orders/{id}/status": 1,
        "POST /api/orders": 3,
    },
    "list_scaling_ratio": 1.2,
    "function_package_bytes": 32 * KB,
    "layers_total_unzipped_bytes": 15 * MB,
    "worker_rss_mb": 100,
    "cost_ratio_to_floor": 1.15,
    "entries_per_put_events_call": 10,  # PutEvents' limit (issue 19: redrive and backfill)
}


def cold_start_limit(function: str) -> float:
    """The cold-start ratio `function` is held to (get and the consumer have their own)."""
    return TARGETS["cold_start_ratio_by_function"].get(function, TARGETS["cold_start_ratio"])


def _verdict(value: float | None, limit: float) -> str | None:
    if value is None:
        return None
    return "pass" if value <= limit else "FAIL"


def targets(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for function, value in (data.get("cold_start_ratio") or {}).items():
        limit = cold_start_limit(function)
        out[f"cold start {function} <= {limit}x"] = _verdict(value, limit)
    for endpoint, value in (data.get("warm_ratio") or {}).items():
        out[f"warm p50 {endpoint} <= {TARGETS['warm_ratio']}x"] = _verdict(value, TARGETS["warm_ratio"])
    for endpoint, limit in TARGETS["dynamodb_calls"].items():
        out[f"DynamoDB calls {endpoint} <= {limit}"] = _verdict(
            (data.get("dynamodb_calls") or {}).get(endpoint), limit
        )
    out[f"list scaling <= {TARGETS['list_scaling_ratio']}x"] = _verdict(
        data.get("list_scaling_ratio"), TARGETS["list_scaling_ratio"]
    )
    # moto answers every Query by scanning the table (the baseline's ratio shows it); DynamoDB reads the page.
    out[f"list scaling, own time (without moto's table scan) <= {TARGETS['list_scaling_ratio']}x"] = _verdict(
        data.get("list_scaling_ratio_own_time"), TARGETS["list_scaling_ratio"]
    )
    for function, size in (data.get("function_package_bytes") or {}).items():
        out[f"package {function} <= 32 KB"] = _verdict(size, TARGETS["function_package_bytes"])
    layers = data.get("layer_unzipped_bytes") or {}
    if layers:
        out["layers unzipped total <= 15 MB"] = _verdict(
            sum(layers.values()), TARGETS["layers_total_unzipped_bytes"]
        )
    for function, rss in (data.get("worker_rss_mb") or {}).items():
        out[f"worker RSS {function} <= 100 MB"] = _verdict(rss, TARGETS["worker_rss_mb"])
    limit = TARGETS["entries_per_put_events_call"]
    for command in ("redrive", "backfill"):
        measured = ((data.get("recovery") or {}).get(command) or {}).get("entries_per_call")
        if measured is not None:
            out[f"{command}: entries per PutEvents call <= {limit}"] = _verdict(measured, limit)
    for case, overhead in (data.get("tracing_agent_down_overhead_ms") or {}).items():
        limit = TARGETS["tracing_agent_down_overhead_ms"]
        out[f"tracing: agent {case} adds <= {limit} ms to a warm p50"] = _verdict(overhead, limit)
    tracers = data.get("tracing_cold_over_none_ms") or {}
    # Of the candidates that export to what AWS supports after the X-Ray SDK's end (2027-02-25): OTLP.
    otlp_exporters = [tracers.get(name) for name in ("otel-udp", "otel-http")]
    if tracers.get("otlp-udp") is not None and None not in otlp_exporters:
        out["tracing: the chosen tracer (otlp-udp) costs the least cold"] = _verdict(
            tracers["otlp-udp"], min(otlp_exporters)
        )
    cost = data.get("cost_per_million_orders_usd")
    floor = data.get("cost_floor_per_million_orders_usd")
    if cost and floor:
        out["cost <= 1.15x floor"] = _verdict(cost / floor, TARGETS["cost_ratio_to_floor"])
    return out
