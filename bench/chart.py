"""The bench's headline figures as one image, from a results JSON (what bench/results/*.md is made from):
cold start and warm p50 per function, each ÷ its raw-boto3 baseline, against the targets; the cost of a
million order lifecycles, item by item, beside the floor and the baseline.

    .venv/bin/python -m bench.chart bench/results/latest.json [OUT.png]    # default: beside the JSON

`make bench` draws it beside latest.md (`run.draw`). matplotlib, Agg backend (no display needed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.infra import FUNCTIONS
from bench.report import TARGETS
from bench.report.targets import _verdict, cold_start_limit

REAL, BASELINE, LIBRARIES, FLOOR = "#1f6feb", "#8c959f", "#d4a72c", "#2da44e"
FAIL = "#cf222e"
MIN_LABELLED_COST = 0.9  # $ per million: a narrower bar has no room for its label
# Cost items, in this order and these colours, in every bar.
COST_COLOURS = {
    "API Gateway HTTP API requests": "#1f6feb",
    "Lambda requests": "#8250df",
    "Lambda duration (GB-s)": "#bf8700",
    "DynamoDB writes (WRU)": "#cf222e",
    "DynamoDB reads (RRU)": "#fb8f44",
    "EventBridge events": "#2da44e",
}


def _patch(**kwargs):
    from matplotlib.patches import Patch

    return Patch(**kwargs)


# One bar: (function, real ÷ baseline, the baseline merely importing the libraries ÷ baseline, its target).
Row = tuple[str, float | None, float | None, float]


def bar_colours(rows: list[Row]) -> list[str]:
    """Each bar's colour against its own row's target (get and the consumer are held to less than the rest)."""
    return [REAL if _verdict(value, limit) == "pass" else FAIL for _, value, _, limit in rows]


def _ratio_panel(axes, title: str, rows: list[Row]) -> None:
    """Horizontal bars of real ÷ baseline per function; a dot for the baseline merely importing the
    libraries (where measured); a line at 1 (the baseline) and, across each bar, a mark at its target."""
    rows = [row for row in rows if row[1] is not None]
    if not rows:
        axes.text(0.5, 0.5, "not measured in this run", ha="center", va="center", transform=axes.transAxes)
        axes.set_title(title, loc="left", fontweight="bold")
        axes.set_axis_off()
        return
    labels = [label for label, _, _, _ in rows]
    positions = range(len(rows))
    values = [value for _, value, _, _ in rows]
    limits = [limit for _, _, _, limit in rows]
    colours = bar_colours(rows)
    axes.barh(positions, values, color=colours, height=0.6)
    for position, value in zip(positions, values, strict=True):
        axes.text(0.03, position, f"{value:.2f}×", ha="left", va="center", color="white", fontweight="bold")
    floor = [
        (position, libraries)
        for position, (_, _, libraries, _) in zip(positions, rows, strict=True)
        if libraries
    ]
    targets = " or ".join(f"{limit}×" for limit in sorted(set(limits), reverse=True))
    handles = [
        _patch(color=REAL, label=f"within its target (≤ {targets})"),
        _patch(color=FAIL, label="above its target"),
    ]
    if floor:
        handles.append(
            axes.scatter(
                [value for _, value in floor],
                [position for position, _ in floor],
                marker="D",
                s=40,
                color=LIBRARIES,
                edgecolor="black",
                linewidth=0.5,
                zorder=3,
                label="baseline merely importing the libraries",
            )
        )
    handles.append(axes.axvline(1.0, color="black", linewidth=1.2, label="baseline (raw boto3) = 1"))
    handles.append(
        axes.vlines(
            limits,
            [position - 0.4 for position in positions],
            [position + 0.4 for position in positions],
            color=FAIL,
            linestyle="--",
            linewidth=1.5,
            label="its target",
        )
    )
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()
    axes.set_xlim(0, max([*values, *limits, *(value for _, value in floor)]) * 1.08)
    axes.set_xlabel("real ÷ baseline (lower is better)")
    axes.set_title(title, loc="left", fontweight="bold")
    axes.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False
    )
    axes.grid(axis="x", alpha=0.3)


def _cost_panel(axes, costs: dict[str, Any]) -> None:
    """Stacked bars, $ per million order lifecycles, per item: real, the issue's floor, the baseline."""
    title = "$ per million order lifecycles (us-east-1 prices)"
    model = costs.get("real") or {}
    if not model:
        axes.text(0.5, 0.5, "not measured in this run", ha="center", va="center", transform=axes.transAxes)
        axes.set_title(title, loc="left", fontweight="bold")
        axes.set_axis_off()
        return
    bars = [("real", model["items_usd"]), ("floor", model["floor_items_usd"])]
    if costs.get("baseline"):
        bars.append(("raw-boto3 baseline", costs["baseline"]["items_usd"]))
    items = list(COST_COLOURS) + [item for item in model["items_usd"] if item not in COST_COLOURS]
    for position, (_, values) in enumerate(bars):
        left = 0.0
        for item in items:
            value = values.get(item, 0.0)
            if value <= 0:
                continue
            axes.barh(position, value, left=left, color=COST_COLOURS.get(item, BASELINE), height=0.6)
            if value >= MIN_LABELLED_COST:
                axes.text(
                    left + value / 2,
                    position,
                    f"{value:.1f}",
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=8,
                )
            left += value
        axes.text(left + 0.3, position, f"${left:.2f}", va="center", fontsize=10, fontweight="bold")
    axes.set_yticks(range(len(bars)), [label for label, _ in bars])
    axes.invert_yaxis()
    total = max(sum(values.values()) for _, values in bars)
    axes.set_xlim(0, total * 1.12)
    axes.set_xlabel("$ per 1M lifecycles (create, 2 gets, list, 3 status changes, their stream records)")
    ratio = model.get("ratio_to_floor")
    ratio_text = f"real ÷ floor {ratio:.2f}× (target ≤ {TARGETS['cost_ratio_to_floor']}×)" if ratio else ""
    axes.set_title(f"{title}: {ratio_text}", loc="left", fontweight="bold")
    handles = [_patch(color=COST_COLOURS.get(item, BASELINE), label=item) for item in items]
    axes.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=6, fontsize=8, frameon=False
    )
    axes.grid(axis="x", alpha=0.3)


