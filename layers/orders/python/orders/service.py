"""The use cases. Repository, clock and id source are parameters, so unit tests pass fakes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from orders.domain.caller import Caller
from orders.domain.cursor import CursorCodec
from orders.domain.errors import (
    Forbidden,
    InsufficientStock,
    OrderNotFound,
    PriceMismatch,
    StatusConflict,
    UnknownProducts,
    VersionMismatch,
)
from orders.domain.ids import is_order_id, iso_timestamp, new_order_id, utc_now
from orders.domain.status import OrderStatus, sources_of
from orders.domain.window import ListOrder, Window, creation_window
from orders.storage.repository import OrderRepository, TransitionRejected

if TYPE_CHECKING:
    # The models (pydantic) are imported by the use cases that build them, so `get_wire` loads none.
    from orders.domain.models import CreateOrderRequest, Order, OrderPage

logger = logging.getLogger(__name__)


class UserDirectory(Protocol):
    def ensure_active(self, user_id: str, *, deadline: float | None = None) -> None: ...


class StockKeeper(Protocol):
    def reserve(
        self, reservation_id: str, quantities: Mapping[str, int], *, deadline: float | None = None
    ) -> Any: ...

    def release(self, reservation_id: str, *, deadline: float | None = None) -> None: ...


class KeyedCreate(Protocol):
    """A create with an Idempotency-Key (`orders.storage.idempotency.KeyedCreate`)."""

    def hold(self) -> None:
        """Returns once this request holds its key (claimed while the buyer was checked); raises if not."""

    def put_new(self, order: Order, correlation_id: str | None) -> None:
        """Writes the new order and completes the key's record with it, both or neither."""


DEFAULT_PAGE_SIZE = 20
# A failed create may spend part of the margin kept for answering on releasing its reservation.
RELEASE_GRACE_SECONDS = 0.5
MAX_PAGE_SIZE = 100


