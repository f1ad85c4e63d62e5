"""Request bodies as a function reads them without pydantic: a `NamedTuple` of the body's fields, named as on
the wire, each an enum (the only kind read so far), all required and nothing else allowed.

Each names its pydantic model (`model()`, in `orders.domain.models`), which stays the authority: Powertools
validates and documents the body with it (`orders.http.powertools`, imported only for the OpenAPI document and
for a body the router does not settle), and `orders.http.routes` settles only a body that model accepts with
the same values. tests/unit/test_bodies.py holds each description equal to its model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from orders.domain.status import OrderStatus

if TYPE_CHECKING:
    from orders.domain.models import StatusChangeRequest


class StatusChangeBody(NamedTuple):
    """Body of `PATCH /api/orders/{id}/status`: `{"status": "<one of the statuses>"}`."""

    status: OrderStatus

    @staticmethod
    def model() -> type[StatusChangeRequest]:
        from orders.domain.models import StatusChangeRequest

        return StatusChangeRequest
