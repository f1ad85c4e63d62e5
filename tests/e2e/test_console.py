"""The console as a person uses it, in a real Chromium driven by Playwright: create the README's order from the
docs page (Swagger UI), open the console at /_local/, find the order among the recent requests, open its
timeline and see its OrderCreated event and its inventory reservation; then ship it from the docs page as an
admin (pending → confirmed → processing → shipped, DESIGN.md's status machine) and see the timeline grow: a
version, a stream record and an OrderStatusChanged event for each move, and the reservation committed.
Any console error or uncaught error in any page fails the test.

The browser, its network guard and the docs page's helpers are tests/e2e/test_docs_page.py's."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.test_docs_page import (  # noqa: F401 - fixtures, used by name
    TIMEOUT_MS,
    Traffic,
    docs,
    execute,
    host,
    launch_browser,
    operation_block,
    origin,
    served_document,
    shown_response,
    traffic,
)
from tests.e2e.test_readme import CREATE_BODY

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.only_browser("chromium"),
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

SHIPPING = ("confirmed", "processing", "shipped")  # the forward moves, one at a time


def authorize(page: Page, token: str) -> None:
    """Swagger UI's Authorize dialog: drop what is there, paste the token, apply, close."""
    page.get_by_role("button", name="Authorize", exact=True).click()
    dialog = page.locator(".modal-ux")
    expect(dialog).to_be_visible()
    remove = dialog.get_by_role("button", name="Remove authorization")
    if remove.count():
        remove.click()
    dialog.get_by_label("auth-bearer-value").fill(token)
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def open_operation(page: Page, document, operation_id: str) -> Locator:
    block = operation_block(page, document, operation_id)
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    return block


def reload_until(page: Page, locator: Locator, count: int, timeout: float = TIMEOUT_MS / 1000) -> None:
    """The pages are rendered once, without script: what the stack learns later shows after a reload (the
    events and stream records come after the request, from the stream consumer)."""
    deadline = time.monotonic() + timeout
    while locator.count() < count:
        assert time.monotonic() < deadline, f"{locator} never reached {count} (now {locator.count()})"
        time.sleep(0.3)
        page.reload()
    expect(locator).to_have_count(count)


def entries(page: Page, kind: str, text: str | re.Pattern[str] = "") -> Locator:
    """The timeline's entries of one kind (the row's class), holding `text`."""
    rows = page.locator(f"#timeline-entries tr.entry.{kind.replace(' ', '-')}")
    return rows.filter(has_text=text) if text else rows


@pytest.fixture
def browser_errors(page: Page) -> list[str]:
    """Every console error and uncaught error of the page, from its first load on (asked for before `docs`,
    which loads the docs page)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_a_person_follows_an_order_from_the_docs_page_through_the_console(
    browser_errors: list[str],
    docs: Page,  # noqa: F811 - the fixtures imported above, by name
    traffic: Traffic,  # noqa: F811
    origin,  # noqa: F811
    served_document,  # noqa: F811
    mint,
):
    # Create the README's order from the docs page, as user-123.
    authorize(docs, mint("user-123"))
    create = open_operation(docs, served_document, "createOrder")
    create.locator("textarea.body-param__text").fill(CREATE_BODY)
    sent = execute(docs, create, origin, "POST", r"/api/orders")
    assert sent.status == 201, sent.text()
    order = json.loads(shown_response(create, 201), parse_float=Decimal)
    order_id = order["id"]
    correlation_id = sent.headers["apigw-requestid"]

    # The console: the order among the recent requests, with its caller, status and correlation id.
    docs.goto(f"{origin}/_local/")
    expect(docs).to_have_title("Local stack console")
    row = docs.locator("#requests tbody tr").filter(has=docs.locator(f'a[href="/_local/orders/{order_id}"]'))
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text("POST")
    expect(cells.nth(2)).to_have_text("/api/orders")
    expect(cells.nth(3)).to_have_text("user-123")
    expect(cells.nth(4)).to_have_text("201")
    expect(cells.nth(6)).to_have_text(correlation_id)
    expect(docs.locator("#recent-requests")).not_to_contain_text(order["shippingAddress"]["street"])
    expect(docs.get_by_role("link", name="Swagger UI")).to_have_attribute("href", "/_local/docs")

    # Its timeline: the request, the reservation, version 1, its stream record and OrderCreated.
    row.get_by_role("link", name=order_id).click()
    expect(docs).to_have_url(f"{origin}/_local/orders/{order_id}")
    expect(docs.locator("h1")).to_have_text(f"Order {order_id}")
    reload_until(docs, entries(docs, "event", "OrderCreated"), 1)
    expect(entries(docs, "request", "POST /api/orders → 201")).to_have_count(1)
    expect(entries(docs, "inventory call", "POST /api/inventory/reservations → 201")).to_have_count(1)
    expect(entries(docs, "version written", "version 1 written (INSERT): status pending")).to_have_count(1)
    expect(entries(docs, "stream record", "INSERT")).to_have_count(1)
    expect(docs.locator("#order-summary")).to_contain_text(order["shippingAddress"]["street"])  # its own page
    before = docs.locator("#timeline-entries tr.entry").count()

    # Ship it from the docs page, as an admin, one status at a time.
    docs.goto(f"{origin}/_local/docs")
    expect(docs.locator(".swagger-ui .info .title")).to_contain_text("Order Service")
    authorize(docs, mint("admin-1", admin=True))
    change = open_operation(docs, served_document, "updateOrderStatus")
    change.get_by_placeholder("id", exact=True).fill(order_id)
    for status in SHIPPING:
        change.locator("textarea.body-param__text").fill(json.dumps({"status": status}))
        moved = execute(docs, change, origin, "PATCH", rf"/api/orders/{re.escape(order_id)}/status")
        assert moved.status == 200, moved.text()
        assert json.loads(shown_response(change, 200))["status"] == status

    # The timeline grew: each move is a request, a version, a stream record and an event; shipping commits.
    docs.goto(f"{origin}/_local/orders/{order_id}")
    reload_until(docs, entries(docs, "event", "OrderStatusChanged"), len(SHIPPING))
    reload_until(docs, entries(docs, "inventory call", re.compile(r"/commit → 204")), 1)
    previous = "pending"
    for version, status in enumerate(SHIPPING, start=2):
        expect(
            entries(
                docs, "request", re.compile(rf"PATCH /api/orders/{order_id}/status → 200 .* by admin-1")
            ).nth(version - 2)
        ).to_be_visible()
        expect(
            entries(
                docs, "version written", f"version {version} written (MODIFY): status {previous} → {status}"
            )
        ).to_have_count(1)
        expect(
            entries(
                docs,
                "event",
                f"OrderStatusChanged from com.orderservice.orders {previous} → {status} v{version}",
            )
        ).to_have_count(1)
        previous = status
    expect(entries(docs, "stream record", re.compile(r"MODIFY ORDER#.* / ORDER read"))).to_have_count(
        len(SHIPPING)
    )
    expect(docs.locator("#order-summary")).to_contain_text("shipped")
    assert docs.locator("#timeline-entries tr.entry").count() >= before + 4 * len(SHIPPING) + 1

    # The rows are in time order, as the page says.
    moments = [moment.get_attribute("datetime") for moment in docs.locator("#timeline-entries time").all()]
    assert moments == sorted(moments), moments

    assert browser_errors == []
    assert traffic.refused == []