class OrderService:
    def __init__(
        self,
        repository: OrderRepository,
        *,
        users: UserDirectory,
        inventory: StockKeeper,
        currency: str = "USD",
        cursors: CursorCodec,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[datetime], str] = new_order_id,
    ) -> None:
        self._repository = repository
        self._users = users
        self._inventory = inventory
        self._currency = currency
        self._cursors = cursors
        self._clock = clock
        self._new_id = new_id

    def create(
        self,
        caller: Caller,
        request: CreateOrderRequest,
        *,
        correlation_id: str | None = None,
        deadline: float | None = None,
        keyed: KeyedCreate | None = None,
    ) -> Order:
        """Verify the buyer, reserve stock (keyed by the new order's id, so a retry reserves nothing
        twice), price from the reservation, write the order. Any failure after the reservation releases
        it before answering: no reservation without an order, no order without a reservation.
        `keyed`: a create with an Idempotency-Key holds the key before reserving, and writes the order with
        its `put_new` (`orders.storage.idempotency`)."""
        from orders.domain.models import Order, StatusChange, price_lines, price_mismatches

        user_id = request.user_id or caller.user_id
        if not caller.may_act_for(user_id):
            raise Forbidden("Customers may only create orders for themselves.")
        self._users.ensure_active(user_id, deadline=deadline)
        if keyed is not None:
            keyed.hold()
        moment = self._clock()
        order_id = self._new_id(moment)
        quantities = {item.product_id: item.quantity for item in request.items}
        try:
            reservation = self._inventory.reserve(order_id, quantities, deadline=deadline)
        except (UnknownProducts, InsufficientStock):
            raise  # refused: nothing was reserved
        except BaseException:
            # A reserve that timed out may still have been made: releasing is idempotent.
            self._release_after_failed_create(order_id, deadline)
            raise
        try:
            if mismatches := price_mismatches(request.items, reservation.unit_prices):
                raise PriceMismatch(mismatches)
            lines, total = price_lines(request.items, reservation.unit_prices)
            now = iso_timestamp(moment)
            order = Order(
                id=order_id,
                user_id=user_id,
                items=lines,
                shipping_address=request.shipping_address,
                status=OrderStatus.PENDING,
                total=total,
                currency=self._currency,
                created_at=now,
                updated_at=now,
                version=1,
                status_history=[StatusChange(status=OrderStatus.PENDING, at=now, by=caller.user_id)],
                reservation_id=order_id,
            )
            (keyed or self._repository).put_new(order, correlation_id)
        except BaseException:
            self._release_after_failed_create(order_id, deadline)
            raise
        return order

    def _release_after_failed_create(self, reservation_id: str, deadline: float | None) -> None:
        """Release now; if the inventory cannot be reached, leave a durable release intent in the table,
        which the stream consumer carries out with retries. Either way no reservation is orphaned."""
        grace = None if deadline is None else deadline + RELEASE_GRACE_SECONDS
        try:
            self._inventory.release(reservation_id, deadline=grace)
            return
        except Exception:  # noqa: BLE001 - the create's own error is the one to report
            logger.warning("release failed; leaving a release intent", extra={"reservation": reservation_id})
        try:
            self._repository.put_release_intent(reservation_id, iso_timestamp(self._clock()))
        except Exception:
            # Last resort: the reservation expires in the inventory on its own (`expiresAt`).
            logger.exception("could not record a release intent", extra={"reservation": reservation_id})

    def get(self, caller: Caller, order_id: str) -> Order:
        from orders.domain.models import Order

        return Order.model_validate(self.get_wire(caller, order_id))

    def get_wire(self, caller: Caller, order_id: str) -> dict[str, Any]:
        """The order as the API returns it. No pydantic on this path: `GET /api/orders/{id}` starts faster."""
        order = self._repository.get_wire(order_id) if is_order_id(order_id) else None
        # Someone else's order is indistinguishable from an absent one.
        if order is None or not caller.may_act_for(order["userId"]):
            raise OrderNotFound()
        return order

    def list_for_user(
        self,
        caller: Caller,
        user_id: str,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        status: OrderStatus | None = None,
        cursor: str | None = None,
    ) -> OrderPage:
        from orders.domain.models import OrderPage

        orders, next_cursor = self._page(
            self._repository.list_by_user, caller, user_id, limit=limit, status=status, cursor=cursor
        )
        return OrderPage(items=orders, next_cursor=next_cursor)

    def list_wire_for_user(
        self,
        caller: Caller,
        user_id: str,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        status: OrderStatus | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """`list_for_user(...).to_wire()`, the page as the API returns it, without pydantic (as `get_wire`)."""
        orders, next_cursor = self._page(
            self._repository.list_wire_by_user, caller, user_id, limit=limit, status=status, cursor=cursor
        )
        return {"items": orders, "nextCursor": next_cursor}

    def list_wire_across_users(
        self,
        caller: Caller,
        *,
        status: OrderStatus | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        order: ListOrder = ListOrder.DESC,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Admins only: every user's orders in `status` (every status if None) created in the window
        (`orders.domain.window.creation_window`), newest first unless `order` is `asc`; one page as the API
        returns it. The cursor is bound to the query as sent (status, bounds, order) and carries the window
        as the first page resolved it: a default `createdTo` (now) stays the first page's on every page."""
        if not caller.is_admin:
            raise Forbidden("Only admins may list orders across users.")
        scope = "\x00".join(("across-users", status or "", created_from or "", created_to or "", order))
        if cursor:
            # Signed by us for this very query: the window and the position are ours, not the caller's.
            window_from, window_to, after = self._cursors.decode(scope, cursor).split(" ")
            window = Window(window_from, window_to)
        else:
            window, after = creation_window(created_from, created_to, now=self._clock()), None
        orders, next_position = self._repository.list_wire_by_status(
            [status] if status is not None else list(OrderStatus),
            created_from=window.created_from,
            created_to=window.created_to,
            ascending=order is ListOrder.ASC,
            limit=limit,
            after=after,
        )
        next_cursor = (
            self._cursors.encode(scope, f"{window.created_from} {window.created_to} {next_position}")
            if next_position
            else None
        )
        return {"items": orders, "nextCursor": next_cursor}

    def _page[T](
        self,
        read: Callable[..., tuple[list[T], str | None]],
        caller: Caller,
        user_id: str,
        *,
        limit: int,
        status: OrderStatus | None,
        cursor: str | None,
    ) -> tuple[list[T], str | None]:
        if not caller.may_act_for(user_id):
            raise Forbidden("Customers may only list their own orders.")
        scope = f"{user_id}\x00{status or ''}"
        after = self._cursors.decode(scope, cursor) if cursor else None
        orders, next_position = read(user_id, status=status, limit=limit, after=after)
        next_cursor = self._cursors.encode(scope, next_position) if next_position else None
        return orders, next_cursor

    def change_status(
        self,
        caller: Caller,
        order_id: str,
        target: OrderStatus,
        *,
        expected_versions: Collection[int] | None = None,
        correlation_id: str | None = None,
    ) -> Order:
        """`change_status_wire`, the changed order as a model."""
        from orders.domain.models import Order

        return Order.model_validate(
            self.change_status_wire(
                caller, order_id, target, expected_versions=expected_versions, correlation_id=correlation_id
            )
        )

    def change_status_wire(
        self,
        caller: Caller,
        order_id: str,
        target: OrderStatus,
        *,
        expected_versions: Collection[int] | None = None,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """The changed order as the API returns it, without pydantic (as `get_wire`).
        `expected_versions`: None for no precondition; else the versions `If-Match` names (RFC 9110:
        the change happens only if the order is at one of them; an empty set never matches)."""
        if not is_order_id(order_id):
            raise OrderNotFound()
        sources = sources_of(target)
        if not sources or (not caller.is_admin and target is not OrderStatus.CANCELLED):
            # Nothing can move there, or the caller may not: say why without leaking others' orders.
            current = self.get_wire(caller, order_id)
            if not caller.is_admin and target is not OrderStatus.CANCELLED:
                raise Forbidden("Customers may only cancel their orders.")
            self._check_version(current, expected_versions)
            raise StatusConflict(current["status"], target)
        if expected_versions is not None and not expected_versions:
            # If-Match names no version this API issues (a weak tag, say): a 412 for an order you may see.
            self._check_version(self.get_wire(caller, order_id), expected_versions)
        # The history entry, as plain data (`statusHistory`'s wire form).
        change = {"status": str(target), "at": iso_timestamp(self._clock()), "by": caller.user_id}
        try:
            return self._repository.change_status(
                order_id,
                target=target,
                allowed_sources=sources,
                change=change,
                owner=None if caller.is_admin else caller.user_id,
                expected_versions=expected_versions,
                correlation_id=correlation_id,
            )
        except TransitionRejected as rejected:
            unchanged = rejected.current
            if unchanged is None or not caller.may_act_for(unchanged["userId"]):
                raise OrderNotFound() from None
            self._check_version(unchanged, expected_versions)
            raise StatusConflict(unchanged["status"], target) from None

    @staticmethod
    def _check_version(current: Mapping[str, Any], expected_versions: Collection[int] | None) -> None:
        # A failed precondition (If-Match) is reported before the transition's own conflict (RFC 9110).
        if expected_versions is not None and current["version"] not in expected_versions:
            raise VersionMismatch(sorted(expected_versions), current["version"]) from None
