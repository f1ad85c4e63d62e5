"""The benchmark run: every row in one process tree, one after another, then the report.

Modes: `full` (`make bench`, several minutes), `quick` (a shorter dev iteration, no sam build) and `smoke`
(tens of seconds: every row's code path at tiny size; `make test` runs it; no timing means anything).
A row that fails is recorded under `failed` and the run goes on; the exit status is then 1.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    bytecode,
    chart,
    cost,
    httpload,
    importprofile,
    infra,
    keyedlatency,
    latency,
    lifecycle,
    recovery,
    report,
    scaling,
    sizes,
    tracing,
)
from bench.data import OrderFactory
from bench.infra import ENDPOINTS, FUNCTIONS, ROOT
from bench.scenario import Scenario

RESULTS = Path(__file__).resolve().parent / "results"
CALLS_TABLE = "bench-calls"
# Issue 20: a create with an Idempotency-Key, warm p50, at most this many times one without (same worker).
KEYED_CREATE_RATIO = 1.5


@dataclass(frozen=True)
class Mode:
    name: str
    cold_runs: int
    prime: bool
    warm_invocations: int
    warm_warmup: int
    chunk: int
    scaling: scaling.ScalingPlan
    sam_build: bool
    http_seconds: float
    http_concurrency: int
    http_warmup: float
    importtime_runs: int
    importtime_functions: tuple[str, ...]
    extra_cold_runs: int  # tracer-off and no-bytecode cold starts (0: skipped)
    extra_cold_functions: tuple[str, ...] = FUNCTIONS
    # Recovery (issue 19): orders in the table for the backfill, of which the first go through an outage
    # and are redriven (a stream record takes ~1 s to be given up on, more when many are pending:
    # bench/recovery.py).
    recovery_orders: int = 300
    recovery_outage_orders: int = 30
    # Tracing (issue 20, bench/tracing.py): cold runs per candidate, warm invocations per agent case and round.
    tracing_cold_runs: int = 15
    tracing_warm_invocations: int = 500
    # Issue 21 (bench/crossuser.py, part of the calls row): orders, across users and statuses, in the table a
    # page of the cross-user listing is measured on (enough that every shard of every status holds more than a
    # first read's share of the page).
    cross_user_orders: int = 6_000
    # Issue 20 (bench/keyedlatency.py): keyed and unkeyed creates each, per injected-latency profile.
    keyed_latency_invocations: int = 300


MODES = {
    "full": Mode(
        name="full",
        cold_runs=9,
        prime=True,
        warm_invocations=1000,
        warm_warmup=100,
        chunk=100,
        scaling=scaling.ScalingPlan(),
        sam_build=True,
        http_seconds=30,
        http_concurrency=8,
        http_warmup=3,
        importtime_runs=3,
        importtime_functions=FUNCTIONS,
        extra_cold_runs=9,
    ),
    "quick": Mode(
        name="quick",
        cold_runs=3,
        prime=True,
        warm_invocations=200,
        warm_warmup=20,
        chunk=50,
        scaling=scaling.ScalingPlan(
            list_big=2_000,
            list_small=10,
            list_samples=10,
            table_big=10_000,
            table_small=100,
            table_samples=100,
        ),
        sam_build=False,
        http_seconds=5,
        http_concurrency=8,
        http_warmup=2,
        importtime_runs=1,
        importtime_functions=FUNCTIONS,
        extra_cold_runs=2,
        extra_cold_functions=("get_order", "order_events"),
        recovery_orders=100,
        recovery_outage_orders=8,
        tracing_cold_runs=5,
        tracing_warm_invocations=200,
        cross_user_orders=3_000,
        keyed_latency_invocations=100,
    ),
    "smoke": Mode(
        name="smoke",
        cold_runs=1,
        prime=False,
        warm_invocations=4,
        warm_warmup=1,
        chunk=2,
        scaling=scaling.ScalingPlan(
            list_big=30,
            list_small=3,
            page_size=3,
            list_samples=2,
            table_big=200,
            table_small=20,
            table_samples=2,
        ),
        sam_build=False,
        http_seconds=2.0,
        http_concurrency=2,  # one customer and the admin (loadtest/locustfile.py)
        http_warmup=0.0,
        importtime_runs=1,
        # Every function: the smoke test checks each one's imports have their reasons (issue 20).
        importtime_functions=FUNCTIONS,
        extra_cold_runs=1,
        extra_cold_functions=("get_order",),
        recovery_orders=5,
        recovery_outage_orders=2,
        tracing_cold_runs=1,
        tracing_warm_invocations=3,
        cross_user_orders=300,
        keyed_latency_invocations=2,
    ),
}


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    versions = {}
    for name in (
        "aws-lambda-powertools",
        "pydantic",
        "boto3",
        "botocore",
        "moto",
        "opentelemetry-sdk",
        "protobuf",
        "simplejson",
    ):
        try:
            versions[name] = version(name)
        except Exception:  # noqa: BLE001
            versions[name] = None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    changes = subprocess.run(
        ["git", "status", "--porcelain", "--", "functions", "layers", "template.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = bool(changes.stdout.strip())
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "packages": versions,
        "git_commit": commit + ("+dirty" if dirty else ""),
    }


class Rows:
    """Runs each row, times it, and records failures without stopping the run."""

    def __init__(self, only: set[str] | None, verbose: bool = True) -> None:
        self.only = only
        self.failed: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.verbose = verbose

    def wanted(self, name: str) -> bool:
        return self.only is None or name in self.only

    def run(self, name: str, function, *args, **kwargs):
        if not self.wanted(name):
            self.skipped[name] = "not selected (--only)"
            return None
        started = time.monotonic()
        if self.verbose:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            return function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - one row's failure must not lose the others
            self.failed[name] = f"{type(error).__name__}: {error}"
            traceback.print_exc(file=sys.stderr)
            return None
        finally:
            self.seconds[name] = time.monotonic() - started
            if self.verbose:
                print(f"[bench] {name} done in {self.seconds[name]:.1f} s", file=sys.stderr, flush=True)


def run(mode: Mode, out_dir: Path, only: set[str] | None = None, verbose: bool = True) -> dict[str, Any]:
    started = time.monotonic()
    logs = out_dir / "logs"
    if logs.exists():
        shutil.rmtree(logs)
    logs.mkdir(parents=True)
    rows = Rows(only, verbose)
    data: dict[str, Any] = {
        "mode": mode.name,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {k: (v.__dict__ if hasattr(v, "__dict__") else v) for k, v in mode.__dict__.items()},
    }
    environment = infra.start(logs)
    try:
        life = rows.run(
            "calls",
            lifecycle.run,
            environment,
            CALLS_TABLE,
            logs / "in-process.log",
            cross_user_orders=mode.cross_user_orders,
        )
        if life is None or life.template_item is None:
            raise SystemExit(
                "bench: the lifecycle through the real handlers failed; nothing else can run (see logs)"
            )
        data["calls"] = {
            "per_endpoint": life.per_endpoint,
            "lifecycle_totals": life.totals,
            "unexpected_answers": life.statuses,
            "item_layouts": life.item_layouts,
            "baseline_upstream": environment.baseline_upstream,
            "cross_user": life.cross_user,
        }
        if life.cross_user and "error" in life.cross_user:
            rows.failed["calls (cross-user page)"] = life.cross_user["error"]
        factory = OrderFactory(life.template_item)
        scenario = Scenario(environment, factory, life.stream_records, CALLS_TABLE)
        extra = mode.extra_cold_runs
        per_variant = mode.cold_runs + mode.warm_warmup + mode.warm_invocations + 10
        scenario.prepare(
            {
                "real": per_variant + 1 + 2 * extra + 1 + mode.importtime_runs,
                "baseline": per_variant + 1 + extra + mode.importtime_runs,
            }
        )

        def cold_and_warm():
            cold, kept = latency.cold_phase(
                environment, scenario, mode.cold_runs, prime=mode.prime, logs=logs
            )
            data["cold_start"] = cold.summary({"create_order": 201})
            try:
                warm = latency.warm_phase(
                    environment,
                    scenario,
                    kept,
                    invocations=mode.warm_invocations,
                    warmup=mode.warm_warmup,
                    chunk=mode.chunk,
                )
            finally:
                for workers in kept.values():
                    for worker in workers.values():
                        if worker.process.poll() is None:
                            worker.close()
            data["warm"] = warm.per_function

        rows.run("latency", cold_and_warm)

        def extra_cold():
            prefix = logs / "pycache-prefix"
            functions = mode.extra_cold_functions
            prepared = bytecode.prepare(environment, scenario, prefix, logs, functions)
            variants = latency.cold_variants(
                scenario,
                extra,
                logs,
                {
                    "tracer_off": lambda f: environment.real_spec(f, scenario.table(f), tracing=False),
                    "no_bytecode": lambda f: environment.real_spec(
                        f, scenario.table(f), options=bytecode.options(prefix)
                    ),
                    "libraries": lambda f: environment.libraries_spec(f, scenario.table(f)),
                    "baseline": lambda f: environment.baseline_spec(f, scenario.table(f)),
                },
                functions,
            )
            data["cold_start_variants"] = {"per_function": variants, "bytecode_prefix": prepared}

        if extra:
            rows.run("cold_variants", extra_cold)

        data["scaling"] = rows.run(
            "scaling", scaling.run, environment, factory, mode.scaling, logs / "scaling"
        )
        data["import_profile"] = rows.run(
            "import_profile",
            importprofile.run,
            environment,
            scenario,
            mode.importtime_runs,
            logs,
            functions=mode.importtime_functions,
        )
        data["keyed_latency"] = rows.run(
            "keyed_latency",
            keyedlatency.run,
            environment,
            scenario,
            mode.keyed_latency_invocations,
            min(mode.chunk, 50),
            logs,
        )
    finally:
        environment.close()
    data["sizes"] = rows.run("sizes", sizes.run, mode.sam_build, logs)
    if not mode.sam_build and rows.wanted("sizes"):
        rows.skipped["sam build"] = f"not in {mode.name} mode: sizes measured from sources (approximate)"

    def http():
        try:
            rounds = 1 if mode.name == "smoke" else 2
            # Two pairs (IAM on / off, the second pair in the other order) except in smoke mode.
            return httpload.run_with_and_without_iam(
                mode.http_seconds,
                mode.http_concurrency,
                mode.http_warmup,
                logs,
                warm_rounds=rounds,
                pairs=1 if mode.name == "smoke" else 2,
            )
        except httpload.StackUnavailable as error:
            rows.skipped["http_load"] = f"local stack not usable: {error}"
            return {"skipped": str(error)}

    data["http_load"] = rows.run("http_load", http)

    def recover():
        try:
            return recovery.run(mode.recovery_orders, mode.recovery_outage_orders, logs)
        except recovery.StackUnavailable as error:
            rows.skipped["recovery"] = f"local stack not usable: {error}"
            return {"skipped": str(error)}

    data["recovery"] = rows.run("recovery", recover)
    data["tracing"] = rows.run(
        "tracing", tracing.run, mode.tracing_cold_runs, mode.tracing_warm_invocations, logs
    )
    data["cost"] = rows.run("cost", _cost, data)
    data["failed"] = rows.failed
    data["skipped"] = rows.skipped
    data["row_seconds"] = rows.seconds
    data["total_seconds"] = time.monotonic() - started
    data["machine"]["load_average_at_end"] = os.getloadavg()
    data.update(headline(data))
    data["targets"] = report.targets(data)
    keyed = data.get("keyed_create_warm_ratio")
    data["targets"][f"keyed create warm p50 <= {KEYED_CREATE_RATIO}x unkeyed"] = (
        None if keyed is None else "pass" if keyed <= KEYED_CREATE_RATIO else "FAIL"
    )
    return data


def _cost(data: dict[str, Any]) -> dict[str, Any]:
    warm = data.get("warm") or {}
    totals = data["calls"]["lifecycle_totals"]
    out = {
        "prices": cost.PRICES,
        "informational_prices": cost.INFORMATIONAL_PRICES,
        "lifecycle": cost.LIFECYCLE,
    }
    for variant in ("real", "baseline"):
        billed = {
            function: row[variant]["billed_mean_ms"] for function, row in warm.items() if variant in row
        }
        logs = {
            function: row[variant]["log_bytes_per_invocation"]
            for function, row in warm.items()
            if variant in row
        }
        out[variant] = cost.model(totals[variant], billed, logs)
    return out


def headline(data: dict[str, Any]) -> dict[str, Any]:
    """The keys the issue names, flat, from the detailed sections."""
    cold = data.get("cold_start") or {}
    warm = data.get("warm") or {}
    calls = (data.get("calls") or {}).get("per_endpoint", {}).get("real", {})
    scaled = data.get("scaling") or {}
    built = data.get("sizes") or {}
    costs = (data.get("cost") or {}).get("real") or {}
    recovered = data.get("recovery") or {}
    keyed_profiles = (data.get("keyed_latency") or {}).get("profiles") or {}
    list_calls = calls.get("list_user_orders (per page)", {}).get("dynamodb_calls")
    return {
        "cold_start_ratio": {function: row.get("ratio") for function, row in cold.items()},
        "cold_start_ratio_as_deployed": {
            function: row["no_bytecode"].get("ratio")
            for function, row in ((data.get("cold_start_variants") or {}).get("per_function") or {}).items()
        },
        "warm_ratio": {ENDPOINTS[function]: row.get("ratio_p50") for function, row in warm.items()},
        # Issue 20: the keyed create's warm p50 over the unkeyed create's, measured side by side.
        "keyed_create_warm_ratio": (warm.get("create_order") or {}).get("keyed_ratio_p50"),
        # The same ratio with DynamoDB's and the upstreams' answers delayed (injected, bench/keyedlatency.py).
        "keyed_create_warm_ratio_with_latency": {
            name: profile["keyed_ratio_p50"] for name, profile in keyed_profiles.items()
        },
        # keyed ÷ unkeyed CPU per create, the function's, moto's and the stubs' together (bench/cpu.py): what
        # the wall-clock ratio follows on a machine whose cores they share; a network's delays leave it as is.
        "keyed_create_cpu_ratio": {
            name: profile.get("keyed_cpu_ratio") for name, profile in keyed_profiles.items()
        },
        "warm_own_time_ratio": {
            ENDPOINTS[function]: (row["real"]["own_p50_ms"] / row["baseline"]["own_p50_ms"])
            if row.get("baseline", {}).get("own_p50_ms")
            else None
            for function, row in warm.items()
        },
        "dynamodb_calls": {
            ENDPOINTS[function]: (
                list_calls
                if function == "list_user_orders" and list_calls is not None
                else calls.get(function, {}).get("dynamodb_calls")
            )
            for function in FUNCTIONS
        },
        # Issue 21: one page of GET /api/orders (one status, every status) beside a user's page, same size:
        # calls and read units per page and their ratios (bench/crossuser.py).
        "cross_user_page": _cross_user_headline((data.get("calls") or {}).get("cross_user")),
        "list_scaling_ratio": (scaled.get("list") or {}).get("real", {}).get("ratio"),
        # moto scans the table for every Query: the same Query without product code, and the product's own time.
        "list_scaling_ratio_baseline": (scaled.get("list") or {}).get("baseline", {}).get("ratio"),
        "list_scaling_ratio_own_time": (scaled.get("list") or {}).get("real", {}).get("own_ratio"),
        "get_scaling_ratio": (scaled.get("get_order") or {}).get("ratio"),
        "create_scaling_ratio": (scaled.get("create_order") or {}).get("ratio"),
        "function_package_bytes": {
            f: row["zipped_bytes"] for f, row in (built.get("functions") or {}).items()
        },
        "layer_unzipped_bytes": {
            layer: row["unzipped_bytes"] for layer, row in (built.get("layers") or {}).items()
        },
        "worker_rss_mb": {function: row["real"]["rss_mb"] for function, row in warm.items() if "real" in row},
        "cost_per_million_orders_usd": costs.get("per_million_lifecycles_usd"),
        "cost_floor_per_million_orders_usd": costs.get("floor_per_million_lifecycles_usd"),
        # Issue 19's recovery commands on loopback (bench/recovery.py).
        "redrive_events_per_second": (recovered.get("redrive") or {}).get("events_per_second"),
        "backfill_events_per_second": (recovered.get("backfill") or {}).get("events_per_second"),
        "backfill_read_units_per_1000_orders": (recovered.get("backfill") or {}).get(
            "read_units_per_1000_orders"
        ),
        # Issue 20's tracing (bench/tracing.py): the chosen tracer's cold cost over no in-function spans, and
        # what an unreachable agent adds to a warm request's p50.
        "tracing_cold_over_none_ms": {
            candidate: row.get("over_none_ms")
            for candidate, row in ((data.get("tracing") or {}).get("candidates") or {}).items()
        },
        "tracing_agent_down_overhead_ms": (data.get("tracing") or {}).get("agent_down_overhead_ms"),
    }


def _cross_user_headline(measured: dict[str, Any] | None) -> dict[str, Any] | None:
    if not measured or "error" in measured:
        return None
    pages = ("status_page", "all_status_page", "single_key_page")
    return {
        "page_size": measured["page_size"],
        "orders": measured["orders"],
        "status_index_shards": measured["status_index_shards"],
        **{page: {"calls": measured[page]["dynamodb_calls"], "rru": measured[page]["rru"]} for page in pages},
        "ratio": measured["ratio"],
    }


def write(data: dict[str, Any], out_dir: Path, stem: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, text in (
        (".json", json.dumps(data, indent=2, default=str) + "\n"),
        (".md", report.markdown(data)),
    ):
        path = out_dir / f"{stem}{suffix}"
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text)
        temporary.replace(path)
        paths.append(path)
    return paths[0], paths[1]


def draw(data: dict[str, Any], out_dir: Path, stem: str) -> Path | None:
    """The headline figures as `<stem>.png` beside the markdown (bench/chart.py); None if it cannot be drawn."""
    try:
        return chart.render(data, out_dir / f"{stem}.png")
    except Exception:  # noqa: BLE001 - the results are written already; say why the image is missing
        traceback.print_exc(file=sys.stderr)
        return None


def main(mode_name: str, out_dir: Path | None, only: set[str] | None, quiet: bool = False) -> int:
    mode = MODES[mode_name]
    out_dir = out_dir or RESULTS
    stem = "latest" if mode_name == "full" else mode_name
    data = run(mode, out_dir, only, verbose=not quiet)
    json_path, md_path = write(data, out_dir, stem)
    png_path = draw(data, out_dir, stem)
    if not quiet:
        print(report.console(data))
    print(
        f"[bench] results: {json_path}, {md_path} and {png_path or '(no chart)'} ({data['total_seconds']:.0f} s)",
        file=sys.stderr,
    )
    if png_path is None:
        print("[bench] the chart could not be drawn (traceback above)", file=sys.stderr)
        return 1
    if data["failed"]:
        print(f"[bench] failed rows: {', '.join(data['failed'])}", file=sys.stderr)
        return 1
    return 0
