"""The use cases. Repository, clock and id source are parameters, so unit tests pass fakes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from orders.caller import Caller
from orders.cursor import CursorCodec
from orders.errors import Forbidden, OrderNotFound, StatusConflict, VersionMismatch
from orders.ids import is_order_id, iso_timestamp, new_order_id, utc_now
from orders.models import CreateOrderRequest, Order, OrderPage, StatusChange, price_lines
from orders.repository import OrderRepository, TransitionRejected
from orders.status import OrderStatus, sources_of

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class OrderService:
    def __init__(
        self,
        repository: OrderRepository,
        *,
        currency: str = "USD",
        cursors: CursorCodec,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[datetime], str] = new_order_id,
    ) -> None:
        self._repository = repository
        self._currency = currency
        self._cursors = cursors
        self._clock = clock
        self._new_id = new_id

    def create(self, caller: Caller, request: CreateOrderRequest, *, correlation_id: str | None = None) -> Order:
        user_id = request.user_id or caller.user_id
        if not caller.may_act_for(user_id):
            raise Forbidden("Customers may only create orders for themselves.")
        lines, total = price_lines(request.items)
        moment = self._clock()
        now = iso_timestamp(moment)
        order = Order(
            id=self._new_id(moment),
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
        )
        self._repository.put_new(order, correlation_id)
        return order

    def get(self, caller: Caller, order_id: str) -> Order:
        order = self._repository.get(order_id) if is_order_id(order_id) else None
        # Someone else's order is indistinguishable from an absent one.
        if order is None or not caller.may_act_for(order.user_id):
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
        if not caller.may_act_for(user_id):
            raise Forbidden("Customers may only list their own orders.")
        scope = f"{user_id}\x00{status or ''}"
        after = self._cursors.decode(scope, cursor) if cursor else None
        orders, next_position = self._repository.list_by_user(user_id, status=status, limit=limit, after=after)
        next_cursor = self._cursors.encode(scope, next_position) if next_position else None
        return OrderPage(items=orders, next_cursor=next_cursor)

    def change_status(
        self,
        caller: Caller,
        order_id: str,
        target: OrderStatus,
        *,
        expected_version: int | None = None,
        correlation_id: str | None = None,
    ) -> Order:
        if not is_order_id(order_id):
            raise OrderNotFound()
        sources = sources_of(target)
        if not sources or (not caller.is_admin and target is not OrderStatus.CANCELLED):
            # Nothing can move there, or the caller may not: say why without leaking others' orders.
            current = self.get(caller, order_id)
            if not caller.is_admin and target is not OrderStatus.CANCELLED:
                raise Forbidden("Customers may only cancel their orders.")
            raise StatusConflict(current.status, target)
        change = StatusChange(status=target, at=iso_timestamp(self._clock()), by=caller.user_id)
        try:
            return self._repository.change_status(
                order_id,
                target=target,
                allowed_sources=sources,
                change=change,
                owner=None if caller.is_admin else caller.user_id,
                expected_version=expected_version,
                correlation_id=correlation_id,
            )
        except TransitionRejected as rejected:
            current = rejected.current
            if current is None or not caller.may_act_for(current.user_id):
                raise OrderNotFound() from None
            if expected_version is not None and current.version != expected_version:
                raise VersionMismatch(expected_version, current.version) from None
            raise StatusConflict(current.status, target) from None
