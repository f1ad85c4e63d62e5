"""`python -m ops backfill` against a local stack of its own (no other test's events mix in):

1. the oracle: over 500 orders of several users with random (seeded) status changes, the events the
   backfill publishes equal, one by one, the events the live stream published: same eventId, detail-type
   and detail, each order's in version order;
2. while in-window orders keep changing: per order the backfill sends exactly versions 1..k (none skipped,
   none invented, k at least the version when it started), each equal to that version's live event;
3. killed (SIGKILL) after its first progress line, then run again: it resumes (sends fewer than all) and
   the two runs together send every event.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from tests.e2e.attacks import order_body
from tests.e2e.harness import ROOT, started_stack, wait_for

MOVES = {
    "pending": ["confirmed", "processing", "shipped", "delivered", "cancelled"],
    "confirmed": ["processing", "shipped", "delivered", "cancelled"],
    "processing": ["shipped", "delivered", "cancelled"],
    "shipped": ["delivered"],
}
USERS = [f"backfill-user-{n}" for n in range(8)]
PRODUCT = "backfill-c1250"  # the stubs' open catalog: 12.50, ample stock


@pytest.fixture(scope="module")
def own_stack(keys_dir, tmp_path_factory):
    with started_stack(keys_dir, tmp_path_factory.mktemp("backfill-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def tokens(mint):
    return {"admin": mint("backfill-admin", admin=True), **{user: mint(user) for user in USERS}}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create(stack, tokens, user: str) -> dict:
    body = order_body(items=[{"productId": PRODUCT, "quantity": 1}])
    reply = stack.request("POST", "/api/orders", token=tokens[user], body=body)
    assert reply.status == 201, reply.text
    return reply.json()


def move(stack, tokens, order_id: str, target: str) -> dict:
    body = json.dumps({"status": target})
    reply = stack.request("PATCH", f"/api/orders/{order_id}/status", token=tokens["admin"], body=body)
    assert reply.status == 200, reply.text
    return reply.json()


def lifecycle(stack, tokens, user: str, seed: int) -> tuple[str, int]:
    """One order, moved at random until it stops or reaches a final status; (id, final version)."""
    rng = random.Random(seed)
    order = create(stack, tokens, user)
    status, version = "pending", 1
    while status in MOVES and rng.random() < 0.7:
        status = rng.choice(MOVES[status])
        version = move(stack, tokens, order["id"], status)["version"]
    return order["id"], version


def events(stack) -> list[dict]:
    return stack.request("GET", "/_local/events").json()


def order_events(entries: list[dict], order_ids: set[str]) -> list[dict]:
    return [entry for entry in entries if (entry.get("detail") or {}).get("orderId") in order_ids]


def wait_for_events(stack, order_ids: set[str], count: int, timeout: float = 60) -> list[dict]:
    return wait_for(
        lambda: (found := events(stack)) and len(order_events(found, order_ids)) >= count and found, timeout
    )


def backfill(stack, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "backfill",
            "--url",
            f"http://localhost:{stack.port}",
            "--json",
            *arguments,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def summary_of(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def by_event_id(entries: list[dict]) -> dict[str, dict]:
    return {entry["detail"]["eventId"]: entry for entry in entries}


def same_event(a: dict, b: dict) -> bool:
    return (a["detail-type"], a["source"], a["detail"]) == (b["detail-type"], b["source"], b["detail"])


def test_the_backfill_publishes_exactly_what_the_live_stream_published(own_stack, tokens, tmp_path):
    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(lambda n: lifecycle(own_stack, tokens, USERS[n % len(USERS)], n), range(500)))
    versions = dict(made)
    assert len(versions) == 500 and sum(versions.values()) > 900
    live_log = wait_for_events(own_stack, set(versions), sum(versions.values()))
    live = order_events(live_log, set(versions))
    assert len(live) == sum(versions.values())
    marker = len(live_log)

    # Every create has landed (its live event is in): no write is in flight, so no settling time is needed.
    summary = summary_of(
        backfill(own_stack, "--all", "--settle", "0", "--checkpoint", str(tmp_path / "oracle.json"))
    )

    assert summary["orders"] == 500 and summary["events_sent"] == len(live)
    backfilled = wait_for_events(own_stack, set(versions), 2 * len(live))[marker:]
    assert len(backfilled) == len(live)
    live_by_id = by_event_id(live)
    assert len(live_by_id) == len(live)  # the live stream published each event once here
    for entry in backfilled:
        assert same_event(entry, live_by_id[entry["detail"]["eventId"]]), entry["detail"]["eventId"]
    per_order = defaultdict(list)
    for entry in backfilled:
        per_order[entry["detail"]["orderId"]].append(entry["detail"]["version"])
    assert per_order == {order_id: list(range(1, version + 1)) for order_id, version in versions.items()}
    print(f"\nbackfill of 500 orders: {json.dumps(summary)}")


def test_a_backfill_over_orders_being_changed_skips_and_invents_nothing(own_stack, tokens, tmp_path):
    start = now_iso()
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda n: create(own_stack, tokens, USERS[n % len(USERS)])["id"], range(60)))
    status = dict.fromkeys(ids, "pending")
    for order_id in ids[::2]:  # some orders are past version 1 when the backfill starts
        status[order_id] = "confirmed"
        move(own_stack, tokens, order_id, "confirmed")
    at_start = {order_id: 1 if status[order_id] == "pending" else 2 for order_id in ids}
    marker = len(wait_for_events(own_stack, set(ids), sum(at_start.values())))
    runner = subprocess.Popen(
        [sys.executable, "-m", "ops", "backfill", "--url", f"http://localhost:{own_stack.port}", "--from", start,
         "--rate", "40", "--settle", "0", "--segments", "2", "--page-size", "10", "--checkpoint", str(tmp_path / "busy.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    rng = random.Random(99)
    changes = 0
    while runner.poll() is None and changes < 200:
        order_id = rng.choice([order_id for order_id in ids if status[order_id] in MOVES] or ids)
        if status[order_id] in MOVES:
            status[order_id] = rng.choice(MOVES[status[order_id]])
            move(own_stack, tokens, order_id, status[order_id])
            changes += 1
    _, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, err[-3000:]
    assert changes > 10, "the backfill finished before the orders changed much: not a concurrent run"

    final = {order_id: own_stack.request("GET", f"/api/orders/{order_id}", token=tokens["admin"]).json()["version"]
             for order_id in ids}  # fmt: skip
    expected_live = len(ids) + sum(version - 1 for version in final.values())
    # Every live event (versions 1..final) and the backfill's at least version 1 of each order.
    wait_for(lambda: len(order_events(events(own_stack), set(ids))) >= expected_live + len(ids), timeout=60)
    time.sleep(1.5)  # the capture drains every 0.1 s while busy: let the last events land
    everything = events(own_stack)
    after = order_events(everything[marker:], set(ids))
    live_by_id = by_event_id(order_events(everything, set(ids)))
    assert set(live_by_id) == {f"{o}:{v}" for o in ids for v in range(1, final[o] + 1)}
    for entry in after:
        # None invented: every event sent is a live event (of an order in the window), equal to it.
        assert same_event(entry, live_by_id[entry["detail"]["eventId"]]), entry["detail"]["eventId"]
    counts = Counter(entry["detail"]["eventId"] for entry in after)
    for order_id in ids:
        # After the marker: the live events of versions start+1..final once each, and the backfill's of
        # versions 1..k once each, k >= start. So v <= start appears once, start < v <= k twice, v > k once.
        start_version = at_start[order_id]
        assert all(counts[f"{order_id}:{v}"] == 1 for v in range(1, start_version + 1)), (
            order_id
        )  # none skipped
        twice = [v for v in range(start_version + 1, final[order_id] + 1) if counts[f"{order_id}:{v}"] == 2]
        assert twice == list(range(start_version + 1, start_version + 1 + len(twice))), (order_id, twice)
        assert all(counts[f"{order_id}:{v}"] in (1, 2) for v in range(1, final[order_id] + 1)), order_id
        # Versions up to start came from the backfill alone: in version order.
        sent = [e["detail"]["version"] for e in after if e["detail"]["orderId"] == order_id]
        assert [v for v in sent if v <= start_version] == list(range(1, start_version + 1)), order_id


def test_a_killed_backfill_resumes_and_the_two_runs_send_everything(own_stack, tokens, tmp_path):
    start = now_iso()
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(
            pool.map(lambda n: lifecycle(own_stack, tokens, USERS[n % len(USERS)], 1000 + n), range(80))
        )
    versions = dict(made)
    total = sum(versions.values())
    marker = len(wait_for_events(own_stack, set(versions), total))
    checkpoint = tmp_path / "killed.json"
    arguments = [
        "--from",
        start,
        "--settle",
        "0",
        "--segments",
        "2",
        "--page-size",
        "5",
        "--checkpoint",
        str(checkpoint),
    ]
    runner = subprocess.Popen(
        [sys.executable, "-m", "ops", "backfill", "--url", f"http://localhost:{own_stack.port}", "--rate", "30",
         *arguments],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert runner.stderr is not None
    for line in runner.stderr:
        # `[backfill] <events sent> <orders read> orders`: pages of other tests' orders send nothing.
        if line.startswith("[backfill]") and int(line.split()[1]) > 0:
            break
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    state = json.loads(checkpoint.read_text())
    assert not state["done"] and any(segment["next"] for segment in state["segments"].values())

    resumed = backfill(own_stack, *arguments)
    summary = summary_of(resumed)

    assert "resuming from" in resumed.stderr
    assert 0 < summary["events_sent"] < total, (state, resumed.stderr[-3000:])
    time.sleep(1.5)
    after = order_events(events(own_stack)[marker:], set(versions))
    assert {entry["detail"]["eventId"] for entry in after} == {
        f"{order_id}:{version}" for order_id, last in versions.items() for version in range(1, last + 1)
    }
    again = backfill(own_stack, *arguments)
    assert again.returncode == 0 and "already finished" in again.stderr
