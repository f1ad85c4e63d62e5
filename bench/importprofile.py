"""Where a cold start's import time goes: `python -X importtime` on each real function's environment, through
its import and first invocation (lazy imports, e.g. boto3 when the first client is built, count too)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.infra import FUNCTIONS, Infra
from bench.latency import spawn
from bench.scenario import Scenario
from bench.stats import median

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)\s*$")


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
    self time per package, and what the real function imports that its baseline does not (the product's
    own import cost: its modules, Powertools, pydantic, the X-Ray SDK ...)."""
    profile: dict[str, Any] = {}
    for function in functions:
        baseline_modules = _baseline_modules(infra, scenario, function, logs)
        samples: dict[str, list[int]] = defaultdict(list)
        cumulative: dict[str, list[int]] = defaultdict(list)
        packages: dict[str, list[int]] = defaultdict(list)
        handler_children: dict[str, list[int]] = defaultdict(list)
        totals = []
        for number in range(runs):
            spec = infra.real_spec(function, scenario.table(function), options=("-X", "importtime"))
            log_dir = logs / "importtime" / f"{function}-{number}"
            worker = spawn(spec, scenario.event(function, "real"), log_dir)
            worker.close()
            rows = parse(worker.log_path.read_text(errors="replace"))
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
        }
    return profile
