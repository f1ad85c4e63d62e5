"""The OpenAPI document: generated from the code (`make openapi` → docs/openapi.json) and checked against it,
complete (every route, security, bodies, parameters, problem+json errors, links), served by the local stack
with Swagger UI whose assets are served locally: headless Chromium renders every operation with no request
leaving loopback."""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from local.openapi import DEFAULT_SERVER, DOCUMENT_PATH, dumps, generate
from local.template import TEMPLATE_PATH
from tests.e2e.harness import ROOT

pytestmark = pytest.mark.e2e

ERRORS = {  # README's API table (plus the 500 every function may answer)
    ("post", "/api/orders"): {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ("get", "/api/orders/{id}"): {"401", "404", "500"},
    ("patch", "/api/orders/{id}/status"): {"400", "401", "403", "404", "409", "412", "500"},
    ("get", "/api/users/{userId}/orders"): {"400", "401", "403", "500"},
}
SUCCESS = {
    ("post", "/api/orders"): ("201", "Order"),
    ("get", "/api/orders/{id}"): ("200", "Order"),
    ("patch", "/api/orders/{id}/status"): ("200", "Order"),
    ("get", "/api/users/{userId}/orders"): ("200", "OrderPage"),
    ("get", "/health"): ("200", "Health"),
}


@pytest.fixture(scope="module")
def generated():
    """The document as the code and template.yaml make it now (each function imported in a worker process)."""
    return generate()


@pytest.fixture(scope="module")
def document():
    return json.loads(DOCUMENT_PATH.read_text())


def _operations(document):
    return {
        (method, path): operation
        for path, ops in document["paths"].items()
        for method, operation in ops.items()
    }


def _resolve(document, value):
    while isinstance(value, dict) and "$ref" in value:
        node = document
        for part in value["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        value = node
    return value


def _routes():
    from local.model import stack_model
    from local.template import load_template

    return stack_model({}, load_template(TEMPLATE_PATH)).routes


# ---------------------------------------------------------------------------------------- code and document
def test_committed_document_is_what_the_code_generates(generated):
    text = dumps(generated)
    committed = DOCUMENT_PATH.read_text()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(True), text.splitlines(True), "docs/openapi.json", "the code"
        )
    )
    assert committed == text, f"docs/openapi.json is out of date: run `make openapi`\n{diff[:6000]}"


def test_make_openapi_checks_and_writes(tmp_path):
    target = tmp_path / "openapi.json"
    command = [sys.executable, "-m", "local.openapi"]
    stale = subprocess.run(
        [*command, "--check", str(target)], check=False, cwd=ROOT, capture_output=True, text=True
    )
    assert stale.returncode == 1 and "make openapi" in stale.stderr
    subprocess.run([*command, "--write", str(target)], cwd=ROOT, check=True, capture_output=True)
    assert target.read_text() == DOCUMENT_PATH.read_text()
    assert (
        subprocess.run(
            [*command, "--check", str(target)], check=False, cwd=ROOT, capture_output=True
        ).returncode
        == 0
    )


def test_document_is_valid_openapi_3_1(document):
    from openapi_spec_validator import validate

    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": DEFAULT_SERVER}]
    validate(document)


# ---------------------------------------------------------------------------------------- completeness
def test_every_route_of_the_template_is_an_operation(document):
    routes = {(route.method.lower(), route.path) for route in _routes()}
    assert set(_operations(document)) == routes
    assert ("get", "/health") in routes
    operation_ids = [operation["operationId"] for operation in _operations(document).values()]
    assert len(set(operation_ids)) == len(operation_ids) == len(routes)


def test_bearer_jwt_on_every_route_but_health(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "OrdersJwtAuthorizer": {
            **schemes["OrdersJwtAuthorizer"],
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
        }
    }
    assert "security" not in document  # no global default: /health is open
    for (method, path), operation in _operations(document).items():
        if path == "/health":
            assert "security" not in operation and "401" not in operation["responses"]
        else:
            assert operation["security"] == [{"OrdersJwtAuthorizer": []}], (method, path)
            unauthorized = _resolve(document, operation["responses"]["401"])
            # API Gateway's own `{"message":"Unauthorized"}`, or a problem from the function.
            assert set(unauthorized["content"]) == {"application/json", "application/problem+json"}


