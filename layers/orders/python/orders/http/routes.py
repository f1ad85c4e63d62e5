"""The API functions' request path: the route matched, its arguments read and checked, the handler called, its
errors mapped, the answer built, with the standard library only (and the route's own body model, unless the
body is described without pydantic: `orders.domain.bodies`).

Powertools' `APIGatewayHttpResolver` is what the routes are written for (its decorators, `Annotated`
parameters, exception handlers) and what the OpenAPI document is generated from; but importing it costs a
cold start some 50 ms (every resolver and event class Powertools ships, asyncio), and its validation imports
pydantic (70-100 ms) even where nothing but a string and an integer are checked. So a `Router` keeps the
declarations and builds that resolver (`orders.http.powertools`) only when it is needed:

- for the OpenAPI document (`get_openapi_json_schema`, asked by the local stack and `make openapi`);
- for a request this module does not settle: a value missing or failing its check, a repeated parameter, a
  body that is not JSON or not the model, a path or method that is not the route's, a stage other than
  `$default`. Every refusal (422 with its `errors`, 400, 415, 404) is therefore Powertools' own.

A request is settled here only when Powertools' validation would accept it with the same values (checked
against Powertools itself by tests/unit/test_routes.py), and its answer is built as Powertools builds it
(`{"statusCode", "body", "isBase64Encoded", "headers", "cookies"}`, Content-Type added).
"""

from __future__ import annotations

import base64
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from orders.http import params

# Powertools' route pattern (`<name>` -> a named group): one path segment of these characters. Matched in
# full (Powertools' `$` would also take a trailing newline: such a path is left to it).
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
_PLACEHOLDER = re.compile(r"<(\w+)>")
# An integer as a client writes one: what pydantic reads as the same number (anything else is left to it).
_INTEGER = re.compile(r"0|[1-9][0-9]{0,17}")
JSON = "application/json"


class Unsettled(Exception):
    """This request is Powertools' to answer (see the module's docstring)."""


