"""The report's sections, one function each (a section with nothing measured is no lines), in the order
`sections` puts them."""

from __future__ import annotations

from typing import Any

from bench.infra import ENDPOINTS, FUNCTIONS
from bench.report.cells import _f, _mark, _ms, _table, _x
from bench.report.targets import KB, MB, TARGETS, _verdict, cold_start_limit


def _cell_verdict(ratio: float | None, limit: float) -> str:
    """The targets' verdict for a table cell, where a ratio that was not measured (or came out as 0) fails."""
    return _verdict(ratio or None, limit) or "FAIL"


def cold_start_table(data: dict[str, Any]) -> list[str]:
    """Cold start: real and baseline spawn → first answer per function, with the variants."""
    out: list[str] = []
    cold = data.get("cold_start") or {}
    variants = (data.get("cold_start_variants") or {}).get("per_function") or {}
    if cold:
        out += ["### Cold start (spawn → first answer; ratio: median of run-by-run ratios)", ""]
        header = [
            "function",
            "real ms",
            "(import / 1st invoke)",
            "baseline ms",
            "(import / 1st invoke)",
            "ratio",
            "target",
        ]
        if variants:
            header[6:6] = [
                "tracer off: ms (÷ baseline)",
                "no layer bytecode (as shipped before): ms (÷ baseline)",
                "baseline + importing the libraries: ms (÷ baseline)",
            ]
        rows = []
        for function in FUNCTIONS:
            row = cold.get(function)
            if not row:
                continue
            real, base = row.get("real", {}), row.get("baseline", {})
            cells = [
                function,
                _f(real.get("median_ms")),
                f"{_f(real.get('import_median_ms'), 0)} / {_f(real.get('first_invoke_median_ms'), 0)}",
                _f(base.get("median_ms")),
                f"{_f(base.get('import_median_ms'), 0)} / {_f(base.get('first_invoke_median_ms'), 0)}",
                _x(row.get("ratio")),
            ]
            if variants:
                other = variants.get(function) or {}
                for label in ("tracer_off", "no_bytecode", "libraries"):
                    measured = other.get(label) or {}
                    cells.append(f"{_f(measured.get('median_ms'))} ({_x(measured.get('ratio'))})")
            failed = real.get("failed_runs", 0) + base.get("failed_runs", 0)
            limit = cold_start_limit(function)
            cells.append(
                f"≤ {limit}× "
                + _mark(_cell_verdict(row.get("ratio"), limit))
                + (f" ({failed} failed runs)" if failed else "")
            )
            rows.append(cells)
        runs = next(iter(cold.values()), {}).get("real", {}).get("runs")
        out += _table(header, rows)
        out += [
            (
                f"{runs} runs per function and variant; the real functions run with Tracing on, as deployed. "
                "The tracer-off, no-layer-bytecode and libraries columns come from a later phase with their own "
                "side-by-side baseline runs. 'Baseline + importing the libraries' is the raw-boto3 handler importing, "
                "and not using, what the function is built on (Powertools Logger and Metrics; pydantic for create, "
                "which validates its body with the models; Powertools' DynamoDB deserializer in the consumer; tracing "
                "is our own code, no library): "
                "the floor those libraries alone put under the ratio."
            ),
            "",
        ]
    return out


def warm_table(data: dict[str, Any]) -> list[str]:
    """Warm: handler duration in one process, real and baseline, per endpoint."""
    out: list[str] = []
    warm = data.get("warm") or {}
    if warm:
        out += ["### Warm (handler duration in one process)", ""]
        rows = []
        for function in FUNCTIONS:
            row = warm.get(function)
            if not row:
                continue
            real, base = row["real"], row["baseline"]
            errors = real["errors"] + base["errors"]
            rows.append(
                [
                    ENDPOINTS[function],
                    f"{_ms(real['p50_ms'])} / {_ms(real['p99_ms'])}",
                    f"{_ms(base['p50_ms'])} / {_ms(base['p99_ms'])}",
                    _x(row.get("ratio_p50")),
                    _x(row.get("ratio_p99")),
                    f"{_ms(real['own_p50_ms'])} / {_ms(base['own_p50_ms'])}",
                    _ms(real["io_p50_ms"]),
                    _mark(_cell_verdict(row.get("ratio_p50"), TARGETS["warm_ratio"]))
                    + (f" ({errors} errors)" if errors else ""),
                ]
            )
        n = next(iter(warm.values()))["real"]["n"]
        out += _table(
            [
                "endpoint",
                "real p50 / p99 ms",
                "baseline p50 / p99 ms",
                "ratio p50",
                "ratio p99",
                "own time p50 real / baseline",
                "HTTP wait p50 (real)",
                f"target ≤ {TARGETS['warm_ratio']}×",
            ],
            rows,
        )
        out += [
            (
                f"{n} invocations per endpoint and variant, side by side in chunks; 'own time' excludes the time spent "
                "waiting on HTTP (moto, stubs)."
            ),
            "",
        ]
    return out


