"""GET /api/orders/{id}: one order, with its version as `ETag`."""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from orders import wiring
from orders.http import api, docs, problems
from orders.http.routes import Response
from orders.tracing import Tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# Nothing to validate but the path (the service checks the id): no pydantic in this function at all.
app = api.build_resolver(validation=False)


@docs.route(
    app.get,
    "/api/orders/<order_id>",
    "getOrder",
    "Get an order",
    responses={
        200: docs.order_response("The order."),
        **problems.responses("order-not-found", "service-unavailable"),
    },
    parameters={"order_id": {"description": docs.ORDER_ID_DESCRIPTION}},
)
@tracer.capture_method
def get_order(order_id: str) -> Response[str]:
    """One order, with its version as `ETag`. A customer sees only their own orders; anyone else's is a 404, as
    if it did not exist."""
    order = wiring.order_service().get_wire(api.current_caller(app), order_id)
    return api.wire_order_response(order)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return api.resolve(app, event, context)
