"""Mixed traffic against a running local stack, then a reconciliation of what the API said against what
the table, the bus and the inventory ended up with.

Clients (threads, one keep-alive urllib3 pool each) repeat weighted operations until the deadline:
customers create, read, list and cancel their orders; admins create for customers, read, list and move
orders along the status machine (with and without `If-Match`); some customers try other customers'
orders (404) and listings (403); some creates are replayed with their `Idempotency-Key`. Every answer
is checked against what it may be, and every 201 and every accepted transition (200 on PATCH) is
written to a ledger.

`reconcile` then waits for the stream to drain (polling until the counts stop changing, bounded) and
checks: no 5xx and no unexpected status; every created order readable by its owner, at the status and
version of its last accepted transition; admin listings hold exactly the created orders; each order's
accepted transitions form one chain of allowed moves (versions 2, 3, ..., each from where the previous
ended: two PATCHes that both won would show here); exactly one OrderCreated per order and exactly one OrderStatusChanged per accepted transition with matching
previousStatus/status/version, in version order; every order has its reservation (cancelled:
released; shipped or delivered: committed; otherwise held) and no held reservation lacks an order.
"""

from __future__ import annotations

import json
import math
import queue
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import urllib3

from tests.support.status_rules import FINAL, STATUSES, allowed, targets_from

ADDRESS = {"street": "1 Soak Street", "city": "Loopback", "zipCode": "12701"}
# Open-catalog products (`-c<cents>`) and two seeded ones, with their prices.
PRODUCTS = {
    "soak-tea-c450": Decimal("4.50"),
    "soak-mug-c1299": Decimal("12.99"),
    "soak-pot-c3995": Decimal("39.95"),
    "soak-spoon-c105": Decimal("1.05"),
    "prod-456": Decimal("29.99"),
    "prod-789": Decimal("5.00"),
}

# Operation weights (per client iteration).
WEIGHTS = {
    "create": 22,
    "get": 22,
    "list": 12,
    "cancel": 8,
    "advance": 26,
    "intrude": 5,
    "replay": 5,
}


def expected_reservation(status: str) -> str:
    if status == "cancelled":
        return "released"
    if status in ("shipped", "delivered"):
        return "committed"
    return "held"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ------------------------------------------------------------------------------------------ the ledger
@dataclass
class Transition:
    version: int
    previous: str
    status: str
    by: str


@dataclass
class OrderRecord:
    id: str
    owner: str
    total: Decimal
    transitions: list[Transition] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The statuses it went through, as accepted: `pending>confirmed>delivered`."""
        chain = sorted(self.transitions, key=lambda transition: transition.version)
        return ">".join(["pending", *(transition.status for transition in chain)])

    @property
    def last(self) -> tuple[str, int]:
        """(status, version) after the newest accepted transition."""
        if not self.transitions:
            return "pending", 1
        newest = max(self.transitions, key=lambda transition: transition.version)
        return newest.status, newest.version


class Ledger:
    """What the API said yes to. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.orders: dict[str, OrderRecord] = {}
        self._open: list[str] = []  # ids believed not final (a hint for picking, not a fact)

    def created(self, record: OrderRecord) -> None:
        with self._lock:
            self.orders[record.id] = record
            self._open.append(record.id)

    def accepted(self, order_id: str, transition: Transition) -> None:
        with self._lock:
            record = self.orders[order_id]
            record.transitions.append(transition)
            if record.last[0] in FINAL and order_id in self._open:
                self._open.remove(order_id)

    def pick(self, rng: random.Random, owner: str | None = None) -> OrderRecord | None:
        with self._lock:
            if owner is not None:
                # A customer's own orders: a scan is fine at soak sizes (thousands).
                mine = [record for record in self.orders.values() if record.owner == owner]
                return rng.choice(mine) if mine else None
            if self._open and rng.random() < 0.85:
                return self.orders[rng.choice(self._open[-200:])]
            return self.orders[rng.choice(list(self.orders))] if self.orders else None

    def snapshot(self) -> dict[str, OrderRecord]:
        with self._lock:
            return {
                order_id: OrderRecord(record.id, record.owner, record.total, list(record.transitions))
                for order_id, record in self.orders.items()
            }


