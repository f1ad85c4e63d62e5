"""The console: `/_local/` as one server-rendered page of what the stack knows (routes and functions with
their workers and roles, recent requests, events on the bus, failed batches, the stubs' faults with a form to
set them, links to Swagger UI), and each order's timeline at `/_local/orders/<id>` (timeline.py).

Plain HTML and a little CSS from f-strings: no build step, no script. Every value from outside goes through
`esc` (orders are user input), and a Content-Security-Policy that allows no script at all backs that up.
Never shown: tokens, headers, credentials; shipping addresses only on an order's own timeline (the recent
requests hold none: the access log keeps no body).

control.py gathers what a page shows into the plain values below (ConsoleView) and serves the pages.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote

import simplejson

from local.aws import apigw
from local.aws.access_log import AccessLogEntry
from local.front.timeline import Timeline, TimelineEntry, is_order_id
from local.stubs.upstream import FAULT_KINDS, StubCall

CONSOLE_PATH = "/_local/"
ORDERS_PATH = "/_local/orders/"
STUB_FAULTS_FORM = "/_local/console/stub-faults"
SHOWN_REQUESTS = 100
SHOWN_EVENTS = 50
SHOWN_STUB_CALLS = 30
# No script may run; styles only from the page itself; forms post back here only.
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        ),
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5rem 3rem;color:#1d1d1f;background:#fafafa}
header{display:flex;gap:1.5rem;align-items:baseline;flex-wrap:wrap;border-bottom:1px solid #ddd;padding:.8rem 0}
header h1{font-size:1.2rem;margin:0}
h2{font-size:1.05rem;margin:1.8rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
td:has(time){white-space:nowrap}
th{background:#f0f0f3;font-weight:600}
code,td.mono{font-family:ui-monospace,monospace;font-size:12.5px}
.ok{color:#11733b}.warn{color:#9a5b00}.bad{color:#b3261e}.muted{color:#777}
.kind{display:inline-block;min-width:7.5rem;font-weight:600}
details pre{white-space:pre-wrap;background:#f4f4f6;padding:.4rem;margin:.3rem 0;max-height:24rem;overflow:auto}
form.faults{display:flex;gap:1rem;flex-wrap:wrap;align-items:end;background:#fff;padding:.6rem;border:1px solid #eee}
form.faults label{display:flex;flex-direction:column;font-size:12.5px}
.error{background:#fde7e9;border:1px solid #b3261e;padding:.5rem;margin:1rem 0}
"""


def esc(value: Any) -> str:
    """Any value as HTML text (quotes too: safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def order_href(order_id: str) -> str:
    return ORDERS_PATH + quote(order_id, safe="")


def order_link(order_id: str | None) -> str:
    """A link to the order's timeline; an id that cannot be one is shown as text only."""
    if not order_id:
        return ""
    if not is_order_id(order_id):
        return f"<code>{esc(order_id)}</code>"
    return f'<a href="{esc(order_href(order_id))}"><code>{esc(order_id)}</code></a>'


def shown_time(epoch: float | None) -> str:
    """Local time to the millisecond, with the full instant (UTC offset included) as its `datetime`."""
    if epoch is None:
        return ""
    moment = datetime.fromtimestamp(epoch).astimezone()
    return (
        f'<time datetime="{esc(moment.isoformat(timespec="milliseconds"))}">'
        f"{esc(moment.strftime('%H:%M:%S.%f')[:-3])}</time>"
    )


def status_class(status: int | None) -> str:
    if status is None:
        return "muted"
    return "ok" if status < 400 else "warn" if status < 500 else "bad"  # noqa: PLR2004 - HTTP classes


def as_json(value: Any) -> str:
    """Plain data as indented JSON text (Decimals exact, sets and bytes readable)."""
    return simplejson.dumps(value, use_decimal=True, indent=2, sort_keys=True, default=_readable)


def _readable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def html_response(status: int, title: str, body: str) -> apigw.OutgoingResponse:
    page = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
    return apigw.OutgoingResponse(
        status, [("Content-Type", "text/html; charset=utf-8"), *SECURITY_HEADERS], page.encode()
    )


