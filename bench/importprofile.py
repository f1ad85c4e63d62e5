"""Where a cold start's import time goes: `python -X importtime` on each real function's environment, through
its import and first invocation (lazy imports, e.g. boto3 when the first client is built, count too).

And why (issue 20): every module our code (the handler, the `orders` layer) imports, or that is imported
lazily at the top of the tree, is an *entry*. An entry the function's raw-boto3 baseline also imports costs
both the same; any other must have a reason in `REASONS` (what the function's requests use it for). The
profile lists each function's entries over 5 ms (cumulative) with their reasons, and names the entries
without one (`unjustified`): tests/bench/test_bench_smoke.py fails on any, whatever its size.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any

from bench.infra import FUNCTIONS, Infra
from bench.latency import spawn
from bench.scenario import Scenario
from bench.stats import median

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)\s*$")
REPORTED_OVER_MS = 5.0
BASELINE_REASON = "the baseline imports it too (the same cost in both)"

# Why a function's requests need each entry its baseline does not import. A key names a module ("x.y") or a
# package with everything in it ("x.*"); what a justified entry imports comes with it. Keep each reason to
# the request path that uses it: a reason nobody can point at a request for is no reason.
_OBSERVABILITY = {
    "aws_lambda_powertools": "Logger and Metrics wrap every invocation: JSON logs with the request's correlation "
    "id and cold-start flag, CloudWatch metrics (EMF) flushed at its end (the package's __init__ loads both)",
}
_API = {
    **_OBSERVABILITY,
    "aws_lambda_powertools.logging.correlation_paths": "where the Logger finds each request's correlation id "
    "(API Gateway's requestId)",
    "simplejson": "exact Decimal JSON: every answer's body (orders.domain.jsonio.dumps), and request bodies "
    "parsed with Decimal numbers (orders.http.api.loads_body)",
}
_VALIDATED_BODY = {
    "pydantic.*": "the request body's model validates it (orders.domain.models) and the order the answer and the "
    "table are written from is built as a model",
    "annotated_types": "pydantic's constraint markers, which the body's models declare (lengths, ranges)",
}
REASONS: dict[str, dict[str, str]] = {
    "health": {
        "__future__": "the handler's `from __future__ import annotations`: its annotations are never evaluated, "
        "so it never loads typing"
    },
    "get_order": _API,
    "list_user_orders": _API,
    "create_order": {**_API, **_VALIDATED_BODY},
    # Its valid requests load no pydantic (the body read from orders.domain.bodies, the answer from the
    # item through orders.storage.wire): an invalid body is Powertools' to refuse, off the cold path.
    "update_order_status": _API,
    "order_events": {
        **_OBSERVABILITY,
        "simplejson": "exact Decimal JSON: each event's detail (orders.events.bus) carries the order's money",
        "aws_lambda_powertools.shared.dynamodb_deserializer": "decodes each stream record's images as "
        "Powertools' DynamoDBRecord does (orders.events.batch), numbers as Decimal",
    },
}


def parse(text: str) -> list[tuple[str, int, int, int]]:
    """(module, self us, cumulative us, depth) for every `-X importtime` line."""
    rows = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            rows.append((match.group(4), int(match.group(1)), int(match.group(2)), depth))
    return rows


def children_of(rows: list[tuple[str, int, int, int]], parent: str) -> dict[str, int]:
    """Cumulative us of each direct import of `parent` (importtime prints children before their parent)."""
    pending: dict[str, int] = {}
    for module, _, cumulative_us, depth in rows:
        if depth == 1:
            pending[module] = cumulative_us
        elif depth == 0:
            if module == parent:
                return pending
            pending = {}
    return {}


def _package_totals(rows: list[tuple[str, int, int, int]]) -> dict[str, int]:
    """Self time summed per top-level package (what deferring a whole dependency would save)."""
    totals: dict[str, int] = defaultdict(int)
    for module, self_us, _, _ in rows:
        totals[module.split(".")[0]] += self_us
    return dict(totals)


def reason_for(function: str, module: str) -> str | None:
    """Why `function` imports `module` (an entry its baseline does not import), or None."""
    reasons = REASONS.get(function, {})
    if module in reasons:
        return reasons[module]
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        if (key := ".".join(parts[:length]) + ".*") in reasons:
            return reasons[key]
    return None


def _ours(module: str) -> bool:
    return module in {"app", "orders"} or module.startswith("orders.")


def entries(
    rows: list[tuple[str, int, int, int]], baseline: Collection[str] = ()
) -> dict[str, tuple[int, int]]:
    """Each module our code imports itself (a child of `app` or of an `orders` module) or that is imported at
    the top of the tree (lazily, from a function): the imports our code answers for. Our own modules are not
    entries (their imports are). Per entry: its cumulative us, and the self us of those modules of its subtree
    that the baseline does not import (what it adds; the rest the baseline pays too)."""
    found: dict[str, tuple[int, int]] = {}
    # depth -> (module, cumulative us, beyond-baseline us) of the rows awaiting their parent
    pending: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    for module, self_us, cumulative_us, depth in rows:
        children = pending.pop(depth + 1, [])
        if _ours(module):
            found.update((child, (cum, own)) for child, cum, own in children if not _ours(child))
        beyond = (0 if module in baseline else self_us) + sum(own for _, _, own in children)
        pending[depth].append((module, cumulative_us, beyond))
    found.update((module, (cum, own)) for module, cum, own in pending.get(0, []) if not _ours(module))
    return found


def justification(
    function: str, runs: list[list[tuple[str, int, int, int]]], baseline_modules: set[str]
) -> dict[str, Any]:
    """The function's entries over `REPORTED_OVER_MS` (median cumulative ms; `beyond_baseline_ms`: the part of
    it in modules the baseline does not import) with their reasons, and every entry, whatever its size, that
    neither the baseline imports nor `REASONS` justifies."""
    times: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for rows in runs:
        for module, us in entries(rows, baseline_modules).items():
            times[module].append(us)
    listed, unjustified = [], []
    for module, samples in sorted(times.items(), key=lambda item: -median([cum for cum, _ in item[1]])):
        reason = BASELINE_REASON if module in baseline_modules else reason_for(function, module)
        if reason is None:
            unjustified.append(module)
        ms = median([cum for cum, _ in samples]) / 1000
        if ms > REPORTED_OVER_MS:
            beyond = median([own for _, own in samples]) / 1000
            listed.append(
                {
                    "module": module,
                    "ms": round(ms, 1),
                    "beyond_baseline_ms": round(beyond, 1),
                    "reason": reason,
                }
            )
    return {"over_5ms": listed, "unjustified": unjustified}


def _baseline_modules(infra: Infra, scenario: Scenario, function: str, logs: Path) -> set[str]:
    spec = infra.baseline_spec(function, scenario.table(function))
    spec = type(spec)(**{**spec.__dict__, "python_options": ("-X", "importtime")})
    worker = spawn(spec, scenario.event(function, "baseline"), logs / "importtime" / f"{function}-baseline")
    worker.close()
    return {row[0] for row in parse(worker.log_path.read_text(errors="replace"))}


def run(
    infra: Infra,
    scenario: Scenario,
    runs: int,
    logs: Path,
    *,
    functions: tuple[str, ...] = FUNCTIONS,
    top: int = 10,
) -> dict[str, Any]:
    """Per real function: the modules with the most self time, the handler's direct imports (cumulative),
    self time per package, what the real function imports that its baseline does not (the product's
    own import cost: its modules, Powertools, pydantic, the tracer ...), and why (`justification`)."""
    profile: dict[str, Any] = {}
    for function in functions:
        baseline_modules = _baseline_modules(infra, scenario, function, logs)
        samples: dict[str, list[int]] = defaultdict(list)
        cumulative: dict[str, list[int]] = defaultdict(list)
        packages: dict[str, list[int]] = defaultdict(list)
        handler_children: dict[str, list[int]] = defaultdict(list)
        totals = []
        parsed = []
        for number in range(runs):
            spec = infra.real_spec(function, scenario.table(function), options=("-X", "importtime"))
            log_dir = logs / "importtime" / f"{function}-{number}"
            worker = spawn(spec, scenario.event(function, "real"), log_dir)
            worker.close()
            rows = parse(worker.log_path.read_text(errors="replace"))
            parsed.append(rows)
            totals.append(sum(row[1] for row in rows))
            for module, self_us, cumulative_us, depth in rows:
                samples[module].append(self_us)
                if depth == 0:
                    cumulative[module].append(cumulative_us)
            for module, us in children_of(rows, spec.handler.rpartition(".")[0]).items():
                handler_children[module].append(us)
            for package, us in _package_totals(rows).items():
                packages[package].append(us)
        by_self = sorted(((median(v) / 1000, m) for m, v in samples.items()), reverse=True)[:top]
        by_cumulative = sorted(((median(v) / 1000, m) for m, v in cumulative.items()), reverse=True)[:top]
        by_package = sorted(((median(v) / 1000, m) for m, v in packages.items()), reverse=True)[:top]
        extra = {m: median(v) / 1000 for m, v in samples.items() if m not in baseline_modules}
        extra_packages: dict[str, float] = defaultdict(float)
        for module, ms in extra.items():
            extra_packages[module.split(".")[0]] += ms
        by_child = sorted(((median(v) / 1000, m) for m, v in handler_children.items()), reverse=True)[:top]
        profile[function] = {
            "total_import_ms": median(totals) / 1000 if totals else 0.0,
            "top_self_ms": [{"module": m, "ms": round(ms, 2)} for ms, m in by_self],
            "top_cumulative_top_level_ms": [{"module": m, "ms": round(ms, 2)} for ms, m in by_cumulative],
            "handler_imports_ms": [{"module": m, "ms": round(ms, 2)} for ms, m in by_child],
            "by_package_ms": [{"package": m, "ms": round(ms, 2)} for ms, m in by_package],
            "not_in_baseline": {
                "modules": len(extra),
                "self_ms": round(sum(extra.values()), 1),
                "by_package_ms": [
                    {"package": p, "ms": round(ms, 1)}
                    for p, ms in sorted(extra_packages.items(), key=lambda item: -item[1])[:top]
                ],
                "top_self_ms": [
                    {"module": m, "ms": round(ms, 2)}
                    for m, ms in sorted(extra.items(), key=lambda i: -i[1])[:top]
                ],
            },
            "runs": runs,
            **justification(function, parsed, baseline_modules),
        }
    return profile
