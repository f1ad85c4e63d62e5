"""Issue 20's keyed create under network latency: keyed ÷ unkeyed create, warm p50, with DynamoDB's and the
upstream services' answers delayed as a network and a managed service delay them.

On loopback (the latency row) a DynamoDB round trip to moto (~2 ms) is three times an upstream stub's
(~0.65 ms), so the claim a keyed create makes while the buyer is checked outlasts the check and delays the
reservation by most of a round trip. Where both take what they take on AWS, the claim ends inside the buyer
check. Each profile here runs the real create against a moto of its own that sleeps before answering every
DynamoDB request (`BENCH_DYNAMODB_DELAY_MS`, outside any lock: concurrent requests wait side by side) and
stubs of their own that sleep before every contract call (their `slow` fault at rate 1); the keyed and
unkeyed creates take turns in chunks in one warm worker, through the latency row's own warm phase. The delays
are injected, not measured on AWS: the profiles say which (`loopback` injects none, for comparison in the same
run). Each profile also reports the CPU the function, moto, and the stubs with the harness spend per create
(bench/cpu.py): a sleep costs none, so the CPU ratio says what a key adds as work wherever it runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench import latency
from bench.cpu import CpuMeter
from bench.infra import Infra, MotoProcess, UdpSink, start_stubs
from bench.scenario import Scenario

# (name, DynamoDB delay ms, upstream delay ms). DynamoDB answers a single-item write in single-digit
# milliseconds in the same region; the user and inventory services are HTTP services of their own.
PROFILES = (
    ("loopback", 0.0, 0.0),
    ("dynamodb 5 ms, upstream 5 ms", 5.0, 5.0),
    ("dynamodb 5 ms, upstream 20 ms", 5.0, 20.0),
)
FUNCTION = "create_order"
TABLE = "bench-keyed-latency"


def _profile(
    base: Infra,
    scenario: Scenario,
    *,
    dynamodb_ms: float,
    upstream_ms: float,
    invocations: int,
    chunk: int,
    logs: Path,
) -> dict[str, Any]:
    """The latency row's warm phase for the real create alone (its keyed and unkeyed turns), against this
    profile's own moto and stubs."""
    from local.stubs.upstream import FaultPlan

    stubs = start_stubs()
    if upstream_ms:
        stubs.stubs.faults = FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=upstream_ms / 1000)
    delayed = Infra(
        moto=MotoProcess(logs / "moto.log", delay_ms=dynamodb_ms),
        stubs=stubs,
        xray=UdpSink(),
        work_dir=logs,
        site=base.site,
    )
    worker = None
    try:
        spec = delayed.real_spec(FUNCTION, delayed.ensure_table(TABLE))
        worker = latency.spawn(spec, scenario.event(FUNCTION, "real"), logs)
        # The stubs serve from a thread of this process, which also drives the worker.
        cpu = CpuMeter(
            {
                "function": worker.process.pid,
                "moto": delayed.moto.process.pid,
                "stubs and harness": os.getpid(),
            }
        )
        row = latency.warm_phase(
            delayed,
            scenario,
            {FUNCTION: {"real": worker}},
            invocations=invocations,
            warmup=chunk,
            chunk=chunk,
            cpu=cpu,
        ).per_function[FUNCTION]
    finally:
        if worker is not None and worker.process.poll() is None:
            worker.close()
        delayed.close()
    keyed, unkeyed = row["real"], row[latency.UNKEYED]
    return {
        "dynamodb_delay_ms": dynamodb_ms,
        "upstream_delay_ms": upstream_ms,
        "n": keyed["n"],
        "keyed_p50_ms": keyed["p50_ms"],
        "unkeyed_p50_ms": unkeyed["p50_ms"],
        "keyed_ratio_p50": row["keyed_ratio_p50"],
        # ms of CPU per create by process (bench/cpu.py), and keyed ÷ unkeyed of their totals.
        "cpu_ms_per_create": {
            "keyed": keyed["cpu_ms_per_invocation"],
            "unkeyed": unkeyed["cpu_ms_per_invocation"],
        },
        "keyed_cpu_ratio": row["keyed_cpu_ratio"],
        "errors": {"keyed": keyed["errors"], "unkeyed": unkeyed["errors"]},
        "error_samples": (keyed["error_samples"] + unkeyed["error_samples"])[:3],
    }


def run(base: Infra, scenario: Scenario, invocations: int, chunk: int, logs: Path) -> dict[str, Any]:
    """Each profile's keyed and unkeyed warm p50 and their ratio; raises if any create was not a 201."""
    profiles = {}
    for name, dynamodb_ms, upstream_ms in PROFILES:
        folder = logs / "keyed-latency" / name.replace(" ", "-").replace(",", "")
        folder.mkdir(parents=True, exist_ok=True)
        profiles[name] = measured = _profile(
            base,
            scenario,
            dynamodb_ms=dynamodb_ms,
            upstream_ms=upstream_ms,
            invocations=invocations,
            chunk=chunk,
            logs=folder,
        )
        if any(measured["errors"].values()):
            raise RuntimeError(f"keyed latency, {name}: creates failed: {measured['error_samples']}")
    return {"profiles": profiles, "injected": "sleeps in moto and in the stubs, not AWS measurements"}
