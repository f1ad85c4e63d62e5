"""Formatting the report's cells and tables (Markdown)."""

from __future__ import annotations

from typing import Any

SMALL_MS = 0.1  # below it, a third decimal


def _f(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    return f"{value:,}{suffix}" if isinstance(value, int) else f"{value}{suffix}"


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < SMALL_MS else f"{value:.2f}"


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _mark(verdict: str | None) -> str:
    return {"pass": "✅", "FAIL": "❌"}.get(verdict or "", "")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]