def test_request_bodies_and_parameters(document):
    operations = _operations(document)
    create = operations[("post", "/api/orders")]["requestBody"]
    assert create["required"] is True
    assert create["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateOrderRequest"
    }
    example = create["content"]["application/json"]["examples"]["readme"]["value"]
    assert example["items"][0] == {"productId": "prod-456", "quantity": 2, "price": 29.99}
    change = operations[("patch", "/api/orders/{id}/status")]["requestBody"]
    assert change["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StatusChangeRequest"
    }
    statuses = _resolve(document, {"$ref": "#/components/schemas/OrderStatus"})["enum"]
    assert statuses == ["pending", "confirmed", "processing", "shipped", "delivered", "cancelled"]

    for (method, path), operation in operations.items():
        parameters = {
            (parameter["in"], parameter["name"]): parameter for parameter in operation.get("parameters", [])
        }
        for name in re.findall(r"\{([^}]+)\}", path):  # the template's names: {id}, {userId}
            assert parameters[("path", name)]["required"] is True, (method, path, name)
        for parameter in parameters.values():
            # A header or query string has no JSON null: optional means absent.
            assert {"type": "null"} not in parameter["schema"].get("anyOf", []), parameter
    listing = {p["name"]: p for p in operations[("get", "/api/users/{userId}/orders")]["parameters"]}
    assert (
        listing["limit"]["schema"].items()
        >= {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}.items()
    )
    assert listing["status"]["in"] == listing["cursor"]["in"] == "query"
    headers = {
        p["name"] for op in operations.values() for p in op.get("parameters", []) if p["in"] == "header"
    }
    assert headers == {"idempotency-key", "if-match"}


def test_every_error_is_a_problem(document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ProblemField"}
    assert document["components"]["schemas"]["ProblemField"]["required"] == ["in", "pointer", "detail"]
    for (method, path), operation in _operations(document).items():
        errors = {status for status in operation["responses"] if status[0] in "45"}
        assert errors >= ERRORS.get((method, path), set()), (method, path, errors)
        for status in errors:
            content = _resolve(document, operation["responses"][status])["content"]
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
            # application/json only where API Gateway itself may answer (no route, token, 10 MB, timeout)
            assert set(content) <= {"application/problem+json", "application/json"}
            if "application/json" in content:
                assert content["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/GatewayMessage"
                }


def test_success_responses_headers_and_links(document):
    operations = _operations(document)
    operation_ids = {operation["operationId"]: key for key, operation in operations.items()}
    for key, (status, schema) in SUCCESS.items():
        responses = operations[key]["responses"]
        assert [code for code in responses if code.startswith("2")] == [status], key
        assert responses[status]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{schema}"
        }
    created = operations[("post", "/api/orders")]["responses"]["201"]
    assert {"Location", "ETag"} <= set(created["headers"])
    assert "ETag" in operations[("get", "/api/orders/{id}")]["responses"]["200"]["headers"]
    # Stateful testing follows these: create → get, → status (with the ETag as If-Match), → the user's list.
    links = created["links"]
    assert {link["operationId"] for link in links.values()} == {
        "getOrder",
        "updateOrderStatus",
        "listUserOrders",
    }
    for link in links.values():
        target = operations[operation_ids[link["operationId"]]]
        names = {f"{p['in']}.{p['name']}" for p in target.get("parameters", [])}
        assert set(link["parameters"]) <= names, link
    assert links["GetOrder"]["parameters"] == {"path.id": "$response.body#/id"}
    assert links["ListUserOrders"]["parameters"] == {"path.userId": "$response.body#/userId"}
    assert links["UpdateOrderStatus"]["parameters"]["header.if-match"] == "$response.header.ETag"


