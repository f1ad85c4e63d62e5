"""GET /api/users/{userId}/orders: a user's orders, newest first, one Query per page."""

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from orders import wiring
from orders.domain.caller import MAX_USER_ID_LENGTH, USER_ID_PATTERN
from orders.domain.cursor import MAX_CURSOR_LENGTH
from orders.domain.status import OrderStatus
from orders.http import api, docs, problems
from orders.http.params import Path, Query
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
    "/api/users/<user_id>/orders",
    "listUserOrders",
    "List a user's orders",
    responses={
        200: docs.page_response("One page of orders."),
        **problems.responses("validation-error", "invalid-cursor", "forbidden", "service-unavailable"),
    },
)
@tracer.capture_method
def list_user_orders(
    user_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=MAX_USER_ID_LENGTH,
            pattern=USER_ID_PATTERN,
            description="The user whose orders to list.",
            openapi_examples={"readme": {"value": "user-123"}},
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = DEFAULT_PAGE_SIZE,
    status: Annotated[OrderStatus | None, Query(description="Only orders in this status.")] = None,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_CURSOR_LENGTH,
            description="`nextCursor` of the previous page, unchanged.",
        ),
    ] = None,
) -> Response[str]:
    """Newest first, `limit` per page; `status` filters; `cursor` is the previous page's `nextCursor` (signed,
    and bound to the user and filter that issued it). A customer may list only their own orders."""
    page = wiring.order_service().list_wire_for_user(
        api.current_caller(app), user_id, limit=limit, status=status, cursor=cursor
    )
    return api.json_response(200, page)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return api.resolve(app, event, context)
