"""The original service's README examples, run verbatim (with curl, as a user would) against the local
stack, with tokens minted by `python -m local.front.token`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal

import pytest

from tests.e2e.harness import ROOT

pytestmark = pytest.mark.e2e

# Copied verbatim from the original README ("Examples").
README_CREATE = """curl -X POST http://localhost:3001/api/orders \\
  -H "Content-Type: application/json" \\
  -H "Authorization: Bearer YOUR_JWT_TOKEN" \\
  -d '{
    "userId": "user-123",
    "items": [
      {
        "productId": "prod-456",
        "quantity": 2,
        "price": 29.99
      }
    ],
    "shippingAddress": {
      "street": "123 Main St",
      "city": "New York",
      "zipCode": "10001"
    }
  }'"""
README_GET = """curl http://localhost:3001/api/orders/:id \\
  -H "Authorization: Bearer YOUR_JWT_TOKEN\""""
README_UPDATE_STATUS = """curl -X PATCH http://localhost:3001/api/orders/:id/status \\
  -H "Content-Type: application/json" \\
  -H "Authorization: Bearer YOUR_JWT_TOKEN" \\
  -d '{
    "status": "shipped"
  }'"""
README_LIST = """curl http://localhost:3001/api/users/:userId/orders \\
  -H "Authorization: Bearer YOUR_JWT_TOKEN\""""
README_HEALTH = "curl http://localhost:3001/health"

CREATE_BODY = README_CREATE.split("-d '", 1)[1].rstrip("'")


@pytest.fixture(scope="module")
def curl():
    """The README's examples are curl commands; they run with the real curl (never skipped)."""
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed: apt-get install -y curl")


