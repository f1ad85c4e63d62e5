"""The console (`/_local/`) and an order's timeline (`/_local/orders/<id>`) over HTTP, without a browser: what
they must never show (tokens, credentials, an address outside the order's own timeline), escaping, the 404
page, the stub fault form, and `make dev`'s banner. tests/e2e/test_console.py drives them in Chromium."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import quote, urlencode

import pytest

from tests.e2e.harness import Reply, http_request, stack_admin_credentials, started_stack, wait_for

pytestmark = pytest.mark.e2e

HTML = "text/html; charset=utf-8"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def create_order(stack, token: str, street: str, city: str = "New York") -> dict:
    body = {
        "items": [{"productId": "prod-456", "quantity": 1}],
        "shippingAddress": {"street": street, "city": city, "zipCode": "10001"},
    }
    created = stack.request("POST", "/api/orders", token=token, body=json.dumps(body))
    assert created.status == 201, created.text
    return created.json()


def page(stack, path: str, status: int = 200) -> str:
    reply = stack.request("GET", path)
    assert reply.status == status, (path, reply.status, reply.text[:500])
    assert reply.headers["Content-Type"] == HTML, reply.headers
    assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
    return reply.text


def created_event_seen(stack, order_id: str) -> bool:
    return any(
        event["detail-type"] == "OrderCreated" and event["detail"].get("orderId") == order_id
        for event in stack.request("GET", "/_local/events").json()
    )


def section(html: str, section_id: str) -> str:
    found = re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.DOTALL)
    assert found, f"no section {section_id}"
    return found.group(1)


def test_the_banner_gives_the_consoles_url_first(stack):
    lines = stack.log.splitlines()
    title = next(index for index, line in enumerate(lines) if line.startswith("Order Service local stack ("))
    assert lines[title + 1].split() == [
        "Console",
        f"http://localhost:{stack.port}/_local/",
        "(an",
        "order's",
        "timeline:",
        f"http://localhost:{stack.port}/_local/orders/<id>)",
    ], lines[title : title + 3]


def test_local_without_its_slash_leads_to_the_console(stack):
    reply = stack.request("GET", "/_local")
    assert (reply.status, reply.headers["Location"]) == (303, "/_local/")


def test_an_order_in_recent_requests_links_to_its_timeline_and_only_there_shows_its_address(stack, mint):
    street = f"{uuid.uuid4()} Console Lane"
    order = create_order(stack, mint("user-123"), street)
    wait_for(lambda: created_event_seen(stack, order["id"]), timeout=20)

    console = page(stack, "/_local/")
    requests = section(console, "recent-requests")
    row = next(row for row in re.findall(r"<tr>.*?</tr>", requests, re.DOTALL) if order["id"] in row)
    assert f'href="/_local/orders/{order["id"]}"' in row
    assert re.search(r"<td>POST</td>.*/api/orders</td><td>user-123</td>.*>201</td>", row, re.DOTALL), row
    assert (
        street not in console and "Console Lane" not in console
    )  # nowhere on the console, not only the table

    timeline = page(stack, f"/_local/orders/{order['id']}")
    assert street in timeline
    assert "OrderCreated" in timeline and "/api/inventory/reservations" in timeline


def test_no_token_or_credential_is_ever_shown(stack, mint):
    token = mint("user-123")
    order = create_order(stack, token, "1 Token Street")
    # A token in the query string too: the access log keeps the path alone.
    read = stack.request("GET", f"/api/orders/{order['id']}?access_token={token}", token=token)
    assert read.status == 200, read.text
    operator = stack.request("GET", "/_local/operator?role=EventsRedriveRole").json()["credentials"]
    admin = stack_admin_credentials(stack.services()) or {}
    secrets = [token, *token.split("."), *operator.values(), *admin.values()]
    assert len([secret for secret in secrets if len(secret) >= 16]) >= 5, "too few secrets to look for"
    wait_for(lambda: created_event_seen(stack, order["id"]), timeout=20)

    for path in ("/_local/", f"/_local/orders/{order['id']}"):
        shown = page(stack, path)
        leaked = [secret[:12] for secret in secrets if len(secret) >= 16 and secret in shown]
        assert leaked == [], (path, leaked)
        assert "Bearer" not in shown and "access_token" not in shown
        assert not re.search(r"(?i)aws_secret_access_key|aws_session_token", shown)


def test_an_orders_data_is_escaped_on_its_timeline(stack, mint):
    script = '<script>alert("console")</script>'
    attribute = '"><img src=x onerror=alert(1)>'
    order = create_order(stack, mint("user-123"), script, city=attribute)
    wait_for(lambda: created_event_seen(stack, order["id"]), timeout=20)
    timeline = page(stack, f"/_local/orders/{order['id']}")
    assert "&lt;script&gt;alert(&quot;console&quot;)&lt;/script&gt;" in timeline
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in timeline
    assert "<script" not in timeline.lower() and "<img" not in timeline.lower()


@pytest.mark.parametrize(
    "order_id",
    [
        str(uuid.uuid4()),  # well formed, never seen
        quote('<script>alert("x")</script>', safe=""),
        "a/b",
        "x" * 300,
        "",
        "..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_an_unknown_or_malformed_order_id_is_a_404_page(stack, order_id):
    shown = page(stack, f"/_local/orders/{order_id}", status=404)
    assert 'id="not-found"' in shown
    assert "Traceback" not in shown and "<script" not in shown.lower()


# ---------------------------------------------------------------------------------------- the fault form
@pytest.fixture(scope="module")
def quiet_stack(keys_dir, tmp_path_factory):
    """A stack of this module's own: no other test's orders call the stubs while a fault waits for one call."""
    with started_stack(keys_dir, tmp_path_factory.mktemp("console-stack")) as running:
        yield running


def post_form(stack, path: str, fields: dict | list, headers: dict | None = None) -> Reply:
    return http_request(
        stack.port, "POST", path, body=urlencode(fields, doseq=True), headers={**FORM, **(headers or {})}
    )


def fault_form(console: str) -> tuple[str, set[str]]:
    """The fault form's action and the names of its fields, as the page gives them."""
    form = re.search(r'<form class="faults" method="post" action="([^"]+)">(.*?)</form>', console, re.DOTALL)
    assert form, "no fault form"
    return form.group(1), set(re.findall(r'name="([^"]+)"', form.group(2)))


