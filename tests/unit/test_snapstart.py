"""Snapshot safety (Lambda SnapStart): what a function's init leaves in memory is snapshotted and
restored into many execution environments, so init must create nothing unique or expiring: no ids or
random state, no credentials, clients or connections, no cached configuration. Each function is
imported in a fresh interpreter, as Lambda's init does, and its module state inspected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_ENV

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.name for path in (ROOT / "functions").iterdir() if (path / "app.py").exists())

PROBE = """
import functools, gc, importlib, json, sys
module = importlib.import_module(sys.argv[1])
import boto3
from orders import wiring
caches = {name: getter.cache_info().currsize for name, getter in vars(wiring).items()
          if isinstance(getter, functools._lru_cache_wrapper)}
caches.update({f"app.{name}": value.cache_info().currsize for name, value in vars(module).items()
               if isinstance(value, functools._lru_cache_wrapper)})
import botocore.client, socket
from orders import tracing
from orders.upstream.clients import UpstreamHttp
objects = gc.get_objects()
services = sorted(o.meta.service_model.service_name for o in objects if isinstance(o, botocore.client.BaseClient))
upstream = sum(isinstance(o, UpstreamHttp) for o in objects)
sockets = sum(isinstance(o, socket.socket) for o in objects)
print(json.dumps({"caches": caches, "default_session": boto3.DEFAULT_SESSION is not None,
                  "clients": services, "upstream_clients": upstream, "sockets": sockets,
                  "tracing_pipelines": tracing._pipeline.cache_info().currsize}))
"""


@pytest.mark.parametrize("function", FUNCTIONS)
def test_init_leaves_no_client_credential_or_cached_configuration(function):
    env = {
        **os.environ,
        **TEST_ENV,
        "EVENT_BUS_NAME": "orders-test",
        "USERS_API_URL": "http://127.0.0.1:9",
        "INVENTORY_API_URL": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, f"functions.{function}.app"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": f"{ROOT / 'layers/orders/python'}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["caches"] and all(size == 0 for size in state["caches"].values()), state["caches"]
    assert not state["default_session"] and state["upstream_clients"] == 0, state
    # No client at all before the first request (the X-Ray SDK, which built one at init, is gone), and
    # tracing keeps nothing either: its exporter and socket wait for a sampled invocation.
    assert state["clients"] == [], state
    assert state["sockets"] == 0 and state["tracing_pipelines"] == 0, state


def test_order_ids_come_from_each_request_not_from_init():
    from datetime import UTC, datetime

    from orders.domain.ids import new_order_id

    moment = datetime(2026, 11, 25, tzinfo=UTC)
    ids = {new_order_id(moment) for _ in range(1000)}
    assert len(ids) == 1000  # same millisecond, still unique: randomness is drawn per call


def test_span_ids_differ_between_two_restores_of_one_snapshot(monkeypatch):
    """Two execution environments restored from one snapshot start with the same memory, `random`'s state
    included: tracing's ids must come from the OS, or their spans would collide in X-Ray."""
    import random

    from orders import tracing

    sent: list[Any] = []

    class Exporter:
        dropped = 0

        def export(self, spans: list[Any]) -> None:
            sent.append([span.span_id for span in spans])

    monkeypatch.setenv(tracing.TRACE_HEADER_VARIABLE, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    monkeypatch.delenv(tracing.DISABLED_VARIABLE, raising=False)
    tracing._pipeline.cache_clear()
    monkeypatch.setattr(tracing._pipeline(), "exporter", Exporter())

    @tracing.Tracer().capture_lambda_handler
    def handler(event: Any, context: Any) -> int:
        with tracing.span("step"):
            return 200

    snapshot = random.getstate()
    handler({}, None)
    random.setstate(snapshot)  # the second environment, restored from the same snapshot
    handler({}, None)
    tracing._pipeline.cache_clear()

    first, second = sent
    assert len(first) == len(second) == 2
    assert not set(first) & set(second)
