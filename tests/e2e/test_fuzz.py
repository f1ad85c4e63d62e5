"""schemathesis against a local stack, from the OpenAPI document the stack serves: every check, all four
phases (examples, coverage, fuzzing, stateful through the document's links: create → get → status → list),
as a customer (`user-123`, with `user-456` as the peer that must not see their orders) and as an admin.

`make test` runs a bounded pass (a few examples per operation); `make fuzz` a long one
(`FUZZ_SECONDS`, default 300, split between the two roles). A failure prints schemathesis' own report:
each finding with a curl command that reproduces it, and the seed (`FUZZ_SEED=<seed>` replays a run).

Below, the findings schemathesis made in the code, each as a plain regression test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, started_stack

pytestmark = pytest.mark.e2e

FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS") or 0)  # 0: the bounded run of `make test`
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES") or (100 if FUZZ_SECONDS else 10))
# The bounded run draws the same cases every time: with ~12 stateful scenarios, a random draw sometimes
# followed only 2 of the links (seen once in CI), so its coverage assertions would flake. `make fuzz`
# draws a new seed each run to explore; FUZZ_SEED=<seed> replays any run.
BOUNDED_RUN_SEED = "1"
FUZZ_SEED = os.environ.get("FUZZ_SEED") or (None if FUZZ_SECONDS else BOUNDED_RUN_SEED)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

# Identities, as a Web Fuzzing Commons auth document: the run is pinned to one; peers must not see each
# other's objects (schemathesis' object_level_authorization check replays the owner's reads as the peer).
ROLES = ("customer", "admin")
USERS = {"customer": ("user-123", False), "other-customer": ("user-456", False), "admin": ("ops-1", True)}
PEERS = ("customer", "other-customer")

# `checks all`, but one: `unsupported_method` expects 405 for a method a path does not declare. API Gateway
# HTTP APIs answer 404 `{"message":"Not Found"}` for any method without a route (no 405, no Allow header),
# and the local stack emulates that; it is API Gateway's behaviour, not the service's.
EXCLUDED_CHECKS = ("unsupported_method",)

# Statuses a schema-valid request may get besides 2xx, 401, 403, 404 (positive_data_acceptance). Each is the
# service refusing a well-formed request on grounds no JSON Schema can express:
EXPECTED_FOR_VALID = {
    # 409 insufficient-stock / request-in-progress; 422 unknown-products, price-mismatch (prices are the
    # inventory's), buyer-not-eligible (the user service's), idempotency-key-reused.
    "createOrder": ("409", "422"),
    # 409 a transition the status machine refuses; 412 an `If-Match` naming an older version (also what an
    # idempotent replay of a create hands back once the order has moved on).
    # 400 validation-error on If-Match: the document states RFC 9110's syntax as the header's `pattern`, but
    # schemathesis' coverage phase sends values that ignore it (`if-match: 0`) as if they were valid.
    "updateOrderStatus": ("400", "409", "412"),
    # 400 invalid-cursor: a cursor is opaque and signed; any string a listing did not issue is refused.
    "listUserOrders": ("400",),
    # 400 invalid-cursor, as above; invalid-window: `createdFrom`/`createdTo` are strings to the schema, but
    # must be ISO 8601 date-times with a time zone, in order, at most 31 days apart.
    "listOrders": ("400",),
}

# Values the generator mixes in (half the time) so that creates also reach the success paths: the stubs'
# seeded and open-catalog products (`-c<cents>` costs that much) and users (active, suspended, unknown).
DICTIONARIES = {
    "products": ["prod-456", "prod-789", "prod-101", "prod-scarce", "p-c1999", "x-c1"],
    "users": ["user-123", "user-456", "suspended-1", "unknown-1"],
}
BINDINGS = {"body.items[*].productId": "products", "body.userId": "users"}


def _toml(value) -> str:
    return json.dumps(value)  # a JSON string or array of strings is a TOML one


def schemathesis_config(auth_path: Path, role: str) -> str:
    lines = ["[auth.wfc]", f"path = {_toml(str(auth_path))}", f"user = {_toml(role)}"]
    if role in PEERS:
        lines.append(f"peers = {_toml(list(PEERS))}")
    for operation_id, statuses in EXPECTED_FOR_VALID.items():
        expected = ["2xx", "401", "403", "404", *statuses]
        lines += [
            "",
            "[[operations]]",
            f"include-operation-id = {_toml(operation_id)}",
            f"checks.positive_data_acceptance.expected-statuses = {_toml(expected)}",
        ]
    for name, values in DICTIONARIES.items():
        lines += ["", f"[dictionaries.{name}]", f"values = {_toml(values)}"]
    lines += ["", "[parameters]"]
    lines += [
        f"{_toml(key)} = {{ dictionary = {_toml(name)}, probability = 0.5 }}"
        for key, name in BINDINGS.items()
    ]
    return "\n".join(lines) + "\n"


def run_schemathesis(port: int, mint, workdir: Path, role: str) -> tuple[dict, str, float]:
    """One schemathesis run as `role`: (its JSON report, its console output, seconds)."""
    auth = {
        "auth": [
            {
                "name": name,
                "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {mint(user, admin=admin)}"}],
            }
            for name, (user, admin) in USERS.items()
        ]
    }
    auth_path = workdir / "auth.json"
    auth_path.write_text(json.dumps(auth))
    config_path = workdir / "schemathesis.toml"
    config_path.write_text(schemathesis_config(auth_path, role))
    report_path = workdir / "report.json"
    command = [
        str(SCHEMATHESIS),
        "--config-file", str(config_path),
        "--no-color",
        "run", f"http://127.0.0.1:{port}/_local/openapi.json",
        "--checks", "all",
        "--exclude-checks", ",".join(EXCLUDED_CHECKS),
        "--max-examples", str(MAX_EXAMPLES),
        "--workers", "1",
        "--request-timeout", "20",
        "--generation-database", "none",
        "--report", "json",
        "--report-json-path", str(report_path),
    ]  # fmt: skip
    if FUZZ_SECONDS:
        command += ["--max-time", str(max(FUZZ_SECONDS // len(ROLES), 1))]
    if FUZZ_SEED:
        command += ["--seed", FUZZ_SEED]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }
    started = time.monotonic()
    completed = subprocess.run(
        command,
        check=False,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=(FUZZ_SECONDS + 300) if FUZZ_SECONDS else 180,
    )
    elapsed = time.monotonic() - started
    output = completed.stdout + completed.stderr
    if not report_path.exists():
        pytest.fail(f"schemathesis wrote no report (exit {completed.returncode}):\n{output}")
    return json.loads(report_path.read_text()), output, elapsed


@pytest.fixture(scope="module")
def fuzz_stack(keys_dir, tmp_path_factory):
    """A stack of its own: the fuzzer's thousands of orders and requests stay out of the shared one."""
    with started_stack(keys_dir, tmp_path_factory.mktemp("fuzz-stack")) as running:
        yield running


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_finds_nothing(fuzz_stack, mint, tmp_path, role):
    report, output, elapsed = run_schemathesis(fuzz_stack.port, mint, tmp_path, role)
    print(
        f"schemathesis as {role}: {report['test_cases']['generated']} cases in {elapsed:.1f} s, seed {report['seed']}"
    )
    assert report["exit_code"] == 0 and not report["failures"] and not report["errors"], (
        f"schemathesis as {role} (seed {report['seed']}; replay with FUZZ_SEED={report['seed']}):\n{output}"
    )
    assert report["operations"]["tested"] == report["operations"]["total"] == 6, output
    assert {name: phase["status"] for name, phase in report["phases"].items()} == dict.fromkeys(
        ("examples", "coverage", "fuzzing", "stateful"), "success"
    ), output
    # Stateful testing followed links (the document's, and those schemathesis infers from `Location`): orders it
    # created were then read and changed (a generated id is never found).
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", output)
    assert links and int(links.group(1)) >= 3, output
    log = fuzz_stack.log
    assert re.search(r"GET /api/orders/[0-9a-f-]{36} -> 200", log), "no order created by the fuzzer was read"
    if role == "admin":  # (a customer may only cancel: a draw may never try that)
        assert re.search(r"PATCH /api/orders/[0-9a-f-]{36}/status -> 200", log), "no fuzzed order was changed"
        # The cross-user listing is the admins': it answered a page, and refused what it must.
        assert re.search(r"GET /api/orders(\?\S*)? -> 200", log), "no cross-user listing answered"
    else:
        assert re.search(r"GET /api/orders(\?\S*)? -> 403", log), (
            "a customer's cross-user listing not refused"
        )
    assert fuzz_stack.process.poll() is None, log[-3000:]
    assert "local stack error" not in log


