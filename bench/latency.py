"""Cold starts (spawn -> first answer, from the parent) and warm latency, real and baseline side by side.

Cold: every run spawns each function's real and baseline environment in turn (the order alternates run by
run); the last run's processes stay alive and become the warm workers. Warm: after a discarded warm-up,
the two workers take turns in chunks until each has served `warm_invocations`; durations are measured
around the handler call inside the worker (what Lambda bills). Then each worker reports its memory.
The real create's worker also serves creates without an Idempotency-Key (`UNKEYED`), in chunks of their own
taking turns with the others, so that the keyed create is measured against the unkeyed one side by side.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import events
from bench.cpu import CpuMeter
from bench.infra import FUNCTIONS, Infra
from bench.scenario import Scenario
from bench.stats import median, percentile, ratio
from bench.workers import RunResult, Worker, WorkerSpec

SAMPLED_EVERY = 20  # Lambda's default X-Ray sampling beyond the first request each second: 5%
# The real create without an Idempotency-Key, served by the real create's worker (the real variant's events
# carry a fresh key each).
UNKEYED = "unkeyed"


@dataclass
class ColdResult:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = field(
        default_factory=dict
    )  # function -> variant -> runs

    def add(self, function: str, variant: str, worker: Worker) -> None:
        first = worker.first
        self.runs.setdefault(function, {}).setdefault(variant, []).append(
            {
                "cold_ms": first.cold_ms,
                "import_ms": first.import_ms,
                "invoke_ms": first.invoke_ms,
                "status": first.status,
                "error": first.error,
            }
        )

    def summary(self, expected: dict[str, int]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for function, variants in self.runs.items():
            row: dict[str, Any] = {}
            for variant, runs in variants.items():
                row[variant] = {
                    "median_ms": median([run["cold_ms"] for run in runs]),
                    "min_ms": min(run["cold_ms"] for run in runs),
                    "max_ms": max(run["cold_ms"] for run in runs),
                    "import_median_ms": median([run["import_ms"] or 0 for run in runs]),
                    "first_invoke_median_ms": median([run["invoke_ms"] or 0 for run in runs]),
                    "runs": len(runs),
                    "failed_runs": sum(run["status"] != expected.get(function, 200) for run in runs),
                    "errors": sorted({run["error"] for run in runs if run["error"]})[:3],
                }
            if "real" in row and "baseline" in row:
                row.update(paired_ratio(variants["real"], variants["baseline"]))
            out[function] = row
        return out


def paired_ratio(real: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of run-by-run ratios: each run spawns the two back to back, so a slow moment on a shared
    machine hits both sides of one ratio rather than one side of the medians."""
    pairs = [
        r["cold_ms"] / b["cold_ms"]
        for r, b in zip(real, baseline, strict=False)
        if r["cold_ms"] and b["cold_ms"]
    ]
    return {
        "ratio": median(pairs) if pairs else None,
        "ratio_of_medians": ratio(
            median([r["cold_ms"] for r in real]), median([b["cold_ms"] for b in baseline])
        ),
    }


def spawn(spec: WorkerSpec, event: dict[str, Any], logs: Path) -> Worker:
    logs.mkdir(parents=True, exist_ok=True)
    return Worker(spec, event, logs / f"{spec.name.replace('/', '-')}.log")


def cold_phase(
    infra: Infra,
    scenario: Scenario,
    runs: int,
    *,
    prime: bool,
    logs: Path,
    functions: tuple[str, ...] = FUNCTIONS,
) -> tuple[ColdResult, dict[str, dict[str, Worker]]]:
    result = ColdResult()
    kept: dict[str, dict[str, Worker]] = {}
    specs = {
        function: {
            "real": infra.real_spec(function, scenario.table(function)),
            "baseline": infra.baseline_spec(function, scenario.table(function)),
        }
        for function in functions
    }
    if prime:
        # Bytecode for every module either variant imports, written once, so that no timed run compiles.
        for function in functions:
            for variant, spec in specs[function].items():
                spawn(spec, scenario.event(function, variant), logs / "prime").close()
    for run in range(runs):
        last = run == runs - 1
        for function in functions:
            order = ("real", "baseline") if run % 2 == 0 else ("baseline", "real")
            for variant in order:
                worker = spawn(specs[function][variant], scenario.event(function, variant), logs / "cold")
                result.add(function, variant, worker)
                if last:
                    kept.setdefault(function, {})[variant] = worker
                else:
                    worker.close()
    return result, kept


def cold_variants(
    scenario: Scenario,
    runs: int,
    logs: Path,
    specs: dict[str, Callable[[str], WorkerSpec]],
    functions: tuple[str, ...] = FUNCTIONS,
) -> dict[str, dict[str, Any]]:
    """Cold starts under other settings (tracer off, no bytecode), each run spawning every setting and the
    baseline back to back (the order rotating run by run), so that each ratio is taken side by side."""
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        f: {label: [] for label in specs} for f in functions
    }
    labels = list(specs)
    for run in range(runs):
        order = labels[run % len(labels) :] + labels[: run % len(labels)]
        for function in functions:
            for label in order:
                variant = "baseline" if label == "baseline" else "real"
                worker = spawn(specs[label](function), scenario.event(function, variant), logs / label)
                samples[function][label].append(
                    {
                        "cold_ms": worker.first.cold_ms,
                        "ok": worker.first.status == scenario.expected(function),
                    }
                )
                worker.close()
    out: dict[str, dict[str, Any]] = {}
    for function, by_label in samples.items():
        row: dict[str, Any] = {}
        for label, values in by_label.items():
            row[label] = {
                "median_ms": median([value["cold_ms"] for value in values]),
                "runs": len(values),
                "failed_runs": sum(not value["ok"] for value in values),
            }
            if label != "baseline" and "baseline" in by_label:
                row[label].update(paired_ratio(values, by_label["baseline"]))
        out[function] = row
    return out


