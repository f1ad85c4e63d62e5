"""Run one request in each of N concurrent "Lambda execution environments", released together.

An execution environment serves one request at a time; concurrency in Lambda means several
environments, each a process with its own module state (the Powertools resolver keeps the current
event and route arguments on the module-level `app`, and Metrics keeps a shared metric set, so
threads calling one handler module would trample each other in ways Lambda never does). So each
environment here is a forked process: it inherits the imported modules, builds its own clients
(`reset_process_state`), waits at a barrier with the others, invokes the real `lambda_handler`, and
sends back the status, headers and raw body. They all talk to one DynamoDB: the moto server of
`tests.support.servers` (atomic per request, like DynamoDB per item), through `DYNAMODB_ENDPOINT`.

The parent must not run threads of its own when it forks (the servers live in a child process for
that reason), and must not be inside `mock_aws` (the environments must reach the server).
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orders import wiring

from tests.support.lambda_runtime import invoke, reset_process_state

START_TIMEOUT_SECONDS = 60
RESULT_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Outcome:
    index: int
    status: int
    headers: dict[str, str]
    raw_body: str
    error: str | None = None


def _environment(
    index: int,
    function: str,
    event: dict[str, Any],
    barrier: Any,
    results: Any,
    prepare: Callable[[], None] | None,
) -> None:
    try:
        reset_process_state()
        if prepare is not None:
            prepare()
        # Warm (clients, service, handler module) before the barrier, so the requests really overlap.
        wiring.dynamodb_client()
        wiring.order_service()
        barrier.wait(timeout=START_TIMEOUT_SECONDS)
        result = invoke(function, event)
        results.put(Outcome(index, result.status, dict(result.headers), result.raw_body))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(Outcome(index, -1, {}, "", traceback.format_exc()))


def invoke_concurrently(
    function: str, events: list[dict[str, Any]], prepare: Callable[[], None] | None = None
) -> list[Outcome]:
    """One forked environment per event; returns their outcomes in event order."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(events))
    results = context.Queue()
    processes = [
        context.Process(
            target=_environment, args=(index, function, event, barrier, results, prepare), daemon=True
        )
        for index, event in enumerate(events)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=RESULT_TIMEOUT_SECONDS) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
    errors = [outcome.error for outcome in outcomes if outcome.error]
    assert not errors, errors[0]
    return sorted(outcomes, key=lambda outcome: outcome.index)