def calls_table(data: dict[str, Any]) -> list[str]:
    """DynamoDB round trips and request units per request."""
    out: list[str] = []
    calls = (data.get("calls") or {}).get("per_endpoint") or {}
    if calls:
        out += ["### DynamoDB round trips and request units (per request)", ""]
        rows = []
        real, base = calls.get("real", {}), calls.get("baseline", {})
        totals = (data.get("calls") or {}).get("lifecycle_totals") or {}
        whole = "whole lifecycle (create, 2 gets, list, 3 changes, the consumer on its records)"
        if totals.get("real"):
            real = {**real, whole: totals["real"]}
        for key, summary in real.items():
            if key.startswith(
                ("list page", "get_order#", "update_order_status#", "order_events#", "create_order (for")
            ):
                continue
            baseline_ops = (base.get(key) or {}).get("dynamodb_ops")
            same = baseline_ops == summary.get("dynamodb_ops") if baseline_ops is not None else None
            if key == whole and totals.get("baseline"):
                same = totals["baseline"]["dynamodb_calls"] == summary["dynamodb_calls"]
            limit = TARGETS["dynamodb_calls"].get(ENDPOINTS.get(key.split(" ")[0], ""), None)
            if key == "list_user_orders (per page)":
                limit = 1
            elif key != key.split(" ")[0]:
                limit = None
            verdict = _mark(_verdict(summary.get("dynamodb_calls"), limit)) if limit is not None else ""
            rows.append(
                [
                    key,
                    _f(summary.get("dynamodb_calls")),
                    ", ".join(summary.get("dynamodb_ops") or []) or "—",
                    _f(summary.get("rru")),
                    _f(summary.get("wru"))
                    + (
                        f" ({_f(summary.get('wru_indexes'))} on indexes)"
                        if summary.get("wru_indexes")
                        else ""
                    ),
                    _f(summary.get("events_put")),
                    _f(summary.get("upstream_http_calls")),
                    {True: "same", False: "DIFFERENT", None: "—"}[same],
                    verdict,
                ]
            )
        out += _table(
            [
                "request",
                "calls",
                "operations",
                "RRU",
                "WRU",
                "events",
                "upstream HTTP",
                "baseline: same operations",
                "target",
            ],
            rows,
        )
        out += [
            (
                "Request units are computed from the real items before and after each call (moto's "
                "ReturnConsumedCapacity numbers are canned; they are in the JSON). Targets: get 1, list 1 per page, "
                "status 1, create ≤ 3."
            ),
            "",
        ]
    return out