def redirect(location: str) -> apigw.OutgoingResponse:
    """303: after a form's POST, the browser GETs the page back (a reload does not post again)."""
    return apigw.OutgoingResponse(303, [("Location", location), ("Cache-Control", "no-store")], b"")


def _header(title: str) -> str:
    return (
        f'<header><h1>{esc(title)}</h1><a href="{CONSOLE_PATH}">Console</a>'
        '<a href="/_local/docs">Swagger UI</a><a href="/_local/openapi.json">OpenAPI document</a></header>'
    )


# ---------------------------------------------------------------------------------------- the console
@dataclass(frozen=True)
class FunctionRow:
    name: str
    workers: list[dict[str, Any]]  # FunctionPool.describe()
    role: str | None  # the execution role's name; None when IAM is not enforced
    role_summary: str | None


@dataclass(frozen=True)
class StubsView:
    plan: dict[str, Any]  # FaultPlan.describe()
    faults_injected: int
    calls: list[StubCall]


@dataclass(frozen=True)
class ConsoleView:
    title: str
    base_url: str
    routes: list[dict[str, Any]]  # control._route_row
    functions: list[FunctionRow]
    requests: list[AccessLogEntry]
    request_log_limit: int
    events: list[tuple[float, dict[str, Any]]]
    dead_letters: list[dict[str, Any]]
    streams: list[dict[str, Any]]  # StreamPoller.describe()
    stubs: StubsView | None
    iam_enforced: bool
    error: str | None = None  # a form's input that was refused, shown on top
    links: list[tuple[str, str]] = field(default_factory=list)  # (path, what) of the JSON endpoints


def console_page(view: ConsoleView, status: int = 200) -> apigw.OutgoingResponse:
    sections = [
        _header(view.title),
        f'<p class="error" role="alert">{esc(view.error)}</p>' if view.error else "",
        _requests_section(view),
        _routes_section(view),
        _functions_section(view),
        _events_section(view),
        _streams_section(view),
        _dead_letters_section(view),
        _stubs_section(view),
        _links_section(view),
    ]
    return html_response(status, view.title, "\n".join(section for section in sections if section))


def _table(headings: Sequence[str], rows: Sequence[str], empty: str, section_id: str) -> str:
    if not rows:
        return f'<p class="muted" id="{esc(section_id)}-empty">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(heading)}</th>" for heading in headings)
    return (
        f'<table id="{esc(section_id)}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _table_section(
    section_id: str,
    title: str,
    table: tuple[Sequence[str], Sequence[str], str, str],
    *,
    intro: str = "",
) -> str:
    """A section of the console: its heading, an optional line of (already escaped) HTML, then `_table`."""
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>{intro}' + _table(*table) + "</section>"


def _requests_section(view: ConsoleView) -> str:
    rows = [
        "<tr>"
        f"<td>{shown_time(entry.received_at)}</td>"
        f"<td>{esc(entry.method)}</td>"
        f'<td class="mono">{esc(entry.path)}</td>'
        f"<td>{esc(entry.caller) if entry.caller else '<span class=muted>none</span>'}</td>"
        f'<td class="{status_class(entry.status)}">{esc(entry.status)}</td>'
        f"<td>{entry.latency_ms:.0f} ms</td>"
        f"<td>{_correlation(entry.correlation_id)}</td>"
        f"<td>{order_link(entry.resource_id)}</td>"
        f"<td>{esc(entry.function or '')}</td>"
        "</tr>"
        for entry in reversed(view.requests[-SHOWN_REQUESTS:])
    ]
    kept = (
        f"newest first; the last {min(len(view.requests), SHOWN_REQUESTS)} of the {view.request_log_limit} "
        "the stack keeps"
    )
    headings = (
        "time",
        "method",
        "path",
        "caller",
        "status",
        "latency",
        "correlation id",
        "order",
        "function",
    )
    return _table_section(
        "recent-requests",
        "Recent requests",
        (headings, rows, "No request to the API yet.", "requests"),
        intro=f'<p class="muted">{esc(kept)}</p>',
    )


def _correlation(correlation_id: str | None) -> str:
    if not correlation_id:
        return ""
    traces = "/_local/traces?correlationId=" + quote(correlation_id, safe="")
    return f'<a class="mono" href="{esc(traces)}" title="its traces">{esc(correlation_id)}</a>'


