"""Each function runs in its own worker process, cold on the first call and warm after, with the
environment the template gives it; Ctrl-C leaves nothing behind and the port is free again at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, RunningStack, alive, descendants, free_port, stack_environment, wait_for
from tests.e2e.test_readme import CREATE_BODY

pytestmark = pytest.mark.e2e


def workers(stack) -> dict[str, list[dict]]:
    return stack.request("GET", "/_local/workers").json()


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_one_warm_worker_per_function(stack, mint):
    token = mint("user-123")
    for _ in range(3):
        assert stack.request("GET", "/health").status == 200
        assert stack.request("GET", "/api/users/user-123/orders", token=token).status == 200
    pool = workers(stack)
    health, listing = pool["HealthFunction"], pool["ListUserOrdersFunction"]
    assert len(health) == 1 and len(listing) == 1
    assert health[0]["pid"] != listing[0]["pid"] != stack.process.pid
    before = {
        name: (entries[0]["pid"], entries[0]["invocations"]) for name, entries in pool.items() if entries
    }

    assert stack.request("GET", "/health").status == 200
    after = workers(stack)["HealthFunction"][0]
    assert after["pid"] == before["HealthFunction"][0]  # the same process: module state kept
    assert after["invocations"] == before["HealthFunction"][1] + 1
    assert workers(stack)["ListUserOrdersFunction"][0]["pid"] == before["ListUserOrdersFunction"][0]


def test_workers_get_the_template_environment(stack, mint):
    assert stack.request("GET", "/api/users/user-123/orders", token=mint("user-123")).status == 200
    pid = workers(stack)["ListUserOrdersFunction"][0]["pid"]
    env = environ_of(pid)
    assert env["TABLE_NAME"] == "OrdersTable"  # !Ref OrdersTable → the local table
    assert env["POWERTOOLS_SERVICE_NAME"] == "orders" and env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["CURRENCY"] == "USD" and env["STAGE"] == "dev"  # parameter defaults
    assert "CURSOR_SECRET_ARN" not in env and len(env["CURSOR_SECRET"]) >= 16  # no Secrets Manager locally
    assert env["DYNAMODB_ENDPOINT"].startswith("http://127.0.0.1:")
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ListUserOrdersFunction"
    # Its own role's session credentials (sts:AssumeRole in the stack's moto), not placeholders.
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and env["AWS_SESSION_TOKEN"] not in ("", "local")
    role = stack.request("GET", "/_local/iam").json()["roles"]["ListUserOrdersFunction"]["role"]
    assert role == "ListUserOrdersFunctionRole"
    assert "LOCAL_KEYS_DIR" not in env and "PYTEST_CURRENT_TEST" not in env  # its own env, not the stack's
    assert Path(f"/proc/{pid}/cwd").resolve() == ROOT / "functions" / "list_user_orders"


def test_port_in_use_is_one_clear_line(stack, keys_dir):
    result = subprocess.run(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=stack_environment(stack.port, keys_dir),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert (
        f"port {stack.port} is already in use" in lines[0] and "PORT=" in lines[0] and "make dev" in lines[0]
    )


def test_ctrl_c_stops_every_worker_and_the_port_is_free_again(keys_dir, tmp_path, mint):
    port = free_port()
    token = mint("user-123")
    first = RunningStack(port, keys_dir, tmp_path / "first.log")
    try:
        first.wait_ready()
        assert first.request("GET", "/health").status == 200
        assert first.request("GET", "/api/users/user-123/orders", token=token).status == 200
        worker_pids = {entry["pid"] for entries in workers(first).values() for entry in entries}
        assert len(worker_pids) == 2 and worker_pids <= descendants(first.process.pid)
        # With the stream poller running and its consumer's worker started by an order.
        assert first.request("POST", "/api/orders", token=token, body=CREATE_BODY).status == 201
        wait_for(lambda: first.request("GET", "/_local/events").json())
        assert first.request("GET", "/_local/streams").json()[0]["state"] == "polling"
        assert workers(first)["OrderEventsFunction"]
        children = descendants(first.process.pid)
        worker_pids = {entry["pid"] for entries in workers(first).values() for entry in entries}
        assert len(worker_pids) == 4 and worker_pids <= children
    finally:
        started = time.monotonic()
        code = first.stop()
        stop_seconds = time.monotonic() - started
    assert code == 0, first.log
    assert stop_seconds < 5
    assert [pid for pid in children if alive(pid)] == []
    assert "Stopped." in first.log and "Traceback" not in first.log

    again = RunningStack(port, keys_dir, tmp_path / "again.log")  # right away, same port
    try:
        again.wait_ready()
        assert again.request("GET", "/health").status == 200
    finally:
        assert again.stop() == 0, again.log