def cross_user_table(data: dict[str, Any]) -> list[str]:
    """Issue 21: a page of the cross-user listing (GSI3, one Query per shard) beside a user's page (one Query)."""
    measured = (data.get("calls") or {}).get("cross_user") or {}
    if not measured:
        return []
    out = ["### A page of the cross-user listing (GET /api/orders, admins) beside a user's page", ""]
    if "error" in measured:
        return [*out, f"Not measured: {measured['error']}", ""]
    single = measured["single_key_page"]
    pages = (
        ("status_page", "GET /api/orders?status=confirmed, first page"),
        ("status_next_page", "GET /api/orders?status=confirmed, next page (cursor)"),
        ("all_status_page", "GET /api/orders (every status), first page"),
        ("single_key_page", "GET /api/users/{userId}/orders, first page (one key: GSI1)"),
    )
    rows = []
    for key, label in pages:
        page = measured[key]
        rows.append(
            [
                label,
                _f(page["dynamodb_calls"]),
                _f(page["rru"]),
                _f(page["items_read"]),
                _f(page["bytes_read"] / 1024, 1, " KB"),
                _f(page["items_answered"]),
                _x(page["dynamodb_calls"] / single["dynamodb_calls"]) if single["dynamodb_calls"] else "—",
                _x(page["rru"] / single["rru"]) if single["rru"] else "—",
            ]
        )
    out += _table(
        [
            "page",
            "calls",
            "RRU",
            "items read",
            "read",
            "answered",
            "calls ÷ user's page",
            "RRU ÷ user's page",
        ],
        rows,
    )
    shares = ", ".join(f"{status} {count}" for status, count in measured["orders_per_status"].items())
    out += [
        (
            f"Limit {measured['page_size']}, on a table of {measured['orders']:,} orders of {measured['users']:,} users "
            f"({shares}), created in one window; {measured['status_index_shards']} shards per status "
            "(StatusIndexShards). Through the real functions in this process; read units computed from the items "
            "each Query returned (eventually consistent: 0.5 per 4 KB, at least 0.5 per Query)."
        ),
        "",
    ]
    return out


def scaling_table(data: dict[str, Any]) -> list[str]:
    """How the listing scales with the number of orders."""
    out: list[str] = []
    scaled = data.get("scaling") or {}
    if scaled.get("list"):
        plan = scaled["plan"]
        listing = scaled["list"]
        out += ["### Scaling", ""]
        rows = [
            [
                f"list page ({plan['page_size']} orders): {plan['list_big']:,} orders ÷ {plan['list_small']:,}",
                f"{listing['real']['big_p50_ms']:.2f} / {listing['real']['small_p50_ms']:.2f}",
                _x(listing["real"]["ratio"]),
                _x(listing["baseline"]["ratio"]),
                _x(listing["real"]["own_ratio"]),
                _mark(_verdict(listing["real"]["ratio"], 1.2)) + " (≤ 1.2×)",
            ],
        ]
        for function in ("get_order", "create_order"):
            row = scaled.get(function) or {}
            rows.append(
                [
                    f"{function}: table of {row.get('big_table_orders', 0):,} orders ÷ {row.get('small_table_orders', 0):,}",
                    f"{row.get('big_p50_ms', 0):.2f} / {row.get('small_p50_ms', 0):.2f}",
                    _x(row.get("ratio")),
                    "",
                    "",
                    "",
                ]
            )
        out += _table(
            [
                "case",
                "p50 ms big / small (real)",
                "ratio (real)",
                "ratio (baseline)",
                "ratio of own time (real)",
                "target",
            ],
            rows,
        )
        out += [
            (
                f"{_f(scaled.get('items_loaded'), 0)} orders loaded with BatchWriteItem in {scaled.get('load_seconds', 0):.0f} s. "
                "moto scans and sorts the whole table for every Query (DynamoDB reads only the page), "
                "so the list's end-to-end ratio is moto's; the baseline column shows it, the own-time column is the product's."
            ),
            "",
        ]
    return out


def sizes_table(data: dict[str, Any]) -> list[str]:
    """Function packages and layers, zipped and unzipped."""
    out: list[str] = []
    built = data.get("sizes") or {}
    if built.get("functions"):
        out += [f"### Sizes ({built.get('source')})", ""]
        rows = [
            [f, _f(r["zipped_bytes"]), _f(r["unzipped_bytes"]), _mark(_verdict(r["zipped_bytes"], 32 * KB))]
            for f, r in built["functions"].items()
        ]
        rows += [
            [f"layer {layer}", _f(r["zipped_bytes"]), _f(r["unzipped_bytes"]), ""]
            for layer, r in built["layers"].items()
        ]
        total = sum(r["unzipped_bytes"] for r in built["layers"].values())
        rows.append(
            [
                "layers, total",
                "",
                f"{total:,} ({total / MB:.2f} MB)",
                _mark(_verdict(total, 15 * MB)) + " (≤ 15 MB)",
            ]
        )
        out += _table(["package", "zipped bytes", "unzipped bytes", "target (function ≤ 32 KB zipped)"], rows)
    return out