# ---------------------------------------------------------------------------------------- findings
# Reproductions of what schemathesis found in the code, one request each (see the report of issue 7).

ORDER = {
    "userId": "user-123",
    "items": [{"productId": "prod-456", "quantity": 2, "price": 29.99}],
    "shippingAddress": {"street": "123 Main St", "city": "New York", "zipCode": "10001"},
}


def _problem(reply) -> dict:
    assert reply.headers["Content-Type"] == "application/problem+json", (reply.status, reply.text)
    return reply.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/orders"), ("PATCH", "/api/orders/01a214ab-9543-7931-805a-0fd450c5d8d4/status")],
)
def test_a_body_that_is_not_utf8_is_a_400_problem_not_a_500(stack, mint, method, path):
    # schemathesis: ST101 Server error. API Gateway hands the function a body that is not UTF-8 base64-encoded;
    # Powertools' `decoded_body` raises UnicodeDecodeError before validation, which became a 500.
    reply = stack.request(
        method, path, token=mint("user-123"), body=b"\xff{}", headers={"Content-Type": "application/json"}
    )
    assert reply.status == 400, (reply.status, reply.text)
    assert _problem(reply)["type"] == "urn:problem-type:orders:malformed-json"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/orders"), ("PATCH", "/api/orders/01a214ab-9543-7931-805a-0fd450c5d8d4/status")],
)
def test_multipart_without_a_boundary_is_a_415_problem_not_a_500(stack, mint, method, path):
    # schemathesis: ST102 Server error on undeclared request Content-Type. Powertools parses
    # multipart/form-data itself and raises a bare ValueError when the boundary is missing.
    reply = stack.request(
        method,
        path,
        token=mint("user-123"),
        body='{"status": "cancelled"}',
        headers={"Content-Type": "multipart/form-data"},
    )
    assert reply.status == 415, (reply.status, reply.text)
    assert _problem(reply)["type"] == "urn:problem-type:orders:unsupported-media-type"


def test_a_quantity_written_2_0_is_the_integer_2(stack, mint):
    # schemathesis: ST202 Schema-valid request rejected. The document (from the model) says `quantity` is an
    # integer, and in JSON Schema 2.0 is one; the model's strict int refused it with a 400.
    body = json.dumps({**ORDER, "items": [{"productId": "prod-456", "quantity": 2.0, "price": 29.99}]})
    reply = stack.request("POST", "/api/orders", token=mint("user-123"), body=body)
    assert reply.status == 201, (reply.status, reply.text)
    assert reply.json()["items"][0]["quantity"] == 2