def token_cli(*arguments: str) -> str:
    """What `make -s token USER=... [ADMIN=1]` runs; its whole output must be the token."""
    result = subprocess.run(
        [sys.executable, "-m", "local.front.token", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+\n", result.stdout), result.stdout
    return result.stdout.strip()


def run_example(stack, command: str, token: str = "", **placeholders: str) -> tuple[int, str]:
    command = command.replace("http://localhost:3001", f"http://localhost:{stack.port}")
    command = command.replace("YOUR_JWT_TOKEN", token)
    for name, value in placeholders.items():
        command = command.replace(f":{name}", value)
    # The README's command as is, plus options to read the status.
    result = subprocess.run(
        ["bash", "-c", command + " -sS -w '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


@pytest.fixture(scope="module")
def tokens(stack):
    return {"customer": token_cli("--user", "user-123"), "admin": token_cli("--user", "ops-1", "--admin")}


def test_readme_examples_verbatim(stack, tokens, curl):
    status, body = run_example(stack, README_CREATE, tokens["customer"])
    assert status == 201, body
    order = json.loads(body, parse_float=Decimal)
    assert '"total":59.98' in body and order["total"] == Decimal("59.98")
    assert order["userId"] == "user-123" and order["status"] == "pending"
    assert order["items"] == [
        {"productId": "prod-456", "quantity": 2, "unitPrice": Decimal("29.99"), "lineTotal": Decimal("59.98")}
    ]

    status, body = run_example(stack, README_GET, tokens["customer"], id=order["id"])
    assert status == 200, body
    assert json.loads(body)["id"] == order["id"]

    # A customer may only cancel: the README's "shipped" needs an admin token.
    status, body = run_example(stack, README_UPDATE_STATUS, tokens["customer"], id=order["id"])
    assert status == 403, body
    status, body = run_example(stack, README_UPDATE_STATUS, tokens["admin"], id=order["id"])
    assert status == 200, body
    assert json.loads(body)["status"] == "shipped"

    status, body = run_example(stack, README_LIST, tokens["customer"], userId="user-123")
    assert status == 200, body
    assert order["id"] in [item["id"] for item in json.loads(body)["items"]]

    status, body = run_example(stack, README_HEALTH)
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"


def readme_example(start: str) -> str:
    """The one command of README.md's "Try it" block that starts with `start` (continued lines joined)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Try it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [c for c in re.split(r"\n(?=\S)", block.replace("\\\n", "")) if c.startswith(start)]
    assert len(commands) == 1, (start, commands)
    return commands[0].strip()


def test_readme_cross_user_listing_example_verbatim(stack, tokens, curl):
    """README's `GET /api/orders` example, as written (`$ADMIN` from `make -s token ... ADMIN=1`), after the
    README's create and ship: the shipped order is on the admin's page; a customer's token is a 403."""
    command = readme_example('curl "http://localhost:3001/api/orders?')
    assert "$ADMIN" in command
    created = stack.request("POST", "/api/orders", token=tokens["customer"], body=CREATE_BODY).json()
    shipped = stack.request(
        "PATCH", f"/api/orders/{created['id']}/status", token=tokens["admin"], body='{"status": "shipped"}'
    )
    assert shipped.status == 200, shipped.text
    local = command.replace("http://localhost:3001", f"http://localhost:{stack.port}")

    def run(token: str) -> tuple[int, str]:
        result = subprocess.run(
            ["bash", "-c", local + " -sS -w '\\n%{http_code}'"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={"PATH": os.environ["PATH"], "ADMIN": token},
        )
        assert result.returncode == 0, result.stderr
        body, _, status = result.stdout.rpartition("\n")
        return int(status), body

    status, body = run(tokens["admin"])
    assert status == 200, body
    page = json.loads(body)
    assert created["id"] in [item["id"] for item in page["items"]]
    assert {item["status"] for item in page["items"]} == {"shipped"}
    keys = [(item["createdAt"], item["id"]) for item in page["items"]]
    assert keys == sorted(keys, reverse=True) and len(keys) <= 10
    status, body = run(tokens["customer"])
    assert status == 403, body
    assert json.loads(body)["type"].endswith(":forbidden")


def test_create_get_ship_list_over_http(stack, tokens):
    created = stack.request("POST", "/api/orders", token=tokens["customer"], body=CREATE_BODY)
    assert created.status == 201, created.text
    order = created.json()
    assert order["total"] == Decimal("59.98")
    assert created.headers["Location"] == f"/api/orders/{order['id']}"
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Content-Type"] == "application/json"

    got = stack.request("GET", f"/api/orders/{order['id']}", token=tokens["customer"])
    assert got.status == 200 and got.json() == order

    # Someone else's order is indistinguishable from an absent one.
    other = stack.request("GET", f"/api/orders/{order['id']}", token=token_cli("--user", "user-999"))
    assert other.status == 404
    assert other.headers["Content-Type"] == "application/problem+json"

    shipped = stack.request(
        "PATCH", f"/api/orders/{order['id']}/status", token=tokens["admin"], body='{"status": "shipped"}'
    )
    assert shipped.status == 200, shipped.text
    assert shipped.json()["status"] == "shipped" and shipped.headers["ETag"] == '"2"'

    listing = stack.request("GET", "/api/users/user-123/orders?limit=100", token=tokens["customer"])
    assert listing.status == 200
    assert order["id"] in [item["id"] for item in listing.json()["items"]]
    assert stack.request("GET", "/api/users/user-999/orders", token=tokens["customer"]).status == 403

    health = stack.request("GET", "/health")
    assert health.status == 200 and health.json() == {"status": "ok", "service": "orders"}


def test_stack_endpoints(stack):
    jwks = stack.request("GET", "/.well-known/jwks.json").json()
    assert [key["kty"] for key in jwks["keys"]] == ["RSA"] and jwks["keys"][0]["kid"]
    events = stack.request("GET", "/_local/events").json()  # what earlier tests published, oldest first
    assert isinstance(events, list)
    assert all(set(event) >= {"detail-type", "source", "detail", "time"} for event in events)
    assert stack.request("GET", "/_local/dead-letters").status == 200
    routes = stack.request("GET", "/_local/routes").json()
    assert {(route["method"], route["path"], route["auth"]) for route in routes} >= {
        ("POST", "/api/orders", "OrdersJwtAuthorizer"),
        ("GET", "/health", None),
    }
    assert stack.request("GET", "/nowhere").status == 404
    assert stack.request("DELETE", "/api/orders").json() == {"message": "Not Found"}


def test_openapi_document_covers_every_route(stack):
    document = stack.request("GET", "/_local/openapi.json").json()
    operations = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert ("POST", "/api/orders") in operations
    assert ("GET", "/health") in operations
    assert len(operations) == len(stack.request("GET", "/_local/routes").json())
    assert document["paths"]["/api/orders"]["post"]["security"] == [{"OrdersJwtAuthorizer": []}]
    assert "security" not in document["paths"]["/health"]["get"]
    assert "CreateOrderRequest" in document["components"]["schemas"]
    assert stack.request("GET", "/_local/docs").headers["Content-Type"].startswith("text/html")
