"""POST /api/orders: create an order, idempotent per caller and `Idempotency-Key`."""

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from orders import wiring
from orders.domain.caller import Caller
from orders.domain.jsonio import dumps
from orders.domain.models import CreateOrderRequest
from orders.http import api, docs, problems
from orders.http.params import Body, Header
from orders.http.routes import Response
from orders.tracing import Tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from orders.domain.models import Order
    from orders.service import KeyedCreate

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = api.build_resolver(problems.idempotency_refusals())
README_EXAMPLE = {
    "readme": {
        "summary": "README's example",
        "value": {
            "userId": "user-123",
            "items": [{"productId": "prod-456", "quantity": 2, "price": 29.99}],
            "shippingAddress": {"street": "123 Main St", "city": "New York", "zipCode": "10001"},
        },
    },
}


def _create(caller: Caller, order_request: CreateOrderRequest, keyed: "KeyedCreate | None" = None) -> "Order":
    """`keyed`: the idempotency claim of a create with an Idempotency-Key."""
    order = wiring.order_service().create(
        caller,
        order_request,
        correlation_id=api.correlation_id(app),
        deadline=api.deadline(app),
        keyed=keyed,
    )
    metrics.add_metric(name="OrderCreated", unit=MetricUnit.Count, value=1)
    # CloudWatch metric values are doubles; the order itself keeps its Decimal total.
    metrics.add_metric(name="OrderTotal", unit=MetricUnit.NoUnit, value=float(order.total))
    return order


def _response(order: "Order") -> dict[str, Any]:
    """The 201's parts: what a retry with the same key and body gets back."""
    return {"id": order.id, "version": order.version, "body": dumps(order.to_wire())}


@docs.route(
    app.post,
    "/api/orders",
    "createOrder",
    "Create an order",
    responses={
        201: docs.order_response(
            "Created (or the first response again, for a repeated `Idempotency-Key`).",
            Location=docs.LOCATION_HEADER,
            ETag=docs.ETAG_HEADER,
        ),
        **problems.responses(
            "validation-error",
            "malformed-json",
            "forbidden",
            "insufficient-stock",
            "request-in-progress",
            "payload-too-large",
            "unsupported-media-type",
            "price-mismatch",
            "unknown-products",
            "buyer-not-eligible",
            "idempotency-key-reused",
            "upstream-unavailable",
            "service-unavailable",
        ),
    },
)
@tracer.capture_method
def create_order(
    body: Annotated[CreateOrderRequest, Body(openapi_examples=README_EXAMPLE)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="idempotency-key",
            min_length=1,
            max_length=255,
            description="Any string up to 255 characters; repeats of a request with the same key and body "
            "return the first response.",
        ),
    ] = None,
) -> Response[str]:
    """Creates an order for `userId` (default: the caller; a customer may only order for themselves). The user
    service must know the buyer as active, and the inventory reserves every line and sets the prices:
    `price` is optional, and one that differs from the current price is a 422. Totals are exact
    decimals. Send `Idempotency-Key` to make retries safe: the same caller with the same key and body
    gets the same order and response for 24 hours."""
    caller = api.current_caller(app)
    if idempotency_key is None:
        created = _response(_create(caller, body))
    else:
        # Hashed: the caller and the key select the stored response; the body must be the first call's.
        created = wiring.once_per_idempotency_key(
            lambda keyed: _create(caller, body, keyed),
            _response,
            caller_id=caller.user_id,
            key=idempotency_key,
            body=body.model_dump(mode="json"),
            remaining_ms=app.lambda_context.get_remaining_time_in_millis(),
        )
    headers = {"Location": f"/api/orders/{created['id']}", "ETag": api.etag(created["version"])}
    return Response(status_code=201, content_type=api.JSON, body=created["body"], headers=headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return api.resolve(app, event, context)