def memory_table(data: dict[str, Any]) -> list[str]:
    """Each worker's peak RSS after the warm run."""
    out: list[str] = []
    warm = data.get("warm") or {}
    if warm:
        out += ["### Worker memory (peak RSS after the warm run, VmHWM)", ""]
        rows = [
            [
                f,
                f"{r['real']['rss_mb']:.1f}",
                f"{r['baseline']['rss_mb']:.1f}",
                _mark(_verdict(r["real"]["rss_mb"], 100)),
            ]
            for f, r in warm.items()
        ]
        out += _table(["function", "real MB", "baseline MB", "target ≤ 100 MB"], rows)
    return out


def http_load_table(data: dict[str, Any]) -> list[str]:
    """The local stack over HTTP (a developer figure)."""
    out: list[str] = []
    http = data.get("http_load") or {}
    if http:
        out += ["### Local stack over HTTP (developer figure)", ""]
        if "skipped" in http:
            out += [f"Skipped: {http['skipped']}", ""]
        else:
            out += [
                (
                    f"{http.get('tool', 'Locust')}, `loadtest/locustfile.py`'s order lifecycle mix (what `make load` runs), "
                    f"{http['concurrency']} users back to back for {http['seconds']:.0f} s (after {http['warmup_seconds']:.0f} s "
                    f"of warm-up, not counted): **{http['requests_per_second']:.1f} requests/s**, {http['requests']:,} requests, "
                    f"{http['errors']} errors (stack ready in {http['startup_seconds']:.1f} s)."
                ),
                "",
            ]
            off = http.get("iam_off")
            if off and http.get("iam_on_vs_off_rps"):
                out += [
                    (
                        f"Same run with IAM off (`LOCAL_IAM=off`): {off['requests_per_second']:.1f} requests/s, "
                        f"{off['errors']} errors. With every function's role enforced the stack answers "
                        f"**{http['iam_on_vs_off_rps']:.2f}×** the requests/s it does without (median of "
                        f"{len(http.get('iam_pair_ratios') or [1])} paired runs, alternating which goes first: "
                        + ", ".join(f"{ratio:.2f}×" for ratio in http.get("iam_pair_ratios") or [])
                        + ")."
                    ),
                    "",
                ]
            rows = [
                [
                    route,
                    _f(r["n"]),
                    _f(r.get("requests_per_second")),
                    _f(r["p50_ms"], 0),
                    _f(r["p99_ms"], 0),
                    _f(r.get("errors")),
                ]
                for route, r in http["routes"].items()
            ]
            out += _table(["route", "requests", "requests/s", "p50 ms", "p99 ms", "errors"], rows)
            if http.get("error_samples"):
                out += ["Failures: " + "; ".join(f"`{sample}`" for sample in http["error_samples"]), ""]
    return out