class Response[Body]:
    """What a route answers: Powertools' `Response` (same arguments), without importing it."""

    __slots__ = ("body", "content_type", "headers", "status_code")

    def __init__(
        self,
        status_code: int,
        content_type: str | None = None,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.content_type = content_type
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def result(self) -> dict[str, Any]:
        """The HTTP API (payload 2.0) result, as Powertools' `ResponseBuilder` builds it for a text body."""
        if self.body is not None and not isinstance(self.body, str):
            raise TypeError("a route answers a text body (orders.domain.jsonio.dumps)")
        return {
            "statusCode": self.status_code,
            "body": self.body,
            "isBase64Encoded": False,
            "headers": dict(self.headers),
            "cookies": [],
        }


# NamedTuples, and a plain class for the router: built at every cold start, where a dataclass's generated
# methods would cost a millisecond each.
class Argument(NamedTuple):
    """One handler argument: where it is read (`source`, under `alias`) and how it is checked."""

    name: str
    source: str
    alias: str
    required: bool
    default: Any
    check: Callable[[Any], Any]


class Route(NamedTuple):
    method: str
    path: str
    handler: Callable[..., Response[str]]
    documentation: dict[str, Any]
    pattern: re.Pattern[str]
    arguments: tuple[Argument, ...]


def _unsettled() -> typing.NoReturn:
    raise Unsettled


def _string_check(constraints: Mapping[str, Any]) -> Callable[[Any], str]:
    minimum = constraints.get("min_length", 0)
    maximum = constraints.get("max_length")
    # The document's patterns are anchored (`^...$`): one matched in full is matched by pydantic's search too.
    pattern = re.compile(constraints["pattern"]) if "pattern" in constraints else None

    def check(value: Any) -> str:
        if (
            not isinstance(value, str)
            or len(value) < minimum
            or (maximum is not None and len(value) > maximum)
            or (pattern is not None and pattern.fullmatch(value) is None)
        ):
            _unsettled()
        return value

    return check


def _integer_check(constraints: Mapping[str, Any]) -> Callable[[Any], int]:
    low, high = constraints.get("ge"), constraints.get("le")

    def check(value: Any) -> int:
        if not isinstance(value, str) or _INTEGER.fullmatch(value) is None:
            _unsettled()
        number = int(value)
        if (low is not None and number < low) or (high is not None and number > high):
            _unsettled()
        return number

    return check


def _enum_check(kind: type[Enum]) -> Callable[[Any], Enum]:
    members = {member.value: member for member in kind}

    def check(value: Any) -> Enum:
        if not isinstance(value, str) or value not in members:
            _unsettled()
        return members[value]

    return check


def _model_check(model: Any) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            _unsettled()
        try:
            # As Powertools validates a body (a TypeAdapter of the model, `from_attributes=True`).
            return model.model_validate(value, from_attributes=True)
        except Exception:  # noqa: BLE001 - pydantic's ValidationError (or worse): Powertools answers it
            _unsettled()

    return check


def _described_body(kind: Any) -> bool:
    """A body described without pydantic (`orders.domain.bodies`): a `NamedTuple` that names its `model()`."""
    return (
        isinstance(kind, type)
        and issubclass(kind, tuple)
        and hasattr(kind, "_fields")
        and callable(getattr(kind, "model", None))
    )


def light_body_model(kind: Any) -> Any:
    """The pydantic model of a described body (`_described_body`), imported by this call; None for anything else."""
    return kind.model() if _described_body(kind) else None


def _light_body_check(kind: Any, where: str) -> Callable[[Any], Any]:
    """A body described by a `NamedTuple` (`orders.domain.bodies`): settled only when it is an object with
    exactly those members, each one of its enum's values (what its model, `extra="forbid"`, takes unchanged);
    anything else is left to Powertools, which validates it with the model."""
    fields = typing.get_type_hints(kind)
    if not fields or any(
        not (isinstance(field, type) and issubclass(field, Enum)) for field in fields.values()
    ):
        raise TypeError(f"{where}: a body's fields are read here only as enums")
    checks = {name: _enum_check(field) for name, field in fields.items()}
    names = set(checks)

    def check(value: Any) -> Any:
        if not isinstance(value, dict) or set(value) != names:
            _unsettled()
        return kind(**{name: field_check(value[name]) for name, field_check in checks.items()})

    return check


def _check_for(kind: Any, marker: params.Param, where: str) -> Callable[[Any], Any]:
    constraints = marker.constraints
    if marker.source == "body":
        if _described_body(kind):
            return _light_body_check(kind, where)
        if not hasattr(kind, "model_validate"):
            raise TypeError(
                f"{where}: a body is a pydantic model, or described by one (orders.domain.bodies)"
            )
        return _model_check(kind)
    if kind is str:
        return _string_check(constraints)
    if kind is int and set(constraints) <= {"ge", "le"}:
        return _integer_check(constraints)
    if isinstance(kind, type) and issubclass(kind, Enum) and not constraints:
        return _enum_check(kind)
    raise TypeError(f"{where}: {kind!r} with {sorted(constraints)} is not read here (orders.http.routes)")


def _optional(annotation: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True); `X` -> (X, False)."""
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        if len(members) == 1:
            return members[0], True
    return annotation, False


def _arguments(
    handler: Callable[..., Any], placeholders: list[str], validation: bool
) -> tuple[Argument, ...]:
    found = []
    for name, parameter in inspect.signature(handler, eval_str=True).parameters.items():
        where = f"{handler.__qualname__}({name})"
        annotation = parameter.annotation
        if typing.get_origin(annotation) is typing.Annotated:
            kind, *metadata = typing.get_args(annotation)
            markers = [item for item in metadata if isinstance(item, params.Param)]
            if len(markers) != 1:
                raise TypeError(f"{where}: one of orders.http.params' markers")
            marker = markers[0]
        elif name in placeholders:
            kind, marker = annotation, params.Path()
        else:
            raise TypeError(f"{where}: annotate it with orders.http.params' markers")
        if not validation and (marker.source != "path" or marker.constraints or kind is not str):
            # Without validation Powertools hands a route its path's text as it is, and nothing else.
            raise TypeError(f"{where}: a resolver without validation reads only path segments, as text")
        kind, optional = _optional(kind)
        required = parameter.default is inspect.Parameter.empty
        if optional and required:
            raise TypeError(f"{where}: an optional argument has a default")
        check = _check_for(kind, marker, where) if validation else str
        found.append(Argument(name, marker.source, marker.alias or name, required, parameter.default, check))
    return tuple(found)


class Router:
    """Routes declared as on Powertools' resolver (`app.get(path, **documentation)`), answered here (see the
    module's docstring). `validation=False`: the route reads only its path (Powertools' resolver is then
    built without validation too, so it never imports pydantic)."""

    def __init__(
        self,
        validation: bool = True,
        serializer: Callable[[Any], str] | None = None,
        json_body_deserializer: Callable[[str], Any] | None = None,
    ) -> None:
        self.validation = validation
        self.serializer = serializer
        self.json_body_deserializer = json_body_deserializer
        self.openapi: dict[str, Any] = {}
        self.routes: list[Route] = []
        self.exception_handlers: dict[type[Exception], Callable[[Any], Response[str]]] = {}
        self.not_found_handler: Callable[[Exception], Response[str]] | None = None
        self.invalid_request_handler: Callable[[list[dict[str, Any]]], Response[str]] | None = None
        # The request being answered (Powertools' names): its event, its Lambda context, and what the
        # function put in `context` for the route (cleared after each request).
        self.current_event: dict[str, Any] = {}
        self.lambda_context: Any = None
        self.context: dict[str, Any] = {}
        self._powertools: Any = None

    # ------------------------------------------------------------------ declaring
    def configure_openapi(self, **settings: Any) -> None:
        self.openapi.update(settings)

    def route(self, path: str, method: str, **documentation: Any) -> Callable[[Any], Any]:
        def register[Handler: Callable[..., Any]](handler: Handler) -> Handler:
            placeholders = _PLACEHOLDER.findall(path)
            regex = "".join(
                re.escape(part) if index % 2 == 0 else f"(?P<{part}>{_SEGMENT})"
                for index, part in enumerate(_PLACEHOLDER.split(path))
            )
            arguments = _arguments(handler, placeholders, self.validation)
            route = Route(method.upper(), path, handler, documentation, re.compile(regex), arguments)
            self.routes.append(route)
            return handler

        return register

    def get(self, path: str, **documentation: Any) -> Callable[[Any], Any]:
        return self.route(path, "GET", **documentation)

    def post(self, path: str, **documentation: Any) -> Callable[[Any], Any]:
        return self.route(path, "POST", **documentation)

    def patch(self, path: str, **documentation: Any) -> Callable[[Any], Any]:
        return self.route(path, "PATCH", **documentation)

    def exception_handler(
        self, exception_types: type[Exception] | list[type[Exception]]
    ) -> Callable[[Callable[[Any], Response[str]]], Callable[[Any], Response[str]]]:
        def register(handle: Callable[[Any], Response[str]]) -> Callable[[Any], Response[str]]:
            for exception_type in exception_types if isinstance(exception_types, list) else [exception_types]:
                self.exception_handlers[exception_type] = handle
            return handle

        return register

    def not_found(self, handle: Callable[[Exception], Response[str]]) -> Callable[[Exception], Response[str]]:
        self.not_found_handler = handle
        return handle

    def invalid_request(
        self, handle: Callable[[list[dict[str, Any]]], Response[str]]
    ) -> Callable[[list[dict[str, Any]]], Response[str]]:
        """What answers Powertools' validation errors (their `errors()`)."""
        self.invalid_request_handler = handle
        return handle

    # ------------------------------------------------------------------ Powertools' resolver, when needed
    def powertools(self) -> Any:
        """The same routes on Powertools' `APIGatewayHttpResolver` (built once, on first need)."""
        if self._powertools is None:
            from orders.http.powertools import resolver_for

            self._powertools = resolver_for(self)
        return self._powertools

    def get_openapi_json_schema(self, **options: Any) -> str:
        return str(self.powertools().get_openapi_json_schema(**options))

    # ------------------------------------------------------------------ answering
    def resolve(self, event: dict[str, Any], lambda_context: Any, **context: Any) -> dict[str, Any]:
        self.current_event, self.lambda_context, self.context = event, lambda_context, dict(context)
        try:
            try:
                route, arguments = self.settle(event)
            except Unsettled:
                return dict(self.powertools().resolve(event, lambda_context))
            return self._call(route, arguments).result()
        finally:
            self.context = {}

    def settle(self, event: Mapping[str, Any]) -> tuple[Route, dict[str, Any]]:
        """The route and its checked arguments, or `Unsettled` (Powertools' to answer)."""
        request = event.get("requestContext")
        if not isinstance(request, dict) or request.get("stage") != "$default":
            _unsettled()  # Powertools strips a named stage from the path
        method, path = (request.get("http") or {}).get("method"), event.get("rawPath")
        headers, query = event.get("headers") or {}, event.get("queryStringParameters") or {}
        if not (isinstance(method, str) and isinstance(path, str) and _texts(headers) and _texts(query)):
            _unsettled()  # Powertools' validation reads every header and parameter as text
        if event.get("multiValueHeaders"):
            _unsettled()  # not HTTP API's payload: Powertools reads its lists
        for route in self.routes:
            if route.method == method.upper() and (match := route.pattern.fullmatch(path)):
                break
        else:
            _unsettled()
        sources: dict[str, Callable[[str], Any]] = {
            "path": match.groupdict().get,
            "query": lambda alias: _query_value(event, query, alias),
            "header": lambda alias: _header_value(headers, alias),
            "body": lambda _: _body(event, headers, self.json_body_deserializer),
        }
        arguments = {}
        for argument in route.arguments:
            value = sources[argument.source](argument.alias)
            if value is None:
                if argument.required:
                    _unsettled()
                arguments[argument.name] = argument.default
            else:
                arguments[argument.name] = argument.check(value)
        return route, arguments

    def _call(self, route: Route, arguments: dict[str, Any]) -> Response[str]:
        try:
            return route.handler(**arguments)
        except Exception as error:
            # As Powertools looks its handlers up: the most specific class of the error that has one.
            for cause in type(error).__mro__:
                if cause in self.exception_handlers:
                    return self.exception_handlers[cause](error)
            raise


