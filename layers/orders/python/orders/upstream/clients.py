"""Clients for the user and inventory services: the only modules that talk HTTP.

urllib3 does the connection pooling, timeouts and retries (with jitter). Retries happen only where they
are safe: GETs, DELETEs, and the reservation POST, which the inventory makes idempotent on
`reservationId`; only on connection errors, timeouts and 5xx answers. Every call is bounded by a
deadline (the function's remaining time minus a margin), so an upstream that hangs costs a 503, never
a Lambda timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import simplejson
import urllib3
from urllib3.util import Retry, Timeout

from orders import tracing
from orders.domain.errors import BuyerNotEligible, InsufficientStock, UnknownProducts, UpstreamUnavailable

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
# Less time than this left before the deadline: no attempt could finish, so none is made.
MIN_ATTEMPT_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: str
    unit_prices: dict[str, Decimal]
    expires_at: str | None


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    body: Any


class UpstreamHttp:
    """One pooled HTTP client per upstream service, with its retry policy and time budget."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        credential: Callable[[], str | None] = lambda: None,
        connect_timeout: float = 1.0,
        read_timeout: float = 3.0,
        retries: int = 2,
        pool: urllib3.PoolManager | None = None,
        connections: int = 4,
    ) -> None:
        """`connections`: kept open per host, as many as the threads that call at once (more are opened
        when needed, and closed after use)."""
        self.service = service
        self._base_url = base_url.rstrip("/")
        self._credential = credential
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._retry = Retry(
            total=retries,
            status_forcelist=RETRYABLE_STATUSES,
            allowed_methods=frozenset({"GET", "DELETE", "POST"}),
            backoff_factor=0.05,
            backoff_jitter=0.05,
            backoff_max=0.5,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        self._pool = pool or urllib3.PoolManager(maxsize=connections, retries=self._retry)

    def request(
        self, method: str, path: str, *, body: Any = None, deadline: float | None = None
    ) -> UpstreamResponse:
        """`deadline` is a `time.monotonic()` instant the whole call (retries included) must end by."""
        attempts = (self._retry.total or 0) + 1
        read_timeout = self._read_timeout
        if deadline is not None:
            budget = deadline - time.monotonic()
            if budget <= MIN_ATTEMPT_SECONDS:
                raise UpstreamUnavailable(self.service)
            # Spread what is left over every attempt, so the retries fit the deadline too.
            read_timeout = min(read_timeout, budget / attempts)
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if credential := self._credential():
            headers["Authorization"] = f"Bearer {credential}"
        with tracing.span(
            f"{self.service} {method}",
            {"http.request.method": method, "server.address": self._base_url, "url.path": path},
            kind="CLIENT",
        ) as current:
            if trace_header := tracing.outgoing_trace_header():
                headers["X-Amzn-Trace-Id"] = trace_header
            response = self._send(method, path, body, headers, read_timeout)
            current.set_attribute("http.response.status_code", response.status)
        if response.status in RETRYABLE_STATUSES:
            raise UpstreamUnavailable(self.service)
        payload = None
        if response.data:
            try:
                payload = simplejson.loads(response.data, use_decimal=True)
            except ValueError as error:
                raise UpstreamUnavailable(self.service) from error
        return UpstreamResponse(response.status, payload)

    def _send(
        self, method: str, path: str, body: Any, headers: dict[str, str], read_timeout: float
    ) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.request(
                method,
                self._base_url + path,
                body=simplejson.dumps(body, use_decimal=True) if body is not None else None,
                headers=headers,
                timeout=Timeout(connect=min(self._connect_timeout, read_timeout), read=read_timeout),
                retries=self._retry,
            )
        except urllib3.exceptions.HTTPError as error:
            raise UpstreamUnavailable(self.service) from error


class UserServiceClient:
    def __init__(self, http: UpstreamHttp) -> None:
        self._http = http

    def ensure_active(self, user_id: str, *, deadline: float | None = None) -> None:
        response = self._http.request("GET", f"/api/users/{quote(user_id, safe='')}", deadline=deadline)
        if response.status == HTTPStatus.NOT_FOUND:
            raise BuyerNotEligible("does not exist")
        if response.status != HTTPStatus.OK or not isinstance(response.body, Mapping):
            raise UpstreamUnavailable(self._http.service)
        if response.body.get("status") != "active":
            raise BuyerNotEligible("is not active")


class InventoryClient:
    def __init__(self, http: UpstreamHttp) -> None:
        self._http = http

    def reserve(
        self, reservation_id: str, quantities: Mapping[str, int], *, deadline: float | None = None
    ) -> Reservation:
        body = {
            "reservationId": reservation_id,
            "items": [
                {"productId": product_id, "quantity": quantity} for product_id, quantity in quantities.items()
            ],
        }
        response = self._http.request("POST", "/api/inventory/reservations", body=body, deadline=deadline)
        answer = response.body if isinstance(response.body, Mapping) else {}
        if response.status == HTTPStatus.NOT_FOUND:
            raise UnknownProducts(answer.get("unknownProducts") or sorted(quantities))
        if response.status == HTTPStatus.CONFLICT:
            raise InsufficientStock(answer.get("insufficient") or [])
        if response.status not in (HTTPStatus.OK, HTTPStatus.CREATED):
            raise UpstreamUnavailable(self._http.service)
        try:
            prices = {item["productId"]: Decimal(item["unitPrice"]) for item in answer["items"]}
        except (KeyError, TypeError, ArithmeticError) as error:
            raise UpstreamUnavailable(self._http.service) from error
        if set(prices) != set(quantities):
            raise UpstreamUnavailable(self._http.service)
        return Reservation(reservation_id, prices, answer.get("expiresAt"))

    def release(self, reservation_id: str, *, deadline: float | None = None) -> None:
        """Idempotent: a reservation already released, or never made, is fine."""
        response = self._http.request(
            "DELETE", f"/api/inventory/reservations/{reservation_id}", deadline=deadline
        )
        if response.status not in (200, 204, 404):
            raise UpstreamUnavailable(self._http.service)

    def commit(self, reservation_id: str, *, deadline: float | None = None) -> None:
        response = self._http.request(
            "POST", f"/api/inventory/reservations/{reservation_id}/commit", deadline=deadline
        )
        if response.status not in (200, 204):
            raise UpstreamUnavailable(self._http.service)