# ------------------------------------------------------------------------------------------ results
@dataclass
class Sample:
    operation: str
    status: int
    milliseconds: float
    at: float  # when it was sent (time.monotonic())


@dataclass
class TrafficResult:
    started: float  # time.monotonic()
    seconds: float
    clients: int
    samples: list[Sample]
    unexpected: list[str]
    ledger: Ledger
    customers: list[str]
    admins: list[str]
    tokens: dict[str, str]

    @property
    def requests(self) -> int:
        return len(self.samples)

    @property
    def by_status(self) -> Counter:
        return Counter(sample.status for sample in self.samples)


@dataclass
class Reconciliation:
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)


# ------------------------------------------------------------------------------------------ HTTP
class Http:
    """One keep-alive connection pool per client thread; no retries (a retry would hide a failure)."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self._pool = urllib3.HTTPConnectionPool(
            "127.0.0.1",
            port,
            maxsize=1,
            block=True,
            retries=False,
            timeout=urllib3.Timeout(connect=5, read=timeout),
        )

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None, headers: dict | None = None
    ) -> tuple[int, Any, float, dict]:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        raw = None
        if body is not None:
            raw = body if isinstance(body, str) else json.dumps(body, default=str)
            all_headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            response = self._pool.request(method, path, body=raw, headers=all_headers, preload_content=True)
        except urllib3.exceptions.HTTPError as error:
            return 0, str(error), (time.perf_counter() - started) * 1000, {}
        elapsed = (time.perf_counter() - started) * 1000
        try:
            payload = json.loads(response.data, parse_float=Decimal) if response.data else None
        except ValueError:
            payload = response.data[:200]
        return response.status, payload, elapsed, dict(response.headers)

    def close(self) -> None:
        self._pool.close()


# ------------------------------------------------------------------------------------------ traffic
class Client(threading.Thread):
    def __init__(
        self,
        index: int,
        port: int,
        deadline: float,
        ledger: Ledger,
        tokens: dict[str, str],
        customers: list[str],
        admins: list[str],
        seed: int,
    ) -> None:
        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.http = Http(port)
        self.deadline = deadline
        self.ledger = ledger
        self.tokens = tokens
        self.customers = customers
        self.admins = admins
        self.rng = random.Random(seed * 1000 + index)
        self.samples: list[Sample] = []
        self.unexpected: list[str] = []
        self._operations = list(WEIGHTS)
        self._weights = list(WEIGHTS.values())

    # -- bookkeeping
    def _send(self, operation: str, expected: set[int], method: str, path: str, user: str, **kwargs):
        sent = time.monotonic()
        status, payload, elapsed, headers = self.http.call(method, path, self.tokens[user], **kwargs)
        self.samples.append(Sample(operation, status, elapsed, sent))
        if status not in expected:
            self._unexpected(f"{operation}: {method} {path} as {user} -> {status} {str(payload)[:200]}")
        return status, payload, headers

    def _unexpected(self, text: str) -> None:
        if len(self.unexpected) < 50:
            self.unexpected.append(text)

    # -- operations
    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                operation = self.rng.choices(self._operations, self._weights)[0]
                if operation != "create" and not self.ledger.orders:
                    operation = "create"
                getattr(self, f"op_{operation}")()
        except Exception as error:  # noqa: BLE001 - a broken client is a finding, not a crash
            self._unexpected(f"client {self.name} stopped: {error!r}")
        finally:
            self.http.close()

    def _order_body(self, user_id: str | None) -> tuple[dict, Decimal]:
        chosen = self.rng.sample(sorted(PRODUCTS), self.rng.randint(1, 3))
        items, total = [], Decimal(0)
        for product in chosen:
            quantity = self.rng.randint(1, 4)
            line: dict[str, Any] = {"productId": product, "quantity": quantity}
            if self.rng.random() < 0.5:
                line["price"] = str(PRODUCTS[product])  # the current price, as a client that read it sends it
            items.append(line)
            total += PRODUCTS[product] * quantity
        body: dict[str, Any] = {"items": items, "shippingAddress": ADDRESS}
        if user_id is not None:
            body["userId"] = user_id
        return body, total

    def _create(self, key: str | None = None) -> tuple[dict, str, dict | None]:
        by_admin = self.rng.random() < 0.2
        owner = self.rng.choice(self.customers)
        caller = self.rng.choice(self.admins) if by_admin else owner
        body, total = self._order_body(owner if by_admin or self.rng.random() < 0.5 else None)
        text = _numbers_for_prices(body)
        headers = {"Idempotency-Key": key} if key else None
        status, payload, _ = self._send(
            "create", {201}, "POST", "/api/orders", caller, body=text, headers=headers
        )
        if status != 201:
            return {}, caller, None
        if payload.get("userId") != owner or Decimal(str(payload.get("total"))) != total:
            self._unexpected(
                f"create: owner/total {payload.get('userId')}/{payload.get('total')} != {owner}/{total}"
            )
        self.ledger.created(OrderRecord(payload["id"], owner, total))
        return {"text": text, "headers": headers}, caller, payload

    def op_create(self) -> None:
        self._create()

    def op_replay(self) -> None:
        """A create with an Idempotency-Key, sent again: the same order, not a second one."""
        sent, caller, first = self._create(key=f"soak-{uuid.uuid4()}")
        if first is None:
            return
        status, again, _ = self._send(
            "replay", {201}, "POST", "/api/orders", caller, body=sent["text"], headers=sent["headers"]
        )
        if status == 201 and again.get("id") != first["id"]:
            self._unexpected(f"replay: a second order {again.get('id')} for key of {first['id']}")

    def op_get(self) -> None:
        record = self.ledger.pick(self.rng)
        if record is None:
            return
        reader = self.rng.choice(self.admins) if self.rng.random() < 0.3 else record.owner
        status, payload, headers = self._send("get", {200}, "GET", f"/api/orders/{record.id}", reader)
        if status == 200:
            if payload.get("userId") != record.owner or payload.get("id") != record.id:
                self._unexpected(
                    f"get: {record.id} came back as {payload.get('id')} of {payload.get('userId')}"
                )
            if headers.get("ETag") != f'"{payload.get("version")}"':
                self._unexpected(f"get: ETag {headers.get('ETag')} for version {payload.get('version')}")

    def op_list(self) -> None:
        owner = self.rng.choice(self.customers)
        reader = self.rng.choice(self.admins) if self.rng.random() < 0.3 else owner
        status_filter = self.rng.choice(STATUSES) if self.rng.random() < 0.3 else None
        query = f"limit={self.rng.randint(1, 25)}" + (f"&status={status_filter}" if status_filter else "")
        path = f"/api/users/{owner}/orders?{query}"
        for _page in range(2 if self.rng.random() < 0.4 else 1):
            status, payload, _ = self._send("list", {200}, "GET", path, reader)
            if status != 200:
                return
            for order in payload.get("items", []):
                if order.get("userId") != owner or (status_filter and order.get("status") != status_filter):
                    self._unexpected(
                        f"list: {owner}?{query} holds {order.get('id')} of {order.get('userId')}"
                    )
            cursor = payload.get("nextCursor")
            if not cursor:
                return
            path = f"/api/users/{owner}/orders?{query}&cursor={cursor}"

    def _change(self, operation: str, record: OrderRecord, caller: str, target: str, expected: set[int]):
        headers = None
        if self.rng.random() < 0.3:
            headers = {"If-Match": f'"{record.last[1]}"'}  # may be stale by now: 412 is then right
            expected = expected | {412}
        status, payload, _ = self._send(
            operation,
            expected,
            "PATCH",
            f"/api/orders/{record.id}/status",
            caller,
            body={"status": target},
            headers=headers,
        )
        if status == 200:
            history = payload.get("statusHistory") or []
            if payload.get("status") != target or len(history) < 2 or payload.get("userId") != record.owner:
                self._unexpected(f"{operation}: odd 200 for {record.id}: {str(payload)[:200]}")
                return
            self.ledger.accepted(
                record.id, Transition(int(payload["version"]), history[-2]["status"], target, caller)
            )
        elif status == 409 and not (
            isinstance(payload, dict)
            and payload.get("currentStatus") in STATUSES
            and payload.get("requestedStatus") == target
        ):
            self._unexpected(f"{operation}: odd 409 for {record.id}: {str(payload)[:200]}")

    def op_cancel(self) -> None:
        owner = self.rng.choice(self.customers)
        record = self.ledger.pick(self.rng, owner=owner)
        if record is not None:
            self._change("cancel", record, owner, "cancelled", {200, 409})

    def op_advance(self) -> None:
        record = self.ledger.pick(self.rng)
        if record is None:
            return
        current = record.last[0]
        if self.rng.random() < 0.15 or current in FINAL:
            target = self.rng.choice(STATUSES)  # possibly not allowed: a 409
        else:
            choices = targets_from(current)  # forward ones in order, then cancelled
            # Mostly one step forward, sometimes a skip (an admin may mark a pending order delivered).
            target = choices[0] if self.rng.random() < 0.6 else self.rng.choice(choices)
        self._change("advance", record, self.rng.choice(self.admins), target, {200, 409})

    def op_intrude(self) -> None:
        intruder = self.rng.choice(self.customers)
        record = self.ledger.pick(self.rng)
        if record is None or record.owner == intruder:
            return
        choice = self.rng.random()
        if choice < 0.4:
            self._send("intrude", {404}, "GET", f"/api/orders/{record.id}", intruder)
        elif choice < 0.7:
            self._send("intrude", {403}, "GET", f"/api/users/{record.owner}/orders", intruder)
        else:
            self._send(
                "intrude",
                {404},
                "PATCH",
                f"/api/orders/{record.id}/status",
                intruder,
                body={"status": "cancelled"},
            )


def _numbers_for_prices(body: dict) -> str:
    """JSON with prices as exact numbers (29.99), the way a client sends money."""
    import simplejson

    converted = {
        **body,
        "items": [
            {**item, **({"price": Decimal(item["price"])} if "price" in item else {})}
            for item in body["items"]
        ],
    }
    return simplejson.dumps(converted, use_decimal=True)


def run_traffic(
    port: int,
    mint: Callable[..., str],
    *,
    seconds: float,
    clients: int = 8,
    customers: int = 12,
    admins: int = 2,
    seed: int | None = None,
) -> TrafficResult:
    seed = seed if seed is not None else random.randrange(1 << 30)
    run = uuid.uuid4().hex[:6]
    customer_ids = [f"soak-{run}-c{index:02d}" for index in range(customers)]
    admin_ids = [f"soak-{run}-ops{index}" for index in range(admins)]
    lifetime = int(seconds) + 3600
    tokens = {user: mint(user, expires_in=lifetime) for user in customer_ids}
    tokens.update({user: mint(user, admin=True, expires_in=lifetime) for user in admin_ids})
    ledger = Ledger()
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        Client(index, port, deadline, ledger, tokens, customer_ids, admin_ids, seed)
        for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.monotonic() - started
    samples = [sample for thread in threads for sample in thread.samples]
    unexpected = [text for thread in threads for text in thread.unexpected]
    unexpected += [
        f"client {thread.name} still running after the deadline" for thread in threads if thread.is_alive()
    ]
    return TrafficResult(
        started, elapsed, clients, samples, unexpected, ledger, customer_ids, admin_ids, tokens
    )


# ------------------------------------------------------------------------------------------ reconciliation
def settle(
    probe: Callable[[], Any], done: Callable[[Any], bool], *, quiet: float, bound: float, every: float = 1.0
):
    """Poll `probe` until `done(value)` and the value has not changed for `quiet` seconds, or it has not
    changed for `3 * quiet` seconds (stuck), or `bound` seconds have passed. Returns (value, seconds)."""
    started = time.monotonic()
    value = probe()
    changed_at = time.monotonic()
    while True:
        now = time.monotonic()
        quiet_for = now - changed_at
        if (done(value) and quiet_for >= quiet) or quiet_for >= 3 * quiet or now - started >= bound:
            return value, now - started
        time.sleep(every)
        latest = probe()
        if latest != value:
            value, changed_at = latest, time.monotonic()


def reconcile(
    port: int, traffic: TrafficResult, *, drain_bound: float = 90, parallel: int = 8
) -> Reconciliation:
    result = Reconciliation()
    tokens, admin = traffic.tokens, traffic.admins[0]
    orders = traffic.ledger.snapshot()
    http = Http(port, timeout=60)
    try:
        server_errors = {
            status: count for status, count in traffic.by_status.items() if status >= 500 or status == 0
        }
        result.check(not server_errors, f"5xx or no answer: {server_errors}")
        result.check(
            not traffic.unexpected,
            f"{len(traffic.unexpected)} unexpected answers, first: {traffic.unexpected[:10]}",
        )

        # Transitions: one chain per order, as the conditional update promises.
        transitions = 0
        for record in orders.values():
            chain = sorted(record.transitions, key=lambda transition: transition.version)
            transitions += len(chain)
            status = "pending"
            for expected_version, transition in enumerate(chain, start=2):
                if (
                    transition.version != expected_version
                    or transition.previous != status
                    or not allowed(transition.previous, transition.status)
                ):
                    result.problems.append(
                        f"order {record.id}: accepted transitions are not one allowed chain: "
                        f"{[(t.version, t.previous, t.status) for t in chain]}"
                    )
                    break
                status = transition.status
        result.figures.update(orders=len(orders), transitions=transitions)

        # Every order readable by its owner, as the ledger last left it.
        def read_back(record: OrderRecord) -> str | None:
            client = reader_pool.get()
            try:
                status, payload, _, _ = client.call("GET", f"/api/orders/{record.id}", tokens[record.owner])
            finally:
                reader_pool.put(client)
            if status != 200:
                return f"order {record.id}: GET by its owner -> {status} {str(payload)[:120]}"
            found = (payload.get("userId"), payload.get("status"), payload.get("version"))
            if found != (record.owner, *record.last):
                return (
                    f"order {record.id}: (owner, status, version) {found} != {(record.owner, *record.last)}"
                )
            return None

        reader_pool: queue.Queue = queue.Queue()
        for _ in range(parallel):
            reader_pool.put(Http(port, timeout=60))
        with ThreadPoolExecutor(max_workers=parallel) as executor:
            unreadable = [problem for problem in executor.map(read_back, orders.values()) if problem]
        while not reader_pool.empty():
            reader_pool.get().close()
        result.check(
            not unreadable, f"{len(unreadable)} orders not as created/changed, first: {unreadable[:5]}"
        )

        # Admin listings: exactly the created orders, per customer.
        listed: dict[str, set[str]] = {}
        for customer in traffic.customers:
            ids: set[str] = set()
            path = f"/api/users/{customer}/orders?limit=100"
            while path:
                status, payload, _, _ = http.call("GET", path, tokens[admin])
                if status != 200:
                    result.problems.append(f"admin listing of {customer}: {status}")
                    break
                ids |= {order["id"] for order in payload["items"]}
                cursor = payload.get("nextCursor")
                path = f"/api/users/{customer}/orders?limit=100&cursor={cursor}" if cursor else None
            listed[customer] = ids
        for customer, ids in listed.items():
            created = {order_id for order_id, record in orders.items() if record.owner == customer}
            result.check(
                ids == created,
                f"{customer}: listed but not created {sorted(ids - created)[:5]}, "
                f"created but not listed {sorted(created - ids)[:5]}",
            )

        # Events: wait for the stream to drain, then exactly one per created order / accepted transition.
        expected_events = len(orders) + transitions

        def our_events() -> list[dict]:
            status, payload, _, _ = http.call("GET", "/_local/events")
            return [
                event
                for event in (payload if status == 200 else [])
                if isinstance(event.get("detail"), dict) and event["detail"].get("orderId") in orders
            ]

        events, drain_seconds = settle(
            our_events, lambda value: len(value) >= expected_events, quiet=2.0, bound=drain_bound
        )
        result.figures["drain seconds"] = round(drain_seconds, 1)
        check_events(result, orders, events)

        # Reservations: in step with each order's final status; nothing held without an order.
        wanted = {order_id: expected_reservation(record.last[0]) for order_id, record in orders.items()}

        def reservations() -> dict[str, str]:
            _, payload, _, _ = http.call("GET", "/_local/stubs/state")
            return {rid: value["state"] for rid, value in (payload or {}).get("reservations", {}).items()}

        states, settle_seconds = settle(
            reservations,
            lambda value: all(value.get(order_id) == state for order_id, state in wanted.items()),
            quiet=1.0,
            bound=drain_bound,
        )
        result.figures["reservation states"] = dict(
            Counter(states.get(order_id, "missing") for order_id in orders)
        )
        result.figures["reservations settle seconds"] = round(settle_seconds, 1)
        wrong = [
            f"{order_id} ({orders[order_id].path}): {states.get(order_id, 'missing')}, not {state}"
            for order_id, state in wanted.items()
            if states.get(order_id) != state
        ]
        result.check(not wrong, f"{len(wrong)} reservations out of step, first: {wrong[:5]}")
        orphans = sorted(rid for rid, state in states.items() if state == "held" and rid not in orders)
        result.check(not orphans, f"{len(orphans)} held reservations without an order: {orphans[:5]}")
    finally:
        http.close()
    return result


def check_events(result: Reconciliation, orders: dict[str, OrderRecord], events: list[dict]) -> None:
    created = Counter(
        event["detail"]["orderId"] for event in events if event["detail-type"] == "OrderCreated"
    )
    changes: dict[tuple[str, int], list[dict]] = defaultdict(list)
    by_order: dict[str, list[int]] = defaultdict(list)
    for event in events:
        detail = event["detail"]
        by_order[detail["orderId"]].append(int(detail["version"]))
        if event["detail-type"] == "OrderStatusChanged":
            changes[(detail["orderId"], int(detail["version"]))].append(detail)
    result.figures["events"] = {
        "OrderCreated": sum(created.values()),
        "OrderStatusChanged": sum(len(found) for found in changes.values()),
    }
    not_once = {order_id: created.get(order_id, 0) for order_id in orders if created.get(order_id, 0) != 1}
    result.check(
        not not_once, f"{len(not_once)} orders without exactly one OrderCreated: {list(not_once.items())[:5]}"
    )
    for event in events:
        detail = event["detail"]
        if event["detail-type"] == "OrderCreated":
            record = orders[detail["orderId"]]
            shape = (
                detail.get("userId"),
                detail.get("status"),
                detail.get("version"),
                detail.get("previousStatus"),
            )
            if shape != (record.owner, "pending", 1, None):
                result.problems.append(f"OrderCreated of {record.id}: {shape}")
    wanted = {(order_id, t.version): t for order_id, record in orders.items() for t in record.transitions}
    wrong = []
    for key, transition in wanted.items():
        found = changes.get(key, [])
        if len(found) != 1:
            wrong.append(f"{key}: {len(found)} OrderStatusChanged")
        elif (found[0].get("previousStatus"), found[0].get("status")) != (
            transition.previous,
            transition.status,
        ):
            wrong.append(
                f"{key}: {found[0].get('previousStatus')}->{found[0].get('status')}, "
                f"accepted {transition.previous}->{transition.status}"
            )
    extra = sorted(set(changes) - set(wanted))
    result.check(
        not wrong, f"{len(wrong)} accepted transitions without exactly one matching event: {wrong[:5]}"
    )
    result.check(not extra, f"{len(extra)} OrderStatusChanged for no accepted transition: {extra[:5]}")
    out_of_order = [order_id for order_id, versions in by_order.items() if versions != sorted(versions)]
    result.check(
        not out_of_order, f"{len(out_of_order)} orders with events out of version order: {out_of_order[:5]}"
    )


# ------------------------------------------------------------------------------------------ summary
def summary(traffic: TrafficResult, reconciliation: Reconciliation) -> str:
    samples = traffic.samples
    latencies = [sample.milliseconds for sample in samples]
    headline = (
        f"Soak: {traffic.clients} clients, {traffic.seconds:.1f} s, {traffic.requests} requests, "
        f"{traffic.requests / traffic.seconds:.1f} req/s, "
        f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms"
    )
    errors = {
        status: count for status, count in sorted(traffic.by_status.items()) if status >= 400 or status == 0
    }
    warm_from = traffic.started + min(10.0, traffic.seconds / 4)
    warm = [sample.milliseconds for sample in samples if sample.at >= warm_from]
    warm_line = (
        f"  after the first {warm_from - traffic.started:.0f} s (cold starts): {len(warm)} requests, "
        f"p50 {percentile(warm, 50):.1f} ms, p99 {percentile(warm, 99):.1f} ms"
    )
    lines = [
        headline,
        warm_line,
        f"  statuses: {dict(sorted(traffic.by_status.items()))}",
        f"  errors by status: {errors}",
    ]
    per_operation: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        per_operation[sample.operation].append(sample)
    lines.append(f"  {'operation':<10} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for operation, group in sorted(per_operation.items()):
        values = [sample.milliseconds for sample in group]
        statuses = dict(sorted(Counter(sample.status for sample in group).items()))
        lines.append(
            f"  {operation:<10} {len(group):>7} {percentile(values, 50):>8.1f} {percentile(values, 99):>8.1f}  {statuses}"
        )
    lines.append(f"  reconciliation: {json.dumps(reconciliation.figures, sort_keys=True)}")
    if reconciliation.problems:
        lines.append(f"  PROBLEMS ({len(reconciliation.problems)}):")
        lines += [f"    - {problem}" for problem in reconciliation.problems]
    else:
        lines.append("  reconciled: no problems")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ a fresh stack
def soak_on_fresh_stack(
    seconds: float,
    *,
    keys_dir: Path,
    log_path: Path,
    mint: Callable[..., str],
    clients: int = 8,
    customers: int = 12,
    seed: int | None = None,
    drain_bound: float = 90,
) -> tuple[TrafficResult, Reconciliation]:
    """`python -m local` on a free port (keys from `keys_dir`, which `mint` must sign with), the traffic,
    the reconciliation, then the stack stopped as Ctrl-C stops it."""
    from tests.e2e.harness import RunningStack, free_port

    stack = RunningStack(free_port(), keys_dir, log_path)
    try:
        startup = stack.wait_ready(60)
        traffic = run_traffic(
            stack.port, mint, seconds=seconds, clients=clients, customers=customers, seed=seed
        )
        reconciliation = reconcile(stack.port, traffic, drain_bound=drain_bound)
        letters = Http(stack.port).call("GET", "/_local/dead-letters")[1] or []
        reconciliation.figures["dead letters"] = len(letters)
        # Every batch the consumer gave up on (written to the failed-batch bucket, or lost if that failed).
        lost = [letter for letter in letters if letter.get("written") is False]
        reconciliation.figures["dead letters lost"] = len(lost)
        reconciliation.check(
            not letters,
            f"{len(letters)} stream batches went to the on-failure destination ({len(lost)} of them lost)",
        )
        reconciliation.figures["stack startup seconds"] = round(startup, 1)
    finally:
        exit_code = stack.stop()
    reconciliation.check(exit_code == 0, f"the stack exited with {exit_code} on Ctrl-C (log: {log_path})")
    return traffic, reconciliation
