"""GET /api/orders: orders across users by status and creation time, for admins (the status index's shards
merged, a Query per shard, side by side)."""

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from orders import wiring
from orders.domain.cursor import MAX_CURSOR_LENGTH
from orders.domain.status import OrderStatus
from orders.domain.window import MAX_TIMESTAMP_LENGTH, ListOrder
from orders.http import api, docs, problems
from orders.http.params import Query
from orders.http.routes import Response
from orders.service import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from orders.tracing import Tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = api.build_resolver()


@docs.route(
    app.get,
    "/api/orders",
    "listOrders",
    "List orders across users (admins)",
    responses={
        200: docs.page_response("One page of orders.", "listOrders"),
        **problems.responses(
            "validation-error", "invalid-window", "invalid-cursor", "forbidden", "service-unavailable"
        ),
    },
)
@tracer.capture_method
def list_orders(
    *,
    status: Annotated[
        OrderStatus | None, Query(description="Only orders in this status (default: every status).")
    ] = None,
    created_from: Annotated[
        str | None,
        Query(
            alias="createdFrom",
            min_length=1,
            max_length=MAX_TIMESTAMP_LENGTH,
            description="Created at or after (ISO 8601 with a time zone; default: a day before `createdTo`).",
        ),
    ] = None,
    created_to: Annotated[
        str | None,
        Query(
            alias="createdTo",
            min_length=1,
            max_length=MAX_TIMESTAMP_LENGTH,
            description="Created before (ISO 8601 with a time zone; default: now). At most 31 days after `createdFrom`.",
        ),
    ] = None,
    order: Annotated[
        ListOrder, Query(description="By creation time: `desc` newest first, `asc` oldest first.")
    ] = ListOrder.DESC,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_CURSOR_LENGTH,
            description="`nextCursor` of the previous page, unchanged, with the same query.",
        ),
    ] = None,
) -> Response[str]:
    """Every user's orders in a creation-time window (`createdFrom` inclusive, `createdTo` exclusive, at most
    31 days), of one `status` or all, newest first (`order=asc`: oldest first), `limit` per page. `cursor` is
    the previous page's `nextCursor`, signed and bound to the query that issued it. Admins only: a customer
    gets 403."""
    page = wiring.order_service().list_wire_across_users(
        api.current_caller(app),
        status=status,
        created_from=created_from,
        created_to=created_to,
        order=order,
        limit=limit,
        cursor=cursor,
    )
    return api.json_response(200, page)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return api.resolve(app, event, context)