def _texts(values: Any) -> bool:
    return isinstance(values, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in values.items()
    )


def _query_value(event: Mapping[str, Any], query: Mapping[str, str], alias: str) -> str | None:
    """One parameter's text (`queryStringParameters`), unless the query repeats it: Powertools then reads a
    list (and refuses it for a single value). Repeats are found as Powertools finds them."""
    value = query.get(alias)
    if value is None:
        return None
    raw = event.get("rawQueryString")
    if raw:
        if not isinstance(raw, str):
            _unsettled()
        repeated = len(parse_qs(raw, keep_blank_values=True).get(alias, ())) > 1
    else:
        repeated = alias in (event.get("multiValueQueryStringParameters") or {})
    if repeated:
        _unsettled()
    return value


def _header_value(headers: Mapping[str, str], alias: str) -> str | None:
    """Headers are read whatever their case; one named twice (in two cases) is Powertools' call."""
    found = [value for name, value in headers.items() if name.lower() == alias.lower()]
    if len(found) > 1:
        _unsettled()
    return found[0] if found else None


def _body(
    event: Mapping[str, Any], headers: Mapping[str, str], deserialize: Callable[[str], Any] | None
) -> Any:
    """The JSON body, parsed as Powertools parses it (`json_body_deserializer`); anything else is its call."""
    content_type = _header_value(headers, "content-type") or ""
    if content_type.strip() and not content_type.strip().startswith(JSON):
        _unsettled()
    text = event.get("body")
    if text and event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(text.encode()).decode()
        except ValueError:
            _unsettled()
    if not text or not isinstance(text, str) or deserialize is None:
        return None
    try:
        return deserialize(text)
    except Exception:  # noqa: BLE001 - malformed, too large ...: Powertools' answer, through its handlers
        _unsettled()
