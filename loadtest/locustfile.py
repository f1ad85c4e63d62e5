"""Load test of the Order Service with Locust: customers and an admin driving orders through their lifecycle.

    make load                                     # headless against `make dev`'s stack (see the README)
    .venv/bin/python -m locust -f loadtest/locustfile.py --host http://localhost:3001   # Locust's web UI

The mix, per customer (weights): read one of their orders 6, list their orders 3, create an order 2,
cancel one of their pending orders 1. Half of the orders a customer creates are handed to the admin, who
ships them and later marks them delivered; the customer only cancels the other half, so the two never
race for one order and every status change has one right answer. One simulated user in eight is the admin.
Requests are named by route (`GET /api/orders/{id}`, ...), so Locust's statistics are per route; any status
other than the one the route answers on success is a failure.

Tokens:
- against the local stack (default): each simulated customer is a user of its own (`load-<random>`; the
  local stubs know every user id) with a token minted by the local issuer (`local.aws.auth.mint`, what
  `make token` runs), and the admin gets an admin token the same way. The keys are the stack's
  (`local/.keys/`, or `LOCAL_KEYS_DIR` as the stack was given).
- against a deployed stage: `ORDERS_TOKEN` (a bearer token, e.g. a Cognito ID token) for every customer,
  `ORDERS_USER_ID` the user it belongs to (default: its `sub`), and `ORDERS_ADMIN_TOKEN` for the admin
  (without it no admin runs: orders are only created, read, listed and cancelled).

Other settings (environment): `ORDERS_PRODUCTS` (comma-separated product ids, default
`prod-456,prod-789,prod-101`), `LOAD_THINK_SECONDS` (each simulated user waits up to this long between
requests, default 0: back to back, which measures what the service sustains).
"""

from __future__ import annotations

import os
import random
import uuid
from collections import deque

import gevent
from locust import FastHttpUser, between, constant, task

PRODUCTS = [
    p.strip() for p in os.environ.get("ORDERS_PRODUCTS", "prod-456,prod-789,prod-101").split(",") if p
]
DELIVER_SHARE = 0.5  # when there is both to ship and to deliver
THINK_SECONDS = float(os.environ.get("LOAD_THINK_SECONDS") or 0)
ADDRESS = {"street": "123 Main St", "city": "New York", "zipCode": "10001"}

# Orders handed to the admin, and those the admin shipped (shared by the users of this Locust process).
TO_SHIP: deque[str] = deque(maxlen=10_000)
TO_DELIVER: deque[str] = deque(maxlen=10_000)


def local_token(user_id: str, *, admin: bool = False) -> str:
    """A token from the local issuer, as `make -s token USER=<id> [ADMIN=1]` prints it."""
    from local.aws import auth  # the repository's local stack: run Locust from the repository's root

    return auth.mint(user_id, admin=admin)


def token_subject(token: str) -> str:
    """The `sub` of our own bearer token (to name the user it lists orders of; nothing is trusted on it)."""
    import jwt

    return jwt.decode(token, options={"verify_signature": False})["sub"]


def think_time():
    return between(0, THINK_SECONDS) if THINK_SECONDS > 0 else constant(0)


class OrdersApi(FastHttpUser):
    """Requests by route; `expect` is the status the route answers on success, anything else a failure."""

    abstract = True
    wait_time = think_time()
    token: str = ""

    def call(
        self, method: str, route: str, path: str, expect: int, *, body: dict | None = None, headers=None
    ):
        headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        with self.client.request(
            method, path, name=route, json=body, headers=headers, catch_response=True
        ) as response:
            if response.status_code != expect:
                response.failure(f"{response.status_code} (expected {expect}): {(response.text or '')[:200]}")
                return None
            response.success()
            return response.json() if response.text else {}


class Customer(OrdersApi):
    weight = 7

    def on_start(self) -> None:
        if os.environ.get("ORDERS_TOKEN"):
            self.token = os.environ["ORDERS_TOKEN"]
            self.user_id = os.environ.get("ORDERS_USER_ID") or token_subject(self.token)
        else:
            self.user_id = f"load-{uuid.uuid4().hex[:12]}"
            self.token = local_token(self.user_id)
        self.orders: list[str] = []  # every order this user created (to read back)
        self.cancellable: list[str] = []  # the ones kept pending for the customer to cancel

    @task(2)
    def create_order(self) -> None:
        items = [{"productId": p, "quantity": random.randint(1, 3)} for p in random.sample(PRODUCTS, k=1)]
        order = self.call(
            "POST",
            "/api/orders",
            "/api/orders",
            201,
            body={"userId": self.user_id, "items": items, "shippingAddress": ADDRESS},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if order:
            self.orders = [*self.orders[-49:], order["id"]]
            (TO_SHIP if len(self.orders) % 2 else self.cancellable).append(order["id"])

    @task(6)
    def get_order(self) -> None:
        if not self.orders:
            return self.create_order()
        self.call("GET", "/api/orders/{id}", f"/api/orders/{random.choice(self.orders)}", 200)

    @task(3)
    def list_orders(self) -> None:
        self.call("GET", "/api/users/{userId}/orders", f"/api/users/{self.user_id}/orders?limit=20", 200)

    @task(1)
    def cancel_order(self) -> None:
        if not self.cancellable:
            return self.create_order()
        order_id = self.cancellable.pop()
        self.call(
            "PATCH",
            "/api/orders/{id}/status",
            f"/api/orders/{order_id}/status",
            200,
            body={"status": "cancelled"},
        )


class Admin(OrdersApi):
    """Ships the orders handed to it, then marks them delivered; waits when there is nothing to do."""

    weight = 1
    # Against a deployed stage the admin runs only with a token of its own.
    abstract = bool(os.environ.get("ORDERS_TOKEN")) and not os.environ.get("ORDERS_ADMIN_TOKEN")

    def on_start(self) -> None:
        self.token = os.environ.get("ORDERS_ADMIN_TOKEN") or local_token(
            f"load-admin-{uuid.uuid4().hex[:8]}", admin=True
        )

    @task
    def fulfil(self) -> None:
        if TO_DELIVER and (not TO_SHIP or random.random() < DELIVER_SHARE):
            order_id, status = TO_DELIVER.popleft(), "delivered"
        elif TO_SHIP:
            order_id, status = TO_SHIP.popleft(), "shipped"
        else:
            gevent.sleep(0.2)
            return
        changed = self.call(
            "PATCH", "/api/orders/{id}/status", f"/api/orders/{order_id}/status", 200, body={"status": status}
        )
        if changed and status == "shipped":
            TO_DELIVER.append(order_id)