def _routes_section(view: ConsoleView) -> str:
    rows = [
        "<tr>"
        f"<td>{esc(route['method'])}</td><td class=mono>{esc(route['path'])}</td>"
        f"<td>{esc(route['function'])}</td>"
        f"<td>{esc(route['auth'] or 'none')}{esc(' scopes: ' + ' '.join(route['scopes'])) if route['scopes'] else ''}</td>"
        "</tr>"
        for route in view.routes
    ]
    return _table_section(
        "routes-section",
        "Routes",
        (("method", "path", "function", "auth"), rows, "This template has no routes.", "routes"),
    )


def _workers_text(workers: list[dict[str, Any]]) -> str:
    if not workers:
        return "no worker (cold)"
    busy = sum(1 for worker in workers if worker.get("state") == "busy")
    invocations = sum(int(worker.get("invocations") or 0) for worker in workers)
    return (
        f"{len(workers)} worker{'s' if len(workers) != 1 else ''} "
        f"({busy} busy, {len(workers) - busy} idle), {invocations} invocations"
    )


def _functions_section(view: ConsoleView) -> str:
    rows = [
        "<tr>"
        f"<td>{esc(function.name)}</td><td>{esc(_workers_text(function.workers))}</td>"
        f"<td>{esc(function.role) if function.role else '<span class=warn>IAM not enforced</span>'}</td>"
        f'<td class="mono">{esc(function.role_summary or "")}</td>'
        "</tr>"
        for function in view.functions
    ]
    headings = ("function", "workers", "execution role", "what its role allows")
    return _table_section("functions-section", "Functions", (headings, rows, "No functions.", "functions"))


def _events_section(view: ConsoleView) -> str:
    rows = []
    for seen_at, event in reversed(view.events[-SHOWN_EVENTS:]):
        detail = event.get("detail") if isinstance(event.get("detail"), Mapping) else {}
        order_id = detail.get("orderId")
        status, previous = detail.get("status"), detail.get("previousStatus")
        change = f"{previous} → {status}" if previous else (status or "")
        rows.append(
            "<tr>"
            f"<td>{shown_time(seen_at)}</td><td>{esc(event.get('detail-type'))}</td>"
            f"<td>{esc(event.get('source'))}</td>"
            f"<td>{order_link(order_id if isinstance(order_id, str) else None)}</td>"
            f"<td>{esc(change)}</td><td>{esc(detail.get('version', ''))}</td>"
            "</tr>"
        )
    return _table_section(
        "events-section",
        "Events on the bus",
        (("seen", "detail-type", "source", "order", "status", "version"), rows, "No event yet.", "events"),
        intro='<p class="muted">newest first (all of them: <a href="/_local/events">/_local/events</a>)</p>',
    )


def _streams_section(view: ConsoleView) -> str:
    rows = [
        "<tr>"
        f"<td>{esc(stream.get('table'))} → {esc(stream.get('function'))}</td>"
        f"<td>{esc(stream.get('state'))}{(' — ' + esc(stream['error'])) if stream.get('error') else ''}</td>"
        f"<td>{esc(stream.get('recordsRead'))}</td><td>{esc(stream.get('invocations'))}</td>"
        f"<td>{esc(stream.get('retries'))}</td><td>{esc(stream.get('sentToDestination'))}</td>"
        "</tr>"
        for stream in view.streams
    ]
    headings = ("mapping", "state", "records read", "invocations", "retries", "batches given up")
    return _table_section(
        "streams-section", "Table streams", (headings, rows, "No stream mapping.", "streams")
    )