def recovery_table(data: dict[str, Any]) -> list[str]:
    """Issue 19's recovery commands on a local stack: redrive and backfill throughput, entries per PutEvents
    call, read units per 1,000 orders (a developer figure, like the local stack's)."""
    out: list[str] = []
    recovered = data.get("recovery") or {}
    if not recovered:
        return out
    out += ["### Recovery commands on the local stack (issue 19; developer figure)", ""]
    if "skipped" in recovered:
        return [*out, f"Skipped: {recovered['skipped']}", ""]
    redrive, backfill = recovered["redrive"], recovered["backfill"]
    outage = recovered["outage"]
    limit = TARGETS["entries_per_put_events_call"]
    out += [
        (
            f"`python -m local` on a free port. {recovered['outage_orders']} orders "
            f"({recovered['outage_versions']} versions) were created and moved while the bus refused every "
            f"PutEvents entry (`POST /_local/aws-faults`); the consumer gave up on every stream record "
            f"({outage['failure_records']} failure records in the bucket after "
            f"{outage['seconds_until_all_dead_lettered']:.0f} s), the fault was cleared and `python -m ops redrive "
            f"--rate 0` delivered them. Then {recovered['orders'] - recovered['outage_orders']} more orders as "
            f"usual, and `python -m ops backfill --all --rate 0` published the past of all {recovered['orders']} "
            f"({recovered['order_versions']} events). PutEvents calls: the stack's IAM log (`GET /_local/iam`, "
            f"per role); every expected eventId was then on the bus."
        ),
        "",
    ]
    rows = []
    for name, row in (("redrive", redrive), ("backfill", backfill)):
        entries = row.get("entries_per_call")
        rows.append(
            [
                f"`make {name}`",
                _f(row["events_sent"]),
                f"**{_f(row['events_per_second'])}**",
                f"{_f(row['seconds'], 2)}",
                f"{_f(row['events_per_second_wall'])} ({_f(row['wall_seconds'], 2)} s)",
                _f(row.get("put_events_calls")),
                f"{_f(entries, 2)} {_mark(_verdict(entries, limit))}",
                (
                    f"**{_f(row['read_units_per_1000_orders'])}** ({_f(row['read_units'])} for "
                    f"{_f(row['orders_read'])} orders)"
                    if name == "backfill"
                    else "—"
                ),
            ]
        )
    out += _table(
        [
            "command",
            "events sent",
            "events/s",
            "seconds",
            "events/s, process start to exit",
            "PutEvents calls",
            f"entries per call (≤ {limit})",
            "read units per 1,000 orders",
        ],
        rows,
    )
    out += [
        (
            f"Events/s over the command's own work: redrive from its listing of the bucket to its summary line "
            f"(building the consumer's clients, then reading, publishing, settling and deleting each of its "
            f"{redrive['failure_records']} failure records, which settled {redrive['reservations_settled']} "
            f"reservations); backfill its own figure ({backfill['scan_pages']} Scan pages). Read units: "
            f"{backfill['read_units_basis']}. A failure record held "
            f"{redrive['stream_records'] / max(redrive['failure_records'], 1):.1f} stream records on average (Lambda "
            f"bisects a failing batch down to single records before giving up on one); redrive delivers up to 10 "
            f"failure records together and backfill up to {limit} orders' events in one call, never two events "
            f"of one order in one call (so an outage's records, several of one order, fill calls less)."
        ),
        "",
    ]
    return out


def cost_table(data: dict[str, Any]) -> list[str]:
    """What a million orders cost, against the floor."""
    out: list[str] = []
    costs = data.get("cost") or {}
    if costs.get("real"):
        model, prices = costs["real"], costs["prices"]
        out += ["### Cost model ($ per million order lifecycles)", ""]
        out += [
            (
                f"Prices: {prices['region']}, {prices['as_of']}: HTTP API ${prices['http_api_per_million_requests']:.2f}/M requests; "
                f"Lambda arm64 ${prices['lambda_arm64_per_million_requests']:.2f}/M requests + ${prices['lambda_arm64_per_gb_second']}/GB-s; "
                f"DynamoDB on-demand ${prices['dynamodb_on_demand_per_million_wru']}/M WRU, ${prices['dynamodb_on_demand_per_million_rru']}/M RRU; "
                f"EventBridge ${prices['eventbridge_custom_per_million_events']:.2f}/M events."
            ),
            "",
        ]
        rows = []
        for item, value in model["items_usd"].items():
            rows.append(
                [
                    item,
                    f"{value:.3f}",
                    f"{model['floor_items_usd'].get(item, 0.0):.3f}",
                    f"{costs['baseline']['items_usd'][item]:.3f}" if costs.get("baseline") else "—",
                ]
            )
        rows.append(
            [
                "**total**",
                f"**{model['per_million_lifecycles_usd']:.2f}**",
                f"**{model['floor_per_million_lifecycles_usd']:.2f}**",
                f"{costs['baseline']['per_million_lifecycles_usd']:.2f}" if costs.get("baseline") else "—",
            ]
        )
        out += _table(["item", "real", "floor", "baseline"], rows)
        ratio = model["ratio_to_floor"]
        out += [
            (
                f"Real ÷ floor: **{ratio:.2f}×** {_mark(_verdict(ratio, 1.15))} (target ≤ 1.15×). Largest item: "
                f"**{model['largest_item']}**; largest excess over the floor: **{model['largest_excess_over_floor']}** "
                f"({model['inputs']['wru']:.0f} WRU per lifecycle, {model['inputs']['wru_on_indexes']:.0f} of them on the indexes, "
                f"against one per write in the floor). With the one index write per order write that any one-Query "
                f"listing by user costs, the floor is ${model['floor_with_listing_index_usd']:.2f}: real ÷ that "
                f"**{model['ratio_to_floor_with_listing_index']:.2f}×**."
            ),
            "",
        ]
        if model.get("not_included_usd"):
            extra = "; ".join(f"{name}: ${value:.2f}" for name, value in model["not_included_usd"].items())
            out += [
                f"Not in the model (prices outside the issue's list, for scale): {extra} per million lifecycles.",
                "",
            ]
    return out


