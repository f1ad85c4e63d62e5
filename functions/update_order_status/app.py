"""PATCH /api/orders/{id}/status: one conditional update; optional `If-Match` guards the version.

A valid change loads no pydantic: its body is read from its description (orders.domain.bodies), the order
answered from the updated item (orders.storage.wire); Powertools validates, with the model, what the router
leaves it."""

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from orders import wiring
from orders.domain.bodies import StatusChangeBody
from orders.http import api, docs, problems
from orders.http.params import Body, Header, Path
from orders.http.routes import Response
from orders.tracing import Tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = api.build_resolver()
CANCEL_EXAMPLE = {"cancel": {"summary": "Cancel the order", "value": {"status": "cancelled"}}}


@docs.route(
    app.patch,
    "/api/orders/<order_id>/status",
    "updateOrderStatus",
    "Change an order's status",
    responses={
        200: docs.order_response("The updated order."),
        **problems.responses(
            "validation-error",
            "malformed-json",
            "forbidden",
            "order-not-found",
            "status-conflict",
            "precondition-failed",
            "payload-too-large",
            "unsupported-media-type",
            "service-unavailable",
        ),
    },
)
@tracer.capture_method
def update_order_status(
    order_id: Annotated[str, Path(description=docs.ORDER_ID_DESCRIPTION)],
    body: Annotated[StatusChangeBody, Body(openapi_examples=CANCEL_EXAMPLE)],
    if_match: Annotated[
        str | None,
        Header(
            alias="if-match",
            max_length=64,
            pattern=api.IF_MATCH_PATTERN,
            description='The `ETag` you read (`"3"`), or a list of them (`"3", "4"`): RFC 9110, strong '
            'comparison, so `W/"3"` never matches (412); `*` or absent: any version. Not `*` or entity-tags: '
            "400.",
        ),
    ] = None,
) -> Response[str]:
    """`pending → confirmed → processing → shipped → delivered`; forward moves may skip steps; `cancelled` from
    pending, confirmed or processing; delivered and cancelled are final. An admin may make any allowed move;
    a customer may only cancel their own order. Send `If-Match` (the `ETag` you read) to change only that
    version."""
    caller = api.current_caller(app)
    order = wiring.order_service().change_status_wire(
        caller,
        order_id,
        body.status,
        expected_versions=api.parse_if_match(if_match),
        correlation_id=api.correlation_id(app),
    )
    previous = order["statusHistory"][-2]["status"]
    with single_metric(name="OrderStatusChanged", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="from", value=previous)
        metric.add_dimension(name="to", value=order["status"])
    return api.wire_order_response(order)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return api.resolve(app, event, context)