@dataclass
class WarmResult:
    per_function: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw_ms: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # for the cost model


def _describe(run: RunResult, expected: int) -> dict[str, Any]:
    ms = [value / 1e6 for value in run.ns]
    io = [value / 1e6 for value in run.io_ns]
    own = [total - waiting for total, waiting in zip(ms, io, strict=True)]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
        "billed_mean_ms": sum(math.ceil(value) for value in ms) / len(ms) if ms else float("nan"),
        "io_p50_ms": percentile(io, 50),
        "own_p50_ms": percentile(own, 50),  # handler time not spent waiting on HTTP (DynamoDB, upstream)
        "errors": sum(status != expected for status in run.status),
        "error_samples": run.errors[:3],
    }


def _turns(function: str, workers: dict[str, Worker]) -> tuple[str, ...]:
    """What takes turns in the warm phase: each variant, and for create the unkeyed create too."""
    turns = tuple(variant for variant in ("real", "baseline") if variant in workers)
    return (*turns, UNKEYED) if function == "create_order" and "real" in workers else turns


def _events(scenario: Scenario, function: str, turn: str, count: int) -> list[dict[str, Any]]:
    if turn == UNKEYED:
        return [events.create_order(None) for _ in range(count)]
    return scenario.events(function, turn, count)


def warm_phase(
    infra: Infra,
    scenario: Scenario,
    kept: dict[str, dict[str, Worker]],
    *,
    invocations: int,
    warmup: int,
    chunk: int,
    cpu: CpuMeter | None = None,
) -> WarmResult:
    """`cpu`: also the CPU its processes spend on each turn (`cpu_ms_per_invocation`; bench/cpu.py)."""
    result = WarmResult()
    for function, workers in kept.items():
        expected = scenario.expected(function)
        turns = _turns(function, workers)
        worker_of = {turn: workers["real" if turn == UNKEYED else turn] for turn in turns}
        runs = {turn: RunResult() for turn in turns}
        if warmup:
            for turn in turns:
                worker_of[turn].run(_events(scenario, function, turn, warmup))
        log_bytes = dict.fromkeys(turns, 0)
        xray_before = (infra.xray.datagrams, infra.xray.bytes)
        sampled_count = 0
        chunks = math.ceil(invocations / chunk)
        for index in range(chunks):
            size = min(chunk, invocations - index * chunk)
            # Each chunk in another order (real, baseline and unkeyed rotating), so no one always goes first.
            shift = index % len(turns)
            for turn in turns[shift:] + turns[:shift]:
                worker = worker_of[turn]
                sampled = [(index * chunk + i) % SAMPLED_EVERY == 0 for i in range(size)]
                if turn == "real":
                    sampled_count += sum(sampled)
                before = worker.log_bytes()
                batch = _events(scenario, function, turn, size)
                with cpu.measure(turn, size) if cpu is not None else contextlib.nullcontext():
                    ran = worker.run(batch, sampled)
                runs[turn].extend(ran)
                log_bytes[turn] += worker.log_bytes() - before
        row: dict[str, Any] = {}
        for turn in turns:
            described = _describe(runs[turn], expected)
            described["log_bytes_per_invocation"] = log_bytes[turn] / max(invocations, 1)
            if cpu is not None:
                described["cpu_ms_per_invocation"] = cpu.per_invocation(turn)
            row[turn] = described
        for variant, worker in workers.items():
            memory = worker.stats()
            # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec.
            row[variant]["rss_mb"] = (memory.get("vm_hwm_kb") or memory["ru_maxrss_kb"]) / 1024
            row[variant]["rss_now_mb"] = (memory.get("vm_rss_kb") or 0) / 1024
            result.raw_ms.setdefault(function, {})[variant] = [value / 1e6 for value in runs[variant].ns]
            worker.close()
        row["xray_segments_per_sampled_invocation"] = (infra.xray.datagrams - xray_before[0]) / max(
            sampled_count, 1
        )
        row["xray_bytes_per_sampled_invocation"] = (infra.xray.bytes - xray_before[1]) / max(sampled_count, 1)
        if "real" in row and "baseline" in row:
            row["ratio_p50"] = ratio(row["real"]["p50_ms"], row["baseline"]["p50_ms"])
            row["ratio_p99"] = ratio(row["real"]["p99_ms"], row["baseline"]["p99_ms"])
            row["overhead_p50_ms"] = row["real"]["p50_ms"] - row["baseline"]["p50_ms"]
        if UNKEYED in row:
            # What an Idempotency-Key costs a create: keyed (the real variant) over unkeyed, same worker.
            row["keyed_ratio_p50"] = ratio(row["real"]["p50_ms"], row[UNKEYED]["p50_ms"])
            if cpu is not None:
                keyed_cpu, unkeyed_cpu = (row[turn]["cpu_ms_per_invocation"] for turn in ("real", UNKEYED))
                row["keyed_cpu_ratio"] = ratio(
                    keyed_cpu and keyed_cpu["total"], unkeyed_cpu and unkeyed_cpu["total"]
                )
        result.per_function[function] = row
    return result
