"""Domain errors. Each carries what its RFC 9457 problem needs; `orders.http.api` is the one place that maps
them to HTTP responses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class OrderError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    def headers(self) -> dict[str, str]:
        return {}


class Unauthenticated(OrderError):
    status, slug, title = 401, "unauthenticated", "Authentication required"


class Forbidden(OrderError):
    status, slug, title = 403, "forbidden", "Forbidden"


class OrderNotFound(OrderError):
    status, slug, title = 404, "order-not-found", "Order not found"

    def __init__(self) -> None:
        # The id is not echoed: it is the caller's input, possibly huge or hostile.
        super().__init__("No such order is visible to you.")


class StatusConflict(OrderError):
    status, slug, title = 409, "status-conflict", "Status change not allowed"

    def __init__(self, current: str, requested: str) -> None:
        current, requested = str(current), str(requested)
        super().__init__(
            f"An order in status '{current}' cannot move to '{requested}'.",
            currentStatus=current,
            requestedStatus=requested,
        )


class VersionMismatch(OrderError):
    status, slug, title = 412, "precondition-failed", "Order has changed"

    def __init__(self, expected: Sequence[int], current: int) -> None:
        named = ", ".join(str(version) for version in expected[:5]) or "no version of this order"
        super().__init__(
            f"If-Match names {named}; the order is at version {current}.",
            currentVersion=current,
        )


class InvalidCursor(OrderError):
    status, slug, title = 400, "invalid-cursor", "Invalid cursor"

    def __init__(self) -> None:
        super().__init__("The cursor is not one this listing issued; start again without it.")


class InvalidPrecondition(OrderError):
    status, slug, title = 400, "invalid-if-match", "Invalid If-Match header"


class BodyNotAnObject(OrderError):
    status, slug, title = 400, "validation-error", "Invalid request"


class PayloadTooLarge(OrderError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class PriceMismatch(OrderError):
    status, slug, title = 422, "price-mismatch", "Prices have changed"

    def __init__(self, mismatches: list[dict]) -> None:
        super().__init__(
            "Some prices sent differ from the current prices; review them and order again.",
            mismatches=mismatches,
        )


RETRY_AFTER_SECONDS = 2


class UpstreamUnavailable(OrderError):
    status, slug, title = 503, "upstream-unavailable", "A service we depend on is unavailable"

    def __init__(self, service: str) -> None:
        super().__init__(f"The {service} service did not answer in time; retry shortly.", service=service)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class BuyerNotEligible(OrderError):
    status, slug, title = 422, "buyer-not-eligible", "The buyer cannot order"

    def __init__(self, reason: str) -> None:
        super().__init__(f"The order's user {reason}.", reason=reason)


class UnknownProducts(OrderError):
    status, slug, title = 422, "unknown-products", "Unknown products"

    def __init__(self, product_ids: Sequence[str]) -> None:
        super().__init__("Some products do not exist.", unknownProducts=list(product_ids))


class InsufficientStock(OrderError):
    status, slug, title = 409, "insufficient-stock", "Not enough stock"

    def __init__(self, shortages: Sequence[Mapping[str, Any]]) -> None:
        super().__init__("Some products do not have enough stock.", insufficient=list(shortages))