def test_the_fault_form_sets_a_fault_the_stubs_then_inject(quiet_stack):
    action, names = fault_form(page(quiet_stack, "/_local/"))
    assert names == {"rate", "failNext", "kinds", "hangSeconds", "slowSeconds", "seed", "action"}

    posted = post_form(
        quiet_stack,
        action,
        {
            "rate": "0",
            "failNext": "1",
            "kinds": ["error"],
            "hangSeconds": "5",
            "slowSeconds": "0.2",
            "seed": "",
            "action": "set",
        },
    )
    assert (posted.status, posted.headers["Location"]) == (303, "/_local/#stub-faults")
    plan = quiet_stack.request("GET", "/_local/stubs/state").json()["faults"]
    assert (plan["failNext"], plan["kinds"]) == (1, ["error"])

    stubs = quiet_stack.services()["stubs"]
    port = int(stubs.rsplit(":", 1)[1])
    assert http_request(port, "GET", "/api/users/user-123").status == 503  # the fault, injected
    assert http_request(port, "GET", "/api/users/user-123").status == 200  # and only once
    calls = section(page(quiet_stack, "/_local/"), "stub-faults")
    assert re.search(r"/api/users/user-123</td><td class=\"bad\">503</td><td>error</td>", calls), calls
    assert "faults injected so far: 1" in calls

    cleared = post_form(quiet_stack, action, {"action": "clear"})
    assert cleared.status == 303
    assert quiet_stack.request("GET", "/_local/stubs/state").json()["faults"]["failNext"] == 0


def test_a_plan_the_stubs_refuse_is_shown_and_changes_nothing(quiet_stack):
    action, _ = fault_form(page(quiet_stack, "/_local/"))
    before = quiet_stack.request("GET", "/_local/stubs/state").json()["faults"]
    refused = post_form(quiet_stack, action, {"rate": "2", "kinds": ["error"], "action": "set"})
    assert refused.status == 400 and refused.headers["Content-Type"] == HTML
    assert "Fault plan refused: rate must be between 0 and 1" in refused.text
    assert quiet_stack.request("GET", "/_local/stubs/state").json()["faults"] == before


def test_the_fault_form_refuses_a_post_from_another_sites_page(quiet_stack):
    action, _ = fault_form(page(quiet_stack, "/_local/"))
    before = quiet_stack.request("GET", "/_local/stubs/state").json()["faults"]
    refused = post_form(
        quiet_stack,
        action,
        {"rate": "1", "kinds": ["reset"], "action": "set"},
        headers={"Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert refused.status == 403
    assert quiet_stack.request("GET", "/_local/stubs/state").json()["faults"] == before
