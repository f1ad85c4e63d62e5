"""Domain errors. Each names its problem type (`slug`, a stable code) and carries the detail and extension
members its RFC 9457 problem needs; the error table `orders.http.problems` gives each its HTTP status,
title and headers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class OrderError(Exception):
    slug: str = "bad-request"

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class Unauthenticated(OrderError):
    slug = "unauthenticated"


class Forbidden(OrderError):
    slug = "forbidden"


class OrderNotFound(OrderError):
    slug = "order-not-found"

    def __init__(self) -> None:
        # The id is not echoed: it is the caller's input, possibly huge or hostile.
        super().__init__("No such order is visible to you.")


class StatusConflict(OrderError):
    slug = "status-conflict"

    def __init__(self, current: str, requested: str) -> None:
        current, requested = str(current), str(requested)
        super().__init__(
            f"An order in status '{current}' cannot move to '{requested}'.",
            currentStatus=current,
            requestedStatus=requested,
        )


class VersionMismatch(OrderError):
    slug = "precondition-failed"

    def __init__(self, expected: Sequence[int], current: int) -> None:
        named = ", ".join(str(version) for version in expected[:5]) or "no version of this order"
        super().__init__(
            f"If-Match names {named}; the order is at version {current}.",
            currentVersion=current,
        )


class InvalidCursor(OrderError):
    slug = "invalid-cursor"

    def __init__(self) -> None:
        super().__init__("The cursor is not one this listing issued; start again without it.")


class InvalidWindow(OrderError):
    slug = "invalid-window"


class InvalidPrecondition(OrderError):
    slug = "invalid-if-match"


class BodyNotAnObject(OrderError):
    slug = "validation-error"


class PayloadTooLarge(OrderError):
    slug = "payload-too-large"


class PriceMismatch(OrderError):
    slug = "price-mismatch"

    def __init__(self, mismatches: list[dict[str, Any]]) -> None:
        super().__init__(
            "Some prices sent differ from the current prices; review them and order again.",
            mismatches=mismatches,
        )


class UpstreamUnavailable(OrderError):
    slug = "upstream-unavailable"

    def __init__(self, service: str) -> None:
        super().__init__(f"The {service} service did not answer in time; retry shortly.", service=service)


class BuyerNotEligible(OrderError):
    slug = "buyer-not-eligible"

    def __init__(self, reason: str) -> None:
        super().__init__(f"The order's user {reason}.", reason=reason)


class UnknownProducts(OrderError):
    slug = "unknown-products"

    def __init__(self, product_ids: Sequence[str]) -> None:
        super().__init__("Some products do not exist.", unknownProducts=list(product_ids))


class InsufficientStock(OrderError):
    slug = "insufficient-stock"

    def __init__(self, shortages: Sequence[Mapping[str, Any]]) -> None:
        super().__init__("Some products do not have enough stock.", insufficient=list(shortages))
