"""Issue 20's keyed create under network latency: keyed ÷ unkeyed create, warm p50, with DynamoDB's and the
upstream services' answers delayed as a network and a managed service delay them.

On loopback (the latency row) a DynamoDB round trip to moto (~2 ms) is three times an upstream stub's
(~0.65 ms), so the claim a keyed create makes while the buyer is checked outlasts the check and delays the
reservation by most of a round trip. Where both take what they take on AWS, the claim ends inside the buyer
check. Each profile here runs the real create against a moto of its own that sleeps before answering every
DynamoDB request (`BENCH_DYNAMODB_DELAY_MS`, outside any lock: concurrent requests wait side by side) and
stubs of their own that sleep before every contract call (their `slow` fault at rate 1); the keyed and
unkeyed creates take turns in chunks in one warm worker, as in the latency row. The delays are injected,
not measured on AWS: the profiles say which (`loopback` injects none, for comparison in the same run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import events
from bench.infra import Infra, MotoProcess, UdpSink
from bench.stats import percentile, ratio
from bench.workers import Worker

# (name, DynamoDB delay ms, upstream delay ms). DynamoDB answers a single-item write in single-digit
# milliseconds in the same region; the user and inventory services are HTTP services of their own.
PROFILES = (
    ("loopback", 0.0, 0.0),
    ("dynamodb 5 ms, upstream 5 ms", 5.0, 5.0),
    ("dynamodb 5 ms, upstream 20 ms", 5.0, 20.0),
)
KEYED, UNKEYED = "keyed", "unkeyed"
TABLE = "bench-keyed-latency"
CREATED = 201


def _profile(
    base: Infra, *, dynamodb_ms: float, upstream_ms: float, invocations: int, chunk: int, logs: Path
) -> dict[str, Any]:
    from local.stubs.upstream import FaultPlan, StubServer

    moto = MotoProcess(logs / "moto.log", delay_ms=dynamodb_ms)
    stubs = StubServer().start()
    for product in stubs.stubs.products.values():
        product["stock"] = max(product["stock"], 10**9)
    if upstream_ms:
        stubs.stubs.faults = FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=upstream_ms / 1000)
    xray = UdpSink()
    infra = Infra(moto=moto, stubs=stubs, xray=xray, work_dir=logs, site=base.site)
    worker = None
    try:
        spec = infra.real_spec("create_order", infra.ensure_table(TABLE))
        worker = Worker(spec, events.create_order(), logs / "create_order-real.log")
        durations: dict[str, list[float]] = {KEYED: [], UNKEYED: []}
        errors: dict[str, int] = dict.fromkeys(durations, 0)
        samples: list[str] = []
        worker.run([events.create_order(None) for _ in range(min(chunk, invocations))])  # warm-up, discarded
        for index in range((invocations + chunk - 1) // chunk):
            size = min(chunk, invocations - index * chunk)
            # Each chunk in the other order, so neither always goes first.
            for turn in (KEYED, UNKEYED) if index % 2 == 0 else (UNKEYED, KEYED):
                answered = worker.run(
                    [events.create_order("fresh" if turn == KEYED else None) for _ in range(size)]
                )
                durations[turn] += [value / 1e6 for value in answered["ns"]]
                errors[turn] += sum(status != CREATED for status in answered["status"])
                samples += (answered.get("errors") or [])[:1]
        p50 = {turn: percentile(values, 50) for turn, values in durations.items()}
        return {
            "dynamodb_delay_ms": dynamodb_ms,
            "upstream_delay_ms": upstream_ms,
            "n": len(durations[KEYED]),
            "keyed_p50_ms": p50[KEYED],
            "unkeyed_p50_ms": p50[UNKEYED],
            "keyed_ratio_p50": ratio(p50[KEYED], p50[UNKEYED]),
            "errors": errors,
            "error_samples": samples[:3],
        }
    finally:
        if worker is not None:
            worker.close()
        stubs.stop()
        xray.close()
        moto.stop()


def run(base: Infra, invocations: int, chunk: int, logs: Path) -> dict[str, Any]:
    """Each profile's keyed and unkeyed warm p50 and their ratio; raises if any create was not a 201."""
    profiles = {}
    for name, dynamodb_ms, upstream_ms in PROFILES:
        folder = logs / "keyed-latency" / name.replace(" ", "-").replace(",", "")
        folder.mkdir(parents=True, exist_ok=True)
        profiles[name] = measured = _profile(
            base,
            dynamodb_ms=dynamodb_ms,
            upstream_ms=upstream_ms,
            invocations=invocations,
            chunk=chunk,
            logs=folder,
        )
        if any(measured["errors"].values()):
            raise RuntimeError(f"keyed latency, {name}: creates failed: {measured['error_samples']}")
    return {"profiles": profiles, "injected": "sleeps in moto and in the stubs, not AWS measurements"}
