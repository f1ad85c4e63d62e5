"""The results as a table (console and bench/results/*.md) and the targets they are held to: the targets in
targets.py, the sections (one function each) in tables.py, cell formatting in cells.py."""

from __future__ import annotations

from typing import Any

from bench.report.tables import sections
from bench.report.targets import TARGETS, targets

__all__ = ["TARGETS", "console", "markdown", "sections", "targets"]


def markdown(data: dict[str, Any]) -> str:
    machine = data.get("machine") or {}
    head = [
        f"# Order Service benchmark ({data.get('mode')} run, {data.get('started_at')})",
        "",
        (
            f"Machine: {machine.get('cpu')} × {machine.get('cpus')} ({machine.get('arch')}), Python {machine.get('python')}, "
            f"commit {machine.get('git_commit')}. Everything on loopback: moto server (DynamoDB, EventBridge), user and "
            f"inventory stubs. Ratios are real ÷ raw-boto3 baseline, measured side by side in this run."
        ),
        "",
    ]
    load = [machine.get("load_average_at_start"), machine.get("load_average_at_end")]
    if all(load):
        head += [
            (
                f"Load average (1 min) at start / end: {load[0][0]:.2f} / {load[1][0]:.2f} on {machine.get('cpus')} CPUs "
                "(other work on the machine adds noise to absolute times; real and baseline are interleaved, so ratios "
                "suffer less)."
            ),
            "",
        ]
    verdicts = data.get("targets") or {}
    failing = [name for name, verdict in verdicts.items() if verdict == "FAIL"]
    head += [
        f"Targets: {sum(v == 'pass' for v in verdicts.values())} pass, {len(failing)} fail"
        + (f" ({'; '.join(failing)})" if failing else "")
        + ".",
        "",
    ]
    tail = []
    if data.get("failed"):
        tail += (
            ["### Rows that failed", ""]
            + [f"- {name}: {error}" for name, error in data["failed"].items()]
            + [""]
        )
    if data.get("skipped"):
        tail += (
            ["### Not measured in this run", ""]
            + [f"- {name}: {why}" for name, why in data["skipped"].items()]
            + [""]
        )
    return "\n".join(head + sections(data) + tail)


def console(data: dict[str, Any]) -> str:
    return markdown(data)
