"""User and inventory service stubs implementing DESIGN.md's upstream contract, seeded from seed.json,
with injectable faults (latency, 5xx, timeouts after the work is done, connections reset).

Seeded users and products are as listed. With `openUsers`, any other user id is an active user, except
ids starting `unknown-` (404) or `suspended-` (suspended); with `openCatalog`, any other product id
ending in `-c<cents>` exists at that price (`p-c1999` costs 19.99) with ample stock. So any token
minted locally can order, and tests can name the prices they need.

Control endpoints (not part of the contract): `POST /_stubs/faults` sets the fault plan
(`{"rate", "kinds", "hangSeconds", "slowSeconds", "seed"}`, and `"failNext": n` to fail the next n calls
whatever the rate, with a kind drawn from `kinds`), `POST /_stubs/fail-next` scripts the next failures of
one call (`{"method", "pathPrefix", "count", "kind"}`), `GET /_stubs/state` shows users, stock,
reservations and calls, `POST /_stubs/reset` reloads the seed, `PUT /_stubs/users/<id>` adds or changes
a user.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import simplejson
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SEED_PATH = Path(__file__).with_name("seed.json")
FAULT_KINDS = ("error", "timeout", "reset", "slow")
PRICED_ID = re.compile(r"-c(\d{1,9})$")
OPEN_CATALOG_STOCK = 1_000_000
CALL_LOG_LIMIT = 2_000  # contract calls kept (GET /_stubs/state, the console), the oldest dropped
RESERVATION_PATH = re.compile(r"^/api/inventory/reservations/([^/]+)")


@dataclass
class StubCall:
    """One call of the contract, as the stub saw it: never a header or a body, only the reservation id a
    body names."""

    at: float  # epoch seconds it arrived
    method: str
    path: str
    reservation_id: str | None = None  # the inventory reservation it is about (an order's id)
    status: int | None = None  # None until answered; a reset connection has none
    fault: str | None = None  # the fault injected into it, if any


@dataclass
class FaultPlan:
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    hang_seconds: float = 5.0
    slow_seconds: float = 0.2
    seed: int | None = None
    random: random.Random = field(default_factory=random.Random)
    fail_next: int = 0  # calls that fail whatever the rate, before the rate applies again
    fail_next_kind: str | None = None  # their kind (else drawn from `kinds`)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    scripted: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path prefix, kind)

    def draw(self, method: str, path: str) -> str | None:
        with self._lock:
            for index, (scripted_method, prefix, kind) in enumerate(self.scripted):
                if scripted_method == method and path.startswith(prefix):
                    del self.scripted[index]
                    return kind
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_next_kind or self.random.choice(self.kinds)
            if self.rate <= 0 or self.random.random() >= self.rate:
                return None
            return self.random.choice(self.kinds)

    def describe(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "kinds": list(self.kinds),
            "hangSeconds": self.hang_seconds,
            "slowSeconds": self.slow_seconds,
            "seed": self.seed,
            "failNext": self.fail_next,
            "scripted": [list(step) for step in self.scripted],
        }


def _json(status: int, body: Any = None) -> Response:
    if body is None:
        return Response(status=status)
    return Response(simplejson.dumps(body, use_decimal=True), status=status, content_type="application/json")


class UpstreamStubs:
    def __init__(self, seed_path: Path = SEED_PATH, call_log_limit: int = CALL_LOG_LIMIT) -> None:
        self._seed_path = seed_path
        self._lock = threading.Lock()
        self.faults = FaultPlan()
        self.calls: deque[StubCall] = deque(maxlen=call_log_limit)
        self.reset()
        self._routes = Map(
            [
                Rule("/api/users/<user_id>", methods=["GET"], endpoint="get_user"),
                Rule("/api/inventory/reservations", methods=["POST"], endpoint="reserve"),
                Rule("/api/inventory/reservations/<reservation_id>", methods=["DELETE"], endpoint="release"),
                Rule(
                    "/api/inventory/reservations/<reservation_id>/commit", methods=["POST"], endpoint="commit"
                ),
                Rule("/_stubs/faults", methods=["POST"], endpoint="set_faults"),
                Rule("/_stubs/fail-next", methods=["POST"], endpoint="set_fail_next"),
                Rule("/_stubs/state", methods=["GET"], endpoint="state"),
                Rule("/_stubs/reset", methods=["POST"], endpoint="reset_state"),
                Rule("/_stubs/users/<user_id>", methods=["PUT"], endpoint="put_user"),
            ]
        )

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        seed = json.loads(self._seed_path.read_text(), parse_float=Decimal)
        with self._lock:
            self.users: dict[str, dict] = dict(seed["users"])
            self.products = {
                product_id: {"unitPrice": Decimal(str(product["unitPrice"])), "stock": int(product["stock"])}
                for product_id, product in seed["products"].items()
            }
            self.reservations: dict[str, dict] = {}
            self.ttl = timedelta(seconds=int(seed.get("reservationTtlSeconds", 86400)))
            self.open_users = bool(seed.get("openUsers", False))
            self.open_catalog = bool(seed.get("openCatalog", False))
            self.calls.clear()
            self.faults = FaultPlan()
            self.faults_injected = 0

    def set_faults(self, **plan: Any) -> None:
        unexpected = set(plan) - {"rate", "kinds", "hangSeconds", "slowSeconds", "seed", "failNext"}
        if unexpected:
            raise ValueError(f"unknown fault plan fields: {sorted(unexpected)}")
        kinds = tuple(plan.get("kinds") or FAULT_KINDS)
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        rate = float(plan.get("rate", 0.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        fail_next = int(plan.get("failNext", 0))
        if fail_next < 0:
            raise ValueError("failNext must not be negative")
        self.faults = FaultPlan(
            rate=rate,
            kinds=kinds,
            hang_seconds=float(plan.get("hangSeconds", 5.0)),
            slow_seconds=float(plan.get("slowSeconds", 0.2)),
            seed=plan.get("seed"),
            random=random.Random(plan.get("seed")),
            fail_next=fail_next,
        )

    def fail_next(self, count: int = 1, kind: str = "error") -> None:
        """The next `count` contract calls fail with `kind`; the rest of the plan is kept."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind: {kind!r}")
        if count < 0:
            raise ValueError("count must not be negative")
        plan = self.faults
        with plan._lock:
            plan.fail_next, plan.fail_next_kind = count, kind

    def fail_calls(self, method: str, path_prefix: str, count: int = 1, kind: str = "error") -> None:
        """The next `count` calls of `method` on paths starting with `path_prefix` fail with `kind`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind: {kind!r}")
        with self.faults._lock:
            self.faults.scripted.extend([(method, path_prefix, kind)] * count)

    def calls_to(self, method: str, path_prefix: str) -> int:
        return sum(
            1 for call in list(self.calls) if call.method == method and call.path.startswith(path_prefix)
        )

    def recent_calls(self) -> list[StubCall]:
        """The calls kept, oldest first (copies: a call still in progress gets its status later)."""
        return [StubCall(**call.__dict__) for call in list(self.calls)]

    def live_reservations(self) -> dict[str, dict]:
        with self._lock:
            return {rid: dict(r) for rid, r in self.reservations.items() if r["state"] == "held"}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "users": dict(self.users),
                "stock": {pid: p["stock"] for pid, p in self.products.items()},
                "reservations": {
                    rid: {"state": r["state"], "items": r["items"]} for rid, r in self.reservations.items()
                },
                "calls": [[call.method, call.path] for call in list(self.calls)],
                "faultsInjected": self.faults_injected,
            }

    # ------------------------------------------------------------------ contract
    def _user(self, user_id: str) -> dict | None:
        if user_id in self.users or not self.open_users or user_id.startswith("unknown-"):
            return self.users.get(user_id)
        return {"status": "suspended" if user_id.startswith("suspended-") else "active"}

    def _product(self, product_id: str) -> dict | None:
        """Caller holds the lock. Open-catalog products come into being on first use."""
        if product_id not in self.products and self.open_catalog and (match := PRICED_ID.search(product_id)):
            self.products[product_id] = {
                "unitPrice": Decimal(int(match.group(1))).scaleb(-2),
                "stock": OPEN_CATALOG_STOCK,
            }
        return self.products.get(product_id)

    def get_user(self, request: Request, user_id: str) -> Response:
        with self._lock:
            user = self._user(user_id)
        if user is None:
            return _json(404, {"message": "user not found"})
        return _json(200, {"id": user_id, **user})

    def reserve(self, request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}", parse_float=Decimal)
        reservation_id = body.get("reservationId")
        items = body.get("items") or []
        if not reservation_id or not items:
            return _json(400, {"message": "reservationId and items are required"})
        with self._lock:
            existing = self.reservations.get(reservation_id)
            if existing is not None:  # idempotent on reservationId
                return _json(201, existing["answer"])
            unknown = [item["productId"] for item in items if self._product(item["productId"]) is None]
            if unknown:
                return _json(404, {"unknownProducts": unknown})
            short = [
                {
                    "productId": item["productId"],
                    "requested": item["quantity"],
                    "available": self.products[item["productId"]]["stock"],
                }
                for item in items
                if self.products[item["productId"]]["stock"] < item["quantity"]
            ]
            if short:
                return _json(409, {"insufficient": short})
            for item in items:
                self.products[item["productId"]]["stock"] -= item["quantity"]
            answer = {
                "reservationId": reservation_id,
                "items": [
                    {
                        "productId": item["productId"],
                        "quantity": item["quantity"],
                        "unitPrice": self.products[item["productId"]]["unitPrice"],
                    }
                    for item in items
                ],
                "expiresAt": (datetime.now(UTC) + self.ttl)
                .isoformat(timespec="seconds")
                .replace("+00:00", "Z"),
            }
            self.reservations[reservation_id] = {"state": "held", "items": items, "answer": answer}
        return _json(201, answer)

    def release(self, request: Request, reservation_id: str) -> Response:
        with self._lock:
            reservation = self.reservations.get(reservation_id)
            if reservation is not None and reservation["state"] == "held":
                for item in reservation["items"]:
                    self.products[item["productId"]]["stock"] += item["quantity"]
                reservation["state"] = "released"
        return _json(204)

    def commit(self, request: Request, reservation_id: str) -> Response:
        with self._lock:
            reservation = self.reservations.get(reservation_id)
            if reservation is None or reservation["state"] == "released":
                return _json(404, {"message": "no held reservation"})
            reservation["state"] = "committed"
        return _json(204)

    # ------------------------------------------------------------------ control
    def set_faults_endpoint(self, request: Request) -> Response:
        try:
            self.set_faults(**json.loads(request.get_data() or b"{}"))
        except (ValueError, TypeError) as error:
            return _json(400, {"message": str(error)})
        return _json(204)

    def set_fail_next_endpoint(self, request: Request) -> Response:
        plan = json.loads(request.get_data() or b"{}")
        self.fail_calls(
            plan["method"], plan["pathPrefix"], int(plan.get("count", 1)), plan.get("kind", "error")
        )
        return _json(204)

    def put_user(self, request: Request, user_id: str) -> Response:
        body = json.loads(request.get_data() or b"{}")
        with self._lock:
            self.users[user_id] = {"status": body.get("status", "active")}
        return _json(204)

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        adapter = self._routes.bind_to_environ(environ)
        try:
            endpoint, arguments = adapter.match()
        except Exception as error:  # noqa: BLE001 - werkzeug's HTTPException is a response
            return error(environ, start_response)  # type: ignore[operator]
        handlers = {
            "set_faults": self.set_faults_endpoint,
            "set_fail_next": self.set_fail_next_endpoint,
            "state": lambda request: _json(200, self.snapshot()),
            "reset_state": lambda request: (self.reset(), _json(204))[1],
        }
        handler = handlers.get(endpoint) or getattr(self, endpoint)
        if endpoint.startswith(("set_", "state", "reset", "put_")):
            return handler(request, **arguments)(environ, start_response)
        call = StubCall(time.time(), request.method, request.path, _reservation_of(request))
        self.calls.append(call)
        fault = self.faults.draw(request.method, request.path)
        call.fault = fault
        if fault is not None and fault != "slow":
            self.faults_injected += 1
        if fault == "error":
            call.status = 503
            return _json(503, {"message": "injected failure"})(environ, start_response)
        if fault == "reset":
            start_response("500 Connection Reset", [])
            _reset_connection(environ)
            return []
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        response = handler(request, **arguments)
        if fault == "timeout":
            # The work is done, but the answer comes too late: the hardest case for the caller.
            time.sleep(self.faults.hang_seconds)
        call.status = response.status_code
        return response(environ, start_response)


def _reservation_of(request: Request) -> str | None:
    """The reservation an inventory call is about: in its path, or (a new reservation) its body's
    `reservationId`. The body is read once here and kept for the handler (werkzeug caches it)."""
    if match := RESERVATION_PATH.match(request.path):
        return match.group(1)
    if request.method == "POST" and request.path == "/api/inventory/reservations":
        try:
            reservation = json.loads(request.get_data() or b"{}").get("reservationId")
        except (ValueError, AttributeError):
            return None
        return reservation if isinstance(reservation, str) else None
    return None


def _reset_connection(environ: dict) -> None:
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per call is noise in tests
        pass


class StubServer:
    """The stubs on a loopback port, in a background thread."""

    def __init__(self, stubs: UpstreamStubs | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.stubs = stubs or UpstreamStubs()
        self._server = make_server(host, port, self.stubs, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        self.url = f"http://{shown}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="upstream-stubs",
            daemon=True,
        )

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
