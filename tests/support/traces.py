"""Reading the span trees `local.aws.traces` builds (what `GET /_local/traces` serves)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def nodes(trees: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every span of the trees, depth first, parents before their children."""
    for node in trees:
        yield node
        yield from nodes(node["children"])


def named(trees: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [node for node in nodes(trees) if node["name"] == name]