def _dead_letters_section(view: ConsoleView) -> str:
    rows = []
    for entry in reversed(view.dead_letters):
        message = entry.get("message") if isinstance(entry.get("message"), Mapping) else {}
        info = message.get("DDBStreamBatchInfo") or {}
        context = message.get("requestContext") or {}
        if "bucket" in entry:
            where = f"s3://{entry.get('bucket')}/{entry.get('key')}"
            state = (
                "present"
                if entry.get("present")
                else "gone (redriven?)"
                if entry.get("written")
                else "not written"
            )
        else:
            where = str(entry.get("queueUrl") or entry.get("destination") or "none (dropped)")
            state = "sent" if entry.get("messageId") else "not sent"
        rows.append(
            "<tr>"
            f"<td>{esc(message.get('timestamp'))}</td><td>{esc(entry.get('function'))}</td>"
            f"<td>{esc(info.get('batchSize'))} records, {esc(info.get('startSequenceNumber'))}..{esc(info.get('endSequenceNumber'))}</td>"
            f"<td>{esc(context.get('condition'))} after {esc(context.get('approximateInvokeCount'))} invocations</td>"
            f'<td class="mono">{esc(where)}</td><td>{esc(state)}</td>'
            "</tr>"
        )
    return _table_section(
        "failed-batches",
        "Failed batches (on-failure destinations)",
        (
            ("when", "function", "batch", "why", "destination", "object"),
            rows,
            "No batch given up on.",
            "dead-letters",
        ),
    )


def _stubs_section(view: ConsoleView) -> str:
    stubs = view.stubs
    if stubs is None:
        return (
            '<section id="stub-faults"><h2>Upstream stubs</h2><p class="muted">No stubs here: '
            "USERS_API_URL and INVENTORY_API_URL point elsewhere.</p></section>"
        )
    plan = stubs.plan
    kinds = "".join(
        f'<label><span>{esc(kind)}</span><input type="checkbox" name="kinds" value="{esc(kind)}"'
        f"{' checked' if kind in plan.get('kinds', []) else ''}></label>"
        for kind in FAULT_KINDS
    )
    form = (
        f'<form class="faults" method="post" action="{STUB_FAULTS_FORM}">'
        f'<label>rate (0–1)<input type="number" name="rate" min="0" max="1" step="any" value="{esc(plan.get("rate"))}"></label>'
        f'<label>fail next N calls<input type="number" name="failNext" min="0" step="1" value="{esc(plan.get("failNext"))}"></label>'
        f"{kinds}"
        f'<label>hang (s, timeout)<input type="number" name="hangSeconds" min="0" step="any" value="{esc(plan.get("hangSeconds"))}"></label>'
        f'<label>delay (s, slow)<input type="number" name="slowSeconds" min="0" step="any" value="{esc(plan.get("slowSeconds"))}"></label>'
        f'<label>seed<input type="number" name="seed" step="1" value="{esc(plan.get("seed") if plan.get("seed") is not None else "")}"></label>'
        '<button type="submit" name="action" value="set">Set faults</button>'
        '<button type="submit" name="action" value="clear">Clear faults</button>'
        "</form>"
    )
    rows = [
        "<tr>"
        f"<td>{shown_time(call.at)}</td><td>{esc(call.method)}</td><td class=mono>{esc(call.path)}</td>"
        f'<td class="{status_class(call.status)}">{esc(call.status if call.status is not None else "no answer")}</td>'
        f"<td>{esc(call.fault or '')}</td><td>{order_link(call.reservation_id)}</td>"
        "</tr>"
        for call in reversed(stubs.calls[-SHOWN_STUB_CALLS:])
    ]
    scripted = f"; scripted failures: {len(plan.get('scripted') or [])}" if plan.get("scripted") else ""
    return (
        '<section id="stub-faults"><h2>Upstream stubs: faults</h2>'
        f'<p id="fault-plan">Plan: rate {esc(plan.get("rate"))}, kinds {esc(", ".join(plan.get("kinds") or []))}, '
        f"fail next {esc(plan.get('failNext'))}{esc(scripted)}; faults injected so far: {esc(stubs.faults_injected)}</p>"
        f"{form}<h2>Recent upstream calls</h2>"
        + _table(
            ("time", "method", "path", "status", "fault", "reservation"),
            rows,
            "No upstream call yet.",
            "stub-calls",
        )
        + "</section>"
    )


def _links_section(view: ConsoleView) -> str:
    items = "".join(
        f'<li><a href="{esc(path)}">{esc(path)}</a> {esc(what)}</li>' for path, what in view.links
    )
    return f'<section id="endpoints"><h2>Everything as JSON</h2><ul>{items}</ul></section>'


