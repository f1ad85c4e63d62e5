"""`python -m ops reindex` against a local stack of its own, as OrdersReindexRole (enforced by the stack):

1. orders as a deployment before the status index left them (no GSI3PK), beside ones holding a stale
   status or a shard past the shard count, are missing from the admin listing (GET /api/orders); a dry
   run names them and writes nothing; the reindex gives each its key, the listing then returns them all
   under their status, and a second run updates nothing;
2. orders moved to another status while the reindex runs keep the key their change wrote: the reindex's
   stale write is refused by its condition and counted "changed meanwhile".
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.attacks import order_body
from tests.e2e.harness import ROOT, started_stack

pytestmark = pytest.mark.e2e

PRODUCT = "reindex-c1250"  # the stubs' open catalog: 12.50, ample stock
SHARDS = 48  # the template's StatusIndexShards default, as the local stack resolves it
TABLE = "OrdersTable"


@pytest.fixture(scope="module")
def own_stack(keys_dir, tmp_path_factory):
    with started_stack(keys_dir, tmp_path_factory.mktemp("reindex-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def tokens(mint):
    return {"admin": mint("reindex-admin", admin=True), "customer": mint("reindex-user")}


def key(order_id: str, status: str) -> str:
    return f"STATUS#{status}#{zlib.crc32(order_id.encode()) % SHARDS}"


def create_orders(stack, tokens, count: int) -> list[str]:
    def create(_: int) -> str:
        body = order_body(items=[{"productId": PRODUCT, "quantity": 1}])
        reply = stack.request("POST", "/api/orders", token=tokens["customer"], body=body)
        assert reply.status == 201, reply.text
        return reply.json()["id"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(create, range(count)))


def set_key(stack, order_id: str, value: str | None) -> None:
    """Write the item's GSI3PK as an older deployment left it (None: removed), with the stack's own
    principal, beside the service."""
    update = (
        {"UpdateExpression": "REMOVE GSI3PK"}
        if value is None
        else {"UpdateExpression": "SET GSI3PK = :pk", "ExpressionAttributeValues": {":pk": {"S": value}}}
    )
    stack.aws("dynamodb").update_item(
        TableName=TABLE, Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}}, **update
    )


def stored_key(stack, order_id: str) -> str | None:
    item = stack.aws("dynamodb").get_item(
        TableName=TABLE, Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}}, ConsistentRead=True
    )["Item"]
    return item.get("GSI3PK", {}).get("S")


def listed(stack, tokens, status: str) -> set[str]:
    """Every order id the admin listing returns for `status` (its default window: the last day)."""
    ids: set[str] = set()
    cursor = None
    while True:
        path = f"/api/orders?status={status}&limit=100" + (f"&cursor={cursor}" if cursor else "")
        reply = stack.request("GET", path, token=tokens["admin"])
        assert reply.status == 200, reply.text
        page = reply.json()
        ids |= {order["id"] for order in page["items"]}
        cursor = page.get("nextCursor")
        if not cursor:
            return ids


def command(stack, *arguments: str) -> list[str]:
    return [sys.executable, "-m", "ops", "reindex", "--url", f"http://localhost:{stack.port}", "--json",
            *arguments]  # fmt: skip


def reindex(stack, *arguments: str) -> tuple[dict, str]:
    done = subprocess.run(
        command(stack, *arguments), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_orders_an_old_deployment_wrote_are_listed_after_the_reindex_and_a_rerun_writes_nothing(
    own_stack, tokens
):
    ids = create_orders(own_stack, tokens, 30)
    missing, stale, beyond, indexed = ids[:20], ids[20:23], ids[23:26], ids[26:]
    for order_id in missing:
        set_key(own_stack, order_id, None)
    for order_id in stale:
        set_key(own_stack, order_id, key(order_id, "cancelled"))  # written before a change it missed
    for order_id in beyond:
        set_key(own_stack, order_id, f"STATUS#pending#{SHARDS + 7}")  # a shard the listing never reads
    assert listed(own_stack, tokens, "pending") & set(ids) == set(indexed)

    summary, err = reindex(own_stack, "--dry-run")
    assert (summary["updated"], summary["already_indexed"], summary["failed"]) == (26, 4, 0), err
    assert summary["dry_run"] and "dry run, nothing was written" in err
    assert all(stored_key(own_stack, order_id) is None for order_id in missing)

    summary, err = reindex(own_stack, "--rate", "0", "--segments", "3", "--page-size", "7")
    assert "as OrdersReindexRole" in err and f"-> GSI3PK over {SHARDS} shards" in err
    assert summary["scanned"] == 30
    assert (summary["updated"], summary["already_indexed"], summary["changed_meanwhile"]) == (26, 4, 0)
    assert summary["reasons"] == {"missing": 20, "other status": 3, "other shard": 3}
    assert summary["failed"] == 0
    summary_line = next(line for line in err.splitlines() if line.startswith("reindex: 30 orders scanned"))
    assert "26 updated" in summary_line and "4 already indexed, 0 changed meanwhile, 0 failed" in summary_line
    assert {order_id: stored_key(own_stack, order_id) for order_id in ids} == {
        order_id: key(order_id, "pending") for order_id in ids
    }
    assert listed(own_stack, tokens, "pending") >= set(ids)
    assert not listed(own_stack, tokens, "cancelled") & set(ids)

    again, _ = reindex(own_stack)
    assert (again["scanned"], again["updated"], again["already_indexed"], again["changed_meanwhile"]) == (
        30,
        0,
        30,
        0,
    )

    # It acted as its role, which allowed what it did.
    performed = {
        (entry["action"], entry["allowed"])
        for entry in own_stack.request("GET", "/_local/iam").json()["authorizations"]
        if entry["function"] == "OrdersReindexRole"
    }
    assert performed == {("dynamodb:Scan", True), ("dynamodb:UpdateItem", True)}


def test_a_status_change_racing_the_reindex_is_never_overwritten(own_stack, tokens):
    ids = create_orders(own_stack, tokens, 30)
    for order_id in ids:
        set_key(own_stack, order_id, None)
    # Slow and in one page, so every order is read before most are written.
    runner = subprocess.Popen(
        command(own_stack, "--rate", "4", "--segments", "1", "--page-size", "1000"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert runner.stderr is not None
    progress = []
    for line in runner.stderr:
        progress.append(line)
        # `[reindex] <orders done> <n> updated`: the page is read and writing has begun.
        if line.startswith("[reindex]") and int(line.split()[2]) > 0:
            break
    moved = []
    for order_id in ids:
        if stored_key(own_stack, order_id) is None:  # read as pending, not written yet
            reply = own_stack.request(
                "PATCH",
                f"/api/orders/{order_id}/status",
                token=tokens["admin"],
                body=json.dumps({"status": "confirmed"}),
            )
            assert reply.status == 200, reply.text
            moved.append(order_id)
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, "".join(progress) + err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])

    assert len(moved) >= 10, "the reindex wrote nearly everything before the changes: not a race"
    assert summary["changed_meanwhile"] >= 1 and summary["failed"] == 0
    assert summary["updated"] + summary["changed_meanwhile"] == len(ids)
    final = {order_id: ("confirmed" if order_id in moved else "pending") for order_id in ids}
    assert {order_id: stored_key(own_stack, order_id) for order_id in ids} == {
        order_id: key(order_id, status) for order_id, status in final.items()
    }
    time.sleep(0.2)
    confirmed, pending = listed(own_stack, tokens, "confirmed"), listed(own_stack, tokens, "pending")
    assert confirmed & set(ids) == set(moved)
    assert pending & set(ids) == set(ids) - set(moved)