def test_response_schemas_follow_the_models(document):
    """docs/openapi.json describes responses the functions do not declare yet (local/openapi.py): their
    members must stay those of the models that produce them."""
    from orders import models
    from orders.api import PROBLEM_TYPE_BASE

    schemas = document["components"]["schemas"]
    for name in ("Order", "OrderLine", "StatusChange"):
        model = getattr(models, name)
        aliases = {field.alias or key for key, field in model.model_fields.items()}
        required = {field.alias or key for key, field in model.model_fields.items() if field.is_required()}
        assert set(schemas[name]["properties"]) == aliases, name
        assert set(schemas[name]["required"]) == required, name
    page = models.OrderPage(items=[], next_cursor=None).to_wire()
    assert set(schemas["OrderPage"]["properties"]) == set(page) == set(schemas["OrderPage"]["required"])
    assert re.fullmatch(
        schemas["Problem"]["properties"]["type"]["pattern"], PROBLEM_TYPE_BASE + "validation-error"
    )


# ---------------------------------------------------------------------------------------- served by the stack
def test_the_stack_serves_the_committed_document(stack, document):
    served = stack.request("GET", "/_local/openapi.json").json()
    served = json.loads(json.dumps(served, default=float))
    assert served["servers"] == [{"url": f"http://localhost:{stack.port}"}]
    assert {**served, "servers": document["servers"]} == document


def test_swagger_ui_page_and_its_assets_are_served_locally(stack):
    page = stack.request("GET", "/_local/docs")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r'url: "([^"]+)"', page.text)
    assert references and not [url for url in references if "//" in url], references
    assert "validatorUrl: null" in page.text  # else Swagger UI asks validator.swagger.io about the document
    expected_types = {
        ".js": "text/javascript",
        ".css": "text/css",
        ".png": "image/png",
        ".json": "application/json",
    }
    for url in references:
        reply = stack.request("GET", url)
        assert reply.status == 200, url
        assert reply.headers["Content-Type"].startswith(expected_types[Path(url).suffix]), url
    assert stack.request("GET", "/_local/docs/assets/swagger-ui-bundle.js").raw.startswith(b"/*! For license")
    assert stack.request("GET", "/_local/docs/assets/../openapi.json").status == 404
    assert stack.request("GET", "/_local/docs/assets/nothing.js").status == 404


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium, installed on first use (as root: apt-get update, then apt-get install)."""
    path = shutil.which("chromium")
    if path is None:
        if os.geteuid() != 0:
            pytest.fail("chromium is not installed and this is not root: apt-get install -y chromium")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        path = shutil.which("chromium")
        assert path, "apt-get installed chromium, but it is not on PATH"
    return path


def _page_requests(net_log: Path, origin: str) -> set[str]:
    """The URLs the page asked for, from Chromium's NetLog (cut short if Chromium exits first): requests whose
    initiator is the page, or that load it. Chromium's own (updates, accounts, time) are not the page's."""
    text = net_log.read_text(errors="replace").rstrip().rstrip(",")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:
        log = json.loads(text + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = set()
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start_job or "url" not in params:
            continue
        if params.get("initiator") == origin or params.get("request_type") == "main frame":
            urls.add(params["url"])
    return urls


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def test_swagger_ui_renders_every_operation_offline(stack, chromium, document, tmp_path):
    net_log = tmp_path / "netlog.json"
    command = [
        chromium,
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
        # Nothing leaves this machine, whatever asks: Chromium's own background requests included.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
        f"--log-net-log={net_log}", "--net-log-capture-mode=Default",
        "--virtual-time-budget=10000", "--dump-dom",
        f"http://127.0.0.1:{stack.port}/_local/docs",
    ]  # fmt: skip
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert done.returncode == 0 and "swagger-ui" in dom, f"exit {done.returncode}\n{done.stderr[-3000:]}"

    rendered = set(re.findall(r'class="opblock opblock-(\w+)[^"]*"', dom))
    paths = re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom)
    for (method, path), operation in _operations(document).items():
        assert method in rendered, (method, sorted(rendered))
        assert path in paths, (path, paths)
        assert f'id="operations-{operation["tags"][0]}-{operation["operationId"]}"' in dom, operation[
            "operationId"
        ]
    assert len(paths) == len(_operations(document))
    assert "Order Service" in dom and "Failed to load API definition" not in dom

    origin = f"http://127.0.0.1:{stack.port}"
    urls = _page_requests(net_log, origin)
    assert {f"{origin}/_local/docs/assets/swagger-ui-bundle.js", f"{origin}/_local/openapi.json"} <= urls, (
        urls
    )
    assert not [url for url in urls if not _is_loopback(url)], sorted(urls)