def fault_plan_from_form(body: bytes) -> dict[str, Any]:
    """The stubs' fault plan (UpstreamStubs.set_faults' fields) from the console's form; `action=clear`
    is the empty plan. Raises ValueError for a field that is not a number."""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    if fields.get("action", [""])[0] == "clear":
        return {}

    def number(name: str, kind: type) -> Any:
        text = fields.get(name, [""])[0].strip()
        if not text:
            return None
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {text!r}") from None

    plan: dict[str, Any] = {"kinds": fields.get("kinds", [])}
    for name, kind in (
        ("rate", float),
        ("failNext", int),
        ("hangSeconds", float),
        ("slowSeconds", float),
        ("seed", int),
    ):
        value = number(name, kind)
        if value is not None:
            plan[name] = value
    if not plan["kinds"]:
        if plan.get("rate") or plan.get("failNext"):
            raise ValueError("pick at least one kind of fault")
        del plan["kinds"]
    return plan


# ---------------------------------------------------------------------------------------- a timeline
def timeline_page(timeline: Timeline) -> apigw.OutgoingResponse:
    order_id = timeline.order_id
    rows = "".join(_timeline_row(entry) for entry in timeline.entries)
    body = (
        _header(f"Order {order_id}")
        + _order_summary(timeline.latest)
        + f'<section id="timeline"><h2>Timeline ({len(timeline.entries)} entries, oldest first)</h2>'
        '<p class="muted">From the stack\'s logs since it started (each keeps its latest entries only).</p>'
        f'<table id="timeline-entries"><thead><tr><th>time</th><th>what</th><th>correlation id</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )
    return html_response(200, f"Order {order_id}", body)


def _order_summary(latest: Mapping[str, Any] | None) -> str:
    if latest is None:
        return '<p class="muted">No version of this order seen on the table\'s stream.</p>'
    address = latest.get("shippingAddress")
    address_text = (
        ", ".join(str(value) for value in address.values()) if isinstance(address, Mapping) else address
    )
    items = latest.get("items") if isinstance(latest.get("items"), list) else []
    item_text = "; ".join(
        f"{item.get('quantity')} × {item.get('productId')} at {item.get('unitPrice')}"
        for item in items
        if isinstance(item, Mapping)
    )
    facts = [
        ("status", latest.get("status")),
        ("version", latest.get("version")),
        ("user", latest.get("userId")),
        ("total", f"{latest.get('total')} {latest.get('currency', '')}"),
        ("items", item_text),
        ("shipping address", address_text),
        ("created", latest.get("createdAt")),
        ("updated", latest.get("updatedAt")),
    ]
    rows = "".join(f"<tr><th>{esc(name)}</th><td>{esc(value)}</td></tr>" for name, value in facts)
    return f'<section id="order"><h2>Latest version</h2><table id="order-summary">{rows}</table></section>'


def _timeline_row(entry: TimelineEntry) -> str:
    shown = {label: value for label, value in entry.details.items() if value not in (None, [], {})}
    # Short facts on one line under the summary; an image or an event's detail folded away.
    facts = "; ".join(
        f"{esc(label)}: {esc(', '.join(map(str, value)) if isinstance(value, list) else value)}"
        for label, value in shown.items()
        if not isinstance(value, Mapping)
    )
    details = (f'<div class="muted">{facts}</div>' if facts else "") + "".join(
        f"<details><summary>{esc(label)}</summary><pre>{esc(as_json(value))}</pre></details>"
        for label, value in shown.items()
        if isinstance(value, Mapping)
    )
    kind_class = entry.kind.replace(" ", "-")
    return (
        f'<tr class="entry {esc(kind_class)}"><td>{shown_time(entry.at)}</td>'
        f'<td><span class="kind">{esc(entry.kind)}</span> {esc(entry.summary)}{details}</td>'
        f"<td>{_correlation(entry.correlation_id)}</td></tr>"
    )


def not_found_page(what: str) -> apigw.OutgoingResponse:
    body = (
        _header("Not found")
        + f'<p id="not-found">{esc(what)}</p>'
        + f'<p><a href="{CONSOLE_PATH}">Back to the console</a></p>'
    )
    return html_response(404, "Not found", body)


def refused_page(status: int, what: str) -> apigw.OutgoingResponse:
    body = _header("Refused") + f'<p class="error">{esc(what)}</p>'
    return html_response(status, "Refused", body)
