"""The OpenAPI document: generated from the code (`make openapi` → docs/openapi.json) and checked against it,
complete (every route, security, bodies, parameters, problem+json errors, links), served by the local stack
with Swagger UI whose assets are served locally. The page itself, in a browser: test_docs_page.py."""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys

import pytest

from local.front.openapi import DEFAULT_SERVER, DOCUMENT_PATH, dumps, generate
from local.template import TEMPLATE_PATH
from tests.e2e.harness import ROOT

pytestmark = pytest.mark.e2e

ERRORS = {  # README's API table, plus the 500 every function may answer and the 503 of every one the table backs
    ("post", "/api/orders"): {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ("get", "/api/orders/{id}"): {"401", "404", "500", "503"},
    ("patch", "/api/orders/{id}/status"): {"400", "401", "403", "404", "409", "412", "500", "503"},
    ("get", "/api/users/{userId}/orders"): {"400", "401", "403", "500", "503"},
    ("get", "/api/orders"): {"400", "401", "403", "500", "503"},
}
SUCCESS = {
    ("post", "/api/orders"): ("201", "Order"),
    ("get", "/api/orders/{id}"): ("200", "Order"),
    ("patch", "/api/orders/{id}/status"): ("200", "Order"),
    ("get", "/api/users/{userId}/orders"): ("200", "OrderPage"),
    ("get", "/api/orders"): ("200", "OrderPage"),
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
    from local.template import load_template
    from local.template.model import stack_model

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
    command = [sys.executable, "-m", "local.front.openapi"]
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
    across = {p["name"]: p for p in operations[("get", "/api/orders")]["parameters"]}
    assert operations[("get", "/api/orders")]["operationId"] == "listOrders"
    assert list(across) == ["status", "createdFrom", "createdTo", "order", "limit", "cursor"]
    assert {p["in"] for p in across.values()} == {"query"}
    assert not any(p["required"] for p in across.values())
    assert across["limit"]["schema"].items() >= listing["limit"]["schema"].items()
    assert _resolve(document, across["order"]["schema"])["enum"] == ["asc", "desc"]
    assert across["order"]["schema"]["default"] == "desc"
    assert across["status"]["schema"]["$ref"] == "#/components/schemas/OrderStatus"
    for bound in ("createdFrom", "createdTo"):
        assert across[bound]["schema"]["maxLength"] == 40 and "ISO 8601" in across[bound]["description"]
    # Its 400 names the window's own problem type beside the others (orders.http.problems).
    refused = _resolve(document, operations[("get", "/api/orders")]["responses"]["400"])["description"]
    assert all(f"`{slug}`" in refused for slug in ("validation-error", "invalid-window", "invalid-cursor"))
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

    # Every link, on every operation: its target exists and takes what it passes, and what it reads from
    # the request is a parameter of the request (schemathesis refuses the whole document otherwise).
    for key, operation in operations.items():
        names = {f"{p['in']}.{p['name']}" for p in operation.get("parameters", [])}
        for response in operation["responses"].values():
            for link in _resolve(document, response).get("links", {}).values():
                target = operations[operation_ids[link["operationId"]]]
                assert set(link["parameters"]) <= {f"{p['in']}.{p['name']}" for p in target["parameters"]}
                for expression in link["parameters"].values():
                    if expression.startswith("$request."):
                        assert expression.removeprefix("$request.") in names, (key, link)
    # A page links to the next page of the same listing, carrying the query its cursor is bound to.
    for key, operation_id in (
        (("get", "/api/users/{userId}/orders"), "listUserOrders"),
        (("get", "/api/orders"), "listOrders"),
    ):
        next_page = operations[key]["responses"]["200"]["links"]["NextPage"]
        assert next_page["operationId"] == operation_id
        assert next_page["parameters"]["query.cursor"] == "$response.body#/nextCursor"
    across = operations[("get", "/api/orders")]["responses"]["200"]["links"]["NextPage"]["parameters"]
    assert set(across) == {f"query.{p['name']}" for p in operations[("get", "/api/orders")]["parameters"]}


def test_response_schemas_follow_the_models(document):
    """The response bodies' schemas are written by hand beside the routes (`orders.http.docs.SCHEMAS`): their
    members must stay those of the models that produce them."""
    from orders.domain import models
    from orders.http.api import PROBLEM_TYPE_BASE

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
    """The page and its assets over HTTP. What a browser loads from it (each local, with its type): test_docs_page.py."""
    page = stack.request("GET", "/_local/docs")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "validatorUrl: null" in page.text  # else Swagger UI asks validator.swagger.io about the document
    assert stack.request("GET", "/_local/docs/assets/swagger-ui-bundle.js").raw.startswith(b"/*! For license")
    assert stack.request("GET", "/_local/docs/assets/../openapi.json").status == 404
    assert stack.request("GET", "/_local/docs/assets/nothing.js").status == 404
