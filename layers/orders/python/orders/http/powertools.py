"""A `Router`'s routes (`orders.http.routes`) on Powertools' `APIGatewayHttpResolver`: what the OpenAPI
document is generated from, and what answers a request the router does not settle (any refusal of
Powertools' validation, 404 ...). Imported only then: never on a valid request's path.

Each route is registered as declared (path, method, documentation), its handler seen by Powertools with
Powertools' own parameter classes (`orders.http.params` -> `...openapi.params`, same arguments) and
`Response`, and every handler's answer (a route's, an exception handler's) turned into Powertools' `Response`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler import Response as PowertoolsResponse
from aws_lambda_powertools.event_handler.openapi import params as powertools_params
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from orders.http import params
from orders.http.routes import Response, light_body_model

if TYPE_CHECKING:
    from orders.http.routes import Route, Router


def powertools_response(response: Response[str]) -> PowertoolsResponse[str]:
    return PowertoolsResponse(
        status_code=response.status_code,
        content_type=response.content_type,
        body=response.body,
        headers=dict(response.headers),
    )


def _annotation(annotation: Any) -> Any:
    """`Annotated[T, orders.http.params.X(...)]` -> `Annotated[T, Powertools' X(...)]`; our `Response[T]` ->
    Powertools' `Response[T]`; anything else as it is."""
    if typing.get_origin(annotation) is typing.Annotated:
        kind, *metadata = typing.get_args(annotation)
        converted = [
            getattr(powertools_params, type(item).__name__)(**item.arguments)
            if isinstance(item, params.Param)
            else item
            for item in metadata
        ]
        # A body described without pydantic (orders.domain.bodies) is validated and documented with its model.
        return typing.Annotated[light_body_model(kind) or kind, *converted]
    if typing.get_origin(annotation) is Response:
        return PowertoolsResponse[typing.get_args(annotation)]  # type: ignore[misc]
    if annotation is Response:
        return PowertoolsResponse
    return annotation


def _described_bodies(signature: inspect.Signature) -> dict[str, Any]:
    """The arguments whose body is described without pydantic (orders.domain.bodies): name -> description."""
    found = {}
    for name, parameter in signature.parameters.items():
        if typing.get_origin(parameter.annotation) is typing.Annotated:
            kind = typing.get_args(parameter.annotation)[0]
            if light_body_model(kind) is not None:
                found[name] = kind
    return found


def _handler(route: Route) -> Callable[..., PowertoolsResponse[str]]:
    handler = route.handler
    signature = inspect.signature(handler, eval_str=True)
    described = _described_bodies(signature)

    def call(**arguments: Any) -> PowertoolsResponse[str]:
        for name, kind in described.items():
            # The model Powertools validated, handed over as the route reads it (as the router hands it).
            if arguments.get(name) is not None:
                arguments[name] = kind(**arguments[name].model_dump(by_alias=True))
        return powertools_response(handler(**arguments))

    signature = signature.replace(
        parameters=[
            parameter.replace(annotation=_annotation(parameter.annotation))
            for parameter in signature.parameters.values()
        ],
        return_annotation=_annotation(signature.return_annotation),
    )
    # The handler as Powertools should see it (name, docstring, arguments), Powertools' classes in its annotations.
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(call, attribute, getattr(handler, attribute))
    call.__signature__ = signature  # type: ignore[attr-defined]
    call.__annotations__ = {
        **{name: parameter.annotation for name, parameter in signature.parameters.items()},
        "return": signature.return_annotation,
    }
    return call


def _converted(handle: Callable[[Any], Response[str]]) -> Callable[[Any], PowertoolsResponse[str]]:
    return lambda error: powertools_response(handle(error))


def resolver_for(router: Router) -> APIGatewayHttpResolver:
    resolver = APIGatewayHttpResolver(
        enable_validation=router.validation,
        serializer=router.serializer,
        json_body_deserializer=router.json_body_deserializer,
    )
    resolver.configure_openapi(**router.openapi)
    for route in router.routes:
        resolver.route(route.path, route.method, **route.documentation)(_handler(route))
    for exception_type, handle in router.exception_handlers.items():
        resolver.exception_handler(exception_type)(_converted(handle))
    if (invalid := router.invalid_request_handler) is not None:

        def invalid_request(
            error: RequestValidationError | RequestUnsupportedContentType,
        ) -> PowertoolsResponse[str]:
            return powertools_response(invalid(list(error.errors())))

        resolver.exception_handler([RequestValidationError, RequestUnsupportedContentType])(invalid_request)
    if router.not_found_handler is not None:
        resolver.not_found(_converted(router.not_found_handler))
    return resolver
