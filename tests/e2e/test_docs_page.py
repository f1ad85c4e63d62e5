"""The docs page (`/_local/docs`, Swagger UI) as a person uses it, in a real Chromium driven by Playwright
(pytest-playwright): every operation of the OpenAPI document renders; a person authorizes with a token from
the local issuer, creates the README's order with "Try it out" and reads it back, and sees each answer in
the page. No request the page makes leaves loopback.

The browser is Playwright's own Chromium when installed (`playwright install chromium`), else the system's
(Debian's `chromium`, installed on first use as root): tests/support/browser.py."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Request, Response, Route, expect

from tests.e2e.test_readme import CREATE_BODY
from tests.support.browser import launch_chromium

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.only_browser("chromium"),
    # pytest-playwright 0.10's own base_url fixture (without pytest-base-url) is a session-scoped method.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

NETWORK_SCHEMES = {"http", "https", "ws", "wss"}
ASSET_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}
# Waits (actions and `expect`) end as soon as the page is ready; on a busy CI machine the first document and
# the first order also start the functions' workers.
TIMEOUT_MS = 30_000


# ---------------------------------------------------------------------------------------- the browser
@pytest.fixture(scope="session")
def launch_browser(browser_type_launch_args, browser_type):
    """pytest-playwright's one browser for the session, launched as tests/support/browser.py says."""

    def launch(**kwargs):
        return launch_chromium(browser_type, {**browser_type_launch_args, **kwargs})

    return launch


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Traffic:
    """What the page asked the network for: refused (not loopback), sent, and answered."""

    refused: list[str] = field(default_factory=list)
    sent: list[Request] = field(default_factory=list)
    answered: list[Response] = field(default_factory=list)

    def guard(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in NETWORK_SCHEMES and not is_loopback(url):
            self.refused.append(url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def api_calls(self, origin: str) -> list[tuple[str, str]]:
        return [
            (request.method, request.url.removeprefix(origin))
            for request in self.sent
            if request.url.startswith(f"{origin}/api/")
        ]


@pytest.fixture
def traffic(context: BrowserContext) -> Traffic:
    recorded = Traffic()
    context.route("**/*", recorded.guard)
    # Lambdas, not the bound methods: Playwright marks each handler with an attribute, which a builtin
    # method such as list.append cannot take.
    context.on("request", lambda request: recorded.sent.append(request))  # noqa: PLW0108
    context.on("response", lambda response: recorded.answered.append(response))  # noqa: PLW0108
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    return recorded


@pytest.fixture
def host() -> str:
    return "localhost"  # as the README gives the stack's address


@pytest.fixture
def origin(stack, host) -> str:
    return f"http://{host}:{stack.port}"


@pytest.fixture
def docs(page: Page, traffic: Traffic, origin: str) -> Page:
    page.goto(f"{origin}/_local/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Order Service")
    return page


@pytest.fixture(scope="module")
def served_document(stack):
    return stack.request("GET", "/_local/openapi.json").json()


def operations(document) -> list[tuple[str, str, dict]]:
    return [
        (method, path, operation)
        for path, ops in document["paths"].items()
        for method, operation in ops.items()
    ]


def operation_block(page: Page, document, operation_id: str):
    """The operation's block, as Swagger UI names it (deep links): #operations-<tag>-<operationId>."""
    [operation] = [op for _, _, op in operations(document) if op["operationId"] == operation_id]
    return page.locator(f"#operations-{operation['tags'][0]}-{operation_id}")


# ---------------------------------------------------------------------------------------- the page
def test_every_operation_renders_from_local_assets(docs: Page, traffic: Traffic, origin, served_document):
    listed = operations(served_document)
    assert listed
    for method, path, operation in listed:
        block = operation_block(docs, served_document, operation["operationId"])
        expect(block).to_have_class(re.compile(rf"\bopblock-{method}\b"))
        expect(block.locator(".opblock-summary-path")).to_have_attribute("data-path", path)
    expect(docs.locator(".opblock")).to_have_count(len(listed))
    # The admins' cross-user listing, by name (GET /api/orders beside POST /api/orders).
    assert {operation["operationId"] for _, _, operation in listed} >= {"createOrder", "listOrders"}
    across = operation_block(docs, served_document, "listOrders")
    expect(across).to_have_class(re.compile(r"\bopblock-get\b"))
    expect(across.locator(".opblock-summary-description")).to_have_text("List orders across users (admins)")
    expect(docs.get_by_text("Failed to load API definition")).to_have_count(0)

    # Nothing left loopback; what the page loaded came from the stack, each with its type.
    assert traffic.refused == []
    loaded = {response.url.removeprefix(origin): response for response in traffic.answered}
    expected = {"/_local/docs", "/_local/openapi.json"} | {
        f"/_local/docs/assets/{name}" for name in ("swagger-ui-bundle.js", "swagger-ui.css")
    }
    assert expected <= set(loaded), sorted(loaded)
    for url, response in loaded.items():
        assert url.startswith("/_local/"), url
        assert response.status == 200, (url, response.status)
        suffix = PurePosixPath(urlsplit(url).path).suffix
        if suffix in ASSET_TYPES:
            assert response.headers["content-type"].startswith(ASSET_TYPES[suffix]), (url, response.headers)


def execute(page: Page, block, origin: str, method: str, path_pattern: str) -> Response:
    """Press Execute in an operation's block; the page's own request to the API, answered."""
    pattern = re.compile(re.escape(origin) + path_pattern + "$")
    with page.expect_response(lambda r: r.request.method == method and bool(pattern.match(r.url))) as answer:
        block.get_by_role("button", name="Execute").click()
    return answer.value


def shown_response(block, status: int) -> str:
    """The JSON body the page shows under "Server response", once it shows `status` there."""
    live = block.locator(".live-responses-table tr.response")
    expect(live.locator(".response-col_status")).to_have_text(str(status))
    body = live.locator("div", has=block.page.locator("h5", has_text="Response body")).locator("pre")
    expect(body).to_be_visible()
    return body.inner_text()


# By the README's name and by the address the stack listens on: either way "Try it out" calls the page's origin.
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_a_person_authorizes_creates_and_reads_an_order(
    docs: Page, traffic: Traffic, origin, served_document, mint
):
    token = mint("user-123")
    expect(docs.locator(".servers select")).to_have_value(origin)

    # Authorize: paste the token, confirm, close.
    docs.get_by_role("button", name="Authorize", exact=True).click()
    dialog = docs.locator(".modal-ux")
    expect(dialog).to_be_visible()
    dialog.get_by_label("auth-bearer-value").fill(token)
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(docs.locator(".auth-wrapper button.authorize")).to_have_class(re.compile(r"\blocked\b"))

    # POST /api/orders with the README's body.
    create = operation_block(docs, served_document, "createOrder")
    create.locator(".opblock-summary").click()
    create.get_by_role("button", name="Try it out").click()
    create.locator("textarea.body-param__text").fill(CREATE_BODY)
    sent = execute(docs, create, origin, "POST", r"/api/orders")
    assert sent.status == 201, sent.text()
    assert sent.request.headers["authorization"] == f"Bearer {token}"
    body = shown_response(create, 201)
    order = json.loads(body, parse_float=Decimal)
    assert '"total": 59.98' in body, body
    assert order["userId"] == "user-123" and order["status"] == "pending", order
    assert order["items"][0]["productId"] == "prod-456" and order["total"] == Decimal("59.98"), order
    order_id = order["id"]
    assert order_id and order_id == sent.json()["id"]

    # GET /api/orders/{id} with that id.
    get = operation_block(docs, served_document, "getOrder")
    get.locator(".opblock-summary").click()
    get.get_by_role("button", name="Try it out").click()
    get.get_by_placeholder("id", exact=True).fill(order_id)
    read = execute(docs, get, origin, "GET", rf"/api/orders/{re.escape(order_id)}")
    assert read.status == 200, read.text()
    assert read.request.headers["authorization"] == f"Bearer {token}"
    body = shown_response(get, 200)
    assert '"total": 59.98' in body, body
    assert json.loads(body, parse_float=Decimal)["id"] == order_id

    # The page's own requests went out, to the stack, and nothing else left loopback.
    assert traffic.api_calls(origin) == [("POST", "/api/orders"), ("GET", f"/api/orders/{order_id}")]
    assert traffic.refused == []
