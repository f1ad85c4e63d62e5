"""Attacks over HTTP against the local stack, races: concurrent status changes of one order have exactly
one winner."""

from __future__ import annotations

import json

import pytest

from tests.e2e.attacks import order_body, problem_errors
from tests.e2e.harness import Reply

pytestmark = pytest.mark.e2e


RACERS = 8
RACE_ROUNDS = 40
RACE_TARGETS = [
    "confirmed",
    "processing",
    "shipped",
    "delivered",
    "cancelled",
    "confirmed",
    "shipped",
    "cancelled",
]


def race(stack, requests: list[dict]) -> list[Reply | None]:
    """Every request at once (released together by a barrier), one thread each."""
    import threading

    barrier = threading.Barrier(len(requests))
    replies: list[Reply | None] = [None] * len(requests)

    def send(index: int) -> None:
        barrier.wait(timeout=30)
        replies[index] = stack.request(**requests[index])

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies


def test_racing_status_changes_have_exactly_one_winner(stack, cast):
    """Many changes of one order at once must not get two applied: each is one conditional write.
    Even rounds: 8 cancels by its customer; odd rounds: 8 admin moves, each with If-Match: "1"."""
    failures = []
    for round_number in range(RACE_ROUNDS):
        created = stack.request("POST", "/api/orders", token=cast.token_a, body=order_body())
        assert created.status == 201, created.text
        path = f"/api/orders/{created.json()['id']}/status"
        if round_number % 2 == 0:
            requests = [
                {"method": "PATCH", "path": path, "token": cast.token_a, "body": '{"status": "cancelled"}'}
            ] * RACERS
        else:
            requests = [
                {
                    "method": "PATCH",
                    "path": path,
                    "token": cast.token_admin,
                    "body": json.dumps({"status": target}),
                    "headers": {"If-Match": '"1"'},
                }
                for target in RACE_TARGETS[:RACERS]
            ]
        replies = race(stack, requests)
        statuses = [reply.status if reply else None for reply in replies]
        final = stack.request("GET", path.removesuffix("/status"), token=cast.token_a).json()
        if statuses.count(200) != 1 or final["version"] != 2 or len(final["statusHistory"]) != 2:
            failures.append(f"round {round_number}: {statuses}, final version {final['version']}")
        for reply in replies:
            if reply is not None and reply.status != 200:
                failures += problem_errors(reply, 409, 412)
    assert not failures, f"{len(failures)} of {RACE_ROUNDS} rounds:\n" + "\n".join(failures)