def import_profile_table(data: dict[str, Any]) -> list[str]:
    """What the real functions import before their first answer."""
    out: list[str] = []
    profile = data.get("import_profile") or {}
    if profile:
        out += [
            "### Cold-start imports (`-X importtime`, real functions, through the first invocation)",
            "",
            (
                "Under each function: what our code imports (or what is imported lazily) over 5 ms, cumulative, "
                "and why its requests need it (`REASONS` in bench/importprofile.py; the baseline's own imports "
                "cost both the same)."
            ),
            "",
        ]
        for function, row in profile.items():
            top = ", ".join(f"{item['module']} {item['ms']:.1f}" for item in row["handler_imports_ms"][:6])
            packages = ", ".join(f"{item['package']} {item['ms']:.0f}" for item in row["by_package_ms"][:6])
            extra = row.get("not_in_baseline") or {}
            beyond = ", ".join(
                f"{item['package']} {item['ms']:.0f}" for item in extra.get("by_package_ms", [])[:6]
            )
            out += [
                (
                    f"- **{function}** ({row['total_import_ms']:.0f} ms of imports): handler imports (cumulative ms): {top or '—'}. "
                    f"By package (self ms): {packages}. Not imported by the baseline: {extra.get('modules', 0)} modules, "
                    f"{extra.get('self_ms', 0):.0f} ms ({beyond or '—'})."
                )
            ]
            out += _import_reasons(row)
        out += [""]
    return out


def _import_reasons(row: dict[str, Any]) -> list[str]:
    """Each function's imports over 5 ms (entered from our code: bench/importprofile.py's `entries`) with why
    its requests need them; any import, whatever its size, that has no reason is flagged."""
    out = []
    for item in row.get("over_5ms") or []:
        reason = (
            item["reason"]
            or "**NO REASON** (add one to bench/importprofile.py's REASONS, or drop the import)"
        )
        out.append(
            f"  - `{item['module']}` {item['ms']:.1f} ms ({item['beyond_baseline_ms']:.1f} ms in modules the baseline "
            f"does not import): {reason}"
        )
    if row.get("unjustified"):
        names = ", ".join(f"`{module}`" for module in row["unjustified"])
        out.append(f"  - **Imported without a reason** (any size): {names}")
    return out


def _cpu(spent: dict[str, float] | None) -> str:
    """A create's CPU: the total, then each process's share."""
    if not spent:
        return "–"
    shares = " + ".join(f"{ms:.1f}" for name, ms in spent.items() if name != "total")
    return f"{spent['total']:.1f} ({shares})"