def render(data: dict[str, Any], path: Path) -> Path:
    """Draw `data` (a bench results dict) into the PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    cold = data.get("cold_start") or {}
    variants = (data.get("cold_start_variants") or {}).get("per_function") or {}
    warm = data.get("warm") or {}
    cold_rows: list[Row] = [
        (
            function,
            (cold.get(function) or {}).get("ratio"),
            ((variants.get(function) or {}).get("libraries") or {}).get("ratio"),
            cold_start_limit(function),
        )
        for function in FUNCTIONS
    ]
    warm_rows: list[Row] = [
        (function, (warm.get(function) or {}).get("ratio_p50"), None, TARGETS["warm_ratio"])
        for function in FUNCTIONS
    ]

    figure = pyplot.figure(figsize=(13, 9.5), layout="constrained")
    grid = figure.add_gridspec(2, 2, height_ratios=[1.25, 1])
    _ratio_panel(
        figure.add_subplot(grid[0, 0]),
        "Cold start ÷ baseline (median of run-by-run ratios)",
        cold_rows,
    )
    _ratio_panel(figure.add_subplot(grid[0, 1]), "Warm p50 ÷ baseline", warm_rows)
    _cost_panel(figure.add_subplot(grid[1, :]), data.get("cost") or {})
    machine = data.get("machine") or {}
    figure.suptitle(
        f"Order Service benchmark: {data.get('mode')} run, {data.get('started_at')}, commit "
        f"{machine.get('git_commit')} ({machine.get('cpus')} × {machine.get('cpu')}, Python {machine.get('python')}; "
        "loopback, moto)",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    figure.savefig(temporary, format="png", dpi=110)
    pyplot.close(figure)
    temporary.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m bench.chart RESULTS.json [OUT.png]", file=sys.stderr)
        return 2
    results = Path(args[0])
    out = Path(args[1]) if len(args) > 1 else results.with_suffix(".png")
    print(render(json.loads(results.read_text()), out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