def keyed_latency_table(data: dict[str, Any]) -> list[str]:
    """Issue 20: keyed ÷ unkeyed create with DynamoDB's and the upstreams' answers delayed (bench/keyedlatency.py)."""
    profiles = (data.get("keyed_latency") or {}).get("profiles") or {}
    if not profiles:
        return []
    rows = [
        [
            name,
            _ms(profile["keyed_p50_ms"]),
            _ms(profile["unkeyed_p50_ms"]),
            _x(profile["keyed_ratio_p50"]),
            _cpu(profile.get("cpu_ms_per_create", {}).get("keyed")),
            _cpu(profile.get("cpu_ms_per_create", {}).get("unkeyed")),
            _x(profile.get("keyed_cpu_ratio")),
        ]
        for name, profile in profiles.items()
    ]
    n = next(iter(profiles.values()))["n"]
    return [
        "### Keyed create under network latency (issue 20)",
        "",
        *_table(
            [
                "injected delay per request",
                "keyed p50 ms",
                "unkeyed p50 ms",
                "keyed ÷ unkeyed",
                "CPU per keyed create ms",
                "CPU per unkeyed create ms",
                "CPU keyed ÷ unkeyed",
            ],
            rows,
        ),
        (
            f"{n} creates each way per profile, in one warm worker, taking turns in chunks; a moto and stubs of the "
            "profile's own sleep before answering each request. The delays are injected, not measured on AWS. "
            "CPU: the function + moto + the stubs with the harness (each create's share of their user and "
            "system time, in 10 ms ticks), which share this machine's cores."
        ),
        "",
    ]


def tracing_table(data: dict[str, Any]) -> list[str]:
    """Issue 20: the tracing candidates' cold cost side by side, and what an unreachable agent adds warm."""
    traced = data.get("tracing") or {}
    if not traced.get("candidates"):
        return []
    described = {
        "none": "Lambda's own segment only (no in-function spans): the floor",
        "xray-sdk": "Powertools' Tracer on aws-xray-sdk (what we leave; support ends 2027-02-25)",
        "otlp-udp": "OTLP over UDP to Lambda's X-Ray agent, spans recorded and written by `orders.tracing` "
        "(**chosen**)",
        "otel-udp": "the same, recorded by the OpenTelemetry SDK and written by its OTLP encoder (protobuf)",
        "otel-http": "OpenTelemetry SDK, OTLP/HTTP exporter (X-Ray's OTLP endpoint or a collector)",
    }
    out = [
        "### Tracing candidates (issue 20)",
        "",
        (
            "A fresh `python -I -S` per run (the function's sys.path: orders layer, deps layer plus the "
            "candidate's own packages, the runtime's boto3): import boto3, one sampled invocation with a "
            "handler span, a step span and one GetItem (botocore's Stubber answers), spans exported; timed "
            "from the script's first line. Runs alternate candidates. `sent` counts what the bench's agent "
            "and OTLP/HTTP sinks received per run."
        ),
        "",
    ]
    rows = [
        [
            f"`{name}`",
            described.get(name, ""),
            _f(row["median_ms"]),
            f"**{_f(row['over_none_ms'])}**",
            _f(row["ratio_to_none"], 2),
            ", ".join(f"{_f(count, 1)} {what}" for what, count in row["sent_per_run"].items() if count)
            or "nothing",
        ]
        for name, row in traced["candidates"].items()
    ]
    out += _table(["candidate", "what", "cold ms (median)", "over none, ms", "÷ none", "sent"], rows)
    p50 = traced.get("warm_p50_ms") or {}
    overhead = traced.get("agent_down_overhead_ms") or {}
    limit = TARGETS["tracing_agent_down_overhead_ms"]
    out += [
        (
            f"Agent down (the chosen tracer, {traced.get('warm_invocations_per_case')} warm sampled invocations "
            f"per case, 5 spans each): p50 {_f(p50.get('sink'), 3)} ms with the agent's sink, "
            + ", ".join(
                f"{_f(p50.get(case), 3)} ms at a {case} address (+{_f(value, 3)} ms "
                f"{_mark(_verdict(value, limit))} ≤ {limit} ms)"
                for case, value in overhead.items()
            )
            + f"; unsampled {_f(p50.get('unsampled'), 3)} ms (tracing a sampled invocation costs "
            f"{_f(traced.get('traced_over_unsampled_ms'), 3)} ms)."
        ),
        "",
    ]
    return out


SECTIONS = (
    cold_start_table,
    warm_table,
    keyed_latency_table,
    calls_table,
    cross_user_table,
    scaling_table,
    sizes_table,
    memory_table,
    http_load_table,
    recovery_table,
    tracing_table,
    cost_table,
    import_profile_table,
)


def sections(data: dict[str, Any]) -> list[str]:
    return [line for section in SECTIONS for line in section(data)]
