"""The light request path (`orders.http.routes`) against Powertools' resolver, which it stands in front of.

A request the router settles must be one Powertools' validation accepts, with the very same values (type
included); anything else the router leaves to Powertools, whose answer is then the function's. Each API
function's own route is checked on generated requests: its path, query, headers and body varied around
what clients send, and around what only a fuzzer sends. The answers a settled request gets (success,
domain error, unexpected error) are Powertools' own, byte for byte.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import string
from typing import Annotated, Any

import hypothesis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from orders.domain.errors import OrderNotFound
from orders.http import api, params
from orders.http.routes import Response, Router, Unsettled

from tests.support.lambda_runtime import FakeLambdaContext, handler_module, sample_event

ORDER_ID = "019ac0a1-2b3c-7d4e-8f60-123456789abc"
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def twin(app: Router) -> tuple[Router, list[dict[str, Any]]]:
    """The function's router with each handler replaced by one that records its arguments."""
    calls: list[dict[str, Any]] = []
    recorder = Router(
        validation=app.validation,
        serializer=app.serializer,
        json_body_deserializer=app.json_body_deserializer,
    )
    for route in app.routes:

        def record(**arguments: Any) -> Response[str]:
            calls.append(arguments)
            return Response(200, api.JSON, "{}")

        record.__signature__ = inspect.signature(route.handler, eval_str=True)  # type: ignore[attr-defined]
        record.__name__ = record.__qualname__ = route.handler.__name__
        recorder.route(route.path, route.method, **route.documentation)(record)
    return recorder, calls


TWINS = {
    name: twin(handler_module(name).app)
    for name in ("get_order", "list_user_orders", "create_order", "update_order_status")
}


def count(label: str) -> None:
    """How many generated requests went which way (`pytest --hypothesis-show-statistics`)."""
    with contextlib.suppress(InvalidArgument):  # outside a Hypothesis test: no statistics to keep
        hypothesis.event(label)


def assert_agrees(function: str, event: dict[str, Any]) -> bool:
    """Settled here -> accepted by Powertools with equal values. Returns whether the router settled it."""
    recorder, calls = TWINS[function]
    try:
        _, light = recorder.settle(copy.deepcopy(event))
    except Unsettled:
        count("left to Powertools")
        return False
    count("settled by the router")
    calls.clear()
    recorder.powertools().resolve(copy.deepcopy(event), FakeLambdaContext())
    assert calls, f"settled, but Powertools refuses it: {event}"
    assert calls[0] == light
    assert {name: type(value) for name, value in calls[0].items()} == {
        name: type(value) for name, value in light.items()
    }
    return True


# ---------------------------------------------------------------------------------------- generated requests
JUNK = st.text(alphabet=st.sampled_from([*string.printable, "é", "\u0661", "\u2603", "\x00"]), max_size=12)
SEGMENT = st.one_of(
    st.sampled_from([ORDER_ID, "user-123", "alice@example.com", "auth0|123", "a%2Fb", "x y", "é", "", "a\n"]),
    JUNK,
    st.text(alphabet=string.ascii_letters + string.digits + "-._~:@|+", min_size=1, max_size=140),
)
NUMBERS = st.one_of(
    st.sampled_from(
        ["1", "20", "100", "101", "0", "-1", "05", " 5", "5 ", "1e1", "5.0", "20,30", "", "\u0661"]
    ),
    st.integers(-5, 200).map(str),
    JUNK,
)
STATUSES = st.one_of(
    st.sampled_from(["pending", "cancelled", "PENDING", "shipped ", "", "pending,shipped"]), JUNK
)
CURSORS = st.one_of(st.text(max_size=8), st.text(alphabet="ab", min_size=1020, max_size=1030))


def with_path(event: dict[str, Any], path: str) -> dict[str, Any]:
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    return event


def with_query(event: dict[str, Any], pairs: list[tuple[str, str]], raw: bool) -> dict[str, Any]:
    """As API Gateway writes a query: repeated names joined by commas in `queryStringParameters`."""
    query: dict[str, str] = {}
    for name, value in pairs:
        query[name] = f"{query[name]},{value}" if name in query else value
    event["queryStringParameters"] = query or None
    event["rawQueryString"] = "&".join(f"{name}={value}" for name, value in pairs) if raw else ""
    return event


@SETTINGS
@given(
    segment=SEGMENT,
    method=st.sampled_from(["GET", "get", "POST", "HEAD"]),
    stage=st.sampled_from(["$default", "$default", "prod"]),
    suffix=st.sampled_from(["", "", "/", "\n", "/x"]),
)
@example(segment=ORDER_ID, method="GET", stage="$default", suffix="")
def test_get_order(segment, method, stage, suffix):
    event = with_path(sample_event("get_order"), f"/api/orders/{segment}{suffix}")
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["stage"] = stage
    assert_agrees("get_order", event)


@SETTINGS
@given(
    user=SEGMENT,
    pairs=st.lists(
        st.one_of(
            st.tuples(st.just("limit"), NUMBERS),
            st.tuples(st.just("status"), STATUSES),
            st.tuples(st.just("cursor"), CURSORS),
            st.tuples(st.sampled_from(["Limit", "other", "li%6Dit"]), NUMBERS),
        ),
        max_size=4,
    ),
    raw=st.booleans(),
)
@example(user="user-123", pairs=[("limit", "5"), ("status", "pending"), ("cursor", "abc")], raw=True)
@example(user="user-123", pairs=[("status", "shipped ")], raw=True)
@example(user="user-123", pairs=[("status", "PENDING")], raw=True)
@example(user="user-123", pairs=[("limit", " 5")], raw=True)
@example(user="user-123", pairs=[("limit", "05")], raw=True)
@example(user="user-123", pairs=[("limit", "101")], raw=True)
@example(user="user-123", pairs=[("limit", "5"), ("limit", "6")], raw=True)
@example(user="user-123", pairs=[("cursor", "a"), ("cursor", "b")], raw=True)
@example(user="user-123", pairs=[("cursor", "a" * 1025)], raw=True)
@example(user="user-123\n", pairs=[], raw=True)
@example(user="x" * 129, pairs=[], raw=False)
def test_list_user_orders(user, pairs, raw):
    event = with_query(with_path(sample_event("list_user_orders"), f"/api/users/{user}/orders"), pairs, raw)
    assert_agrees("list_user_orders", event)


BODIES = st.one_of(
    st.just(json.loads(sample_event("create_order")["body"])),
    st.fixed_dictionaries(
        {
            "items": st.lists(
                st.fixed_dictionaries(
                    {"productId": st.sampled_from(["prod-456", "p", ""]), "quantity": st.integers(-1, 3)},
                    optional={"price": st.sampled_from([29.99, "29.99", 0, -1, None])},
                ),
                max_size=3,
            ),
            "shippingAddress": st.sampled_from(
                [{"street": "1 Main St", "city": "Town", "zipCode": "12345"}, {"street": "x"}, "no"]
            ),
        },
        optional={"userId": st.sampled_from(["user-123", "", "bad id"]), "extra": st.just(1)},
    ),
    st.sampled_from([[], [1], "text", 1, None]),
)


def body_text(body: Any) -> Any:
    return st.one_of(
        st.just(json.dumps(body)), st.sampled_from(["", "{", "[]", "null", '{"a": 1e999999}', None])
    )


HEADER_VALUES = st.one_of(st.text(max_size=4), st.text(alphabet="k", min_size=250, max_size=260), JUNK)


@SETTINGS
@given(
    text=BODIES.flatmap(body_text),
    header=st.one_of(
        st.none(), st.tuples(st.sampled_from(["idempotency-key", "Idempotency-Key"]), HEADER_VALUES)
    ),
    twice=st.booleans(),
    content_type=st.sampled_from(
        [None, "application/json", "application/json; charset=utf-8", "text/plain", " "]
    ),
    encoded=st.booleans(),
)
@example(
    text=sample_event("create_order")["body"],
    header=("Idempotency-Key", "k"),
    twice=True,
    content_type=None,
    encoded=False,
)
@example(
    text=sample_event("create_order")["body"],
    header=("idempotency-key", ""),
    twice=False,
    content_type=None,
    encoded=False,
)
@example(
    text=sample_event("create_order")["body"],
    header=None,
    twice=False,
    content_type="text/plain",
    encoded=True,
)
@example(text="[]", header=None, twice=False, content_type=None, encoded=False)
def test_create_order(text, header, twice, content_type, encoded):
    event = sample_event("create_order")
    headers = {
        name: value
        for name, value in event["headers"].items()
        if name.lower() not in ("idempotency-key", "content-type")
    }
    if header is not None:
        headers[header[0]] = header[1]
        if twice:
            headers[header[0].upper()] = header[1]
    if content_type is not None:
        headers["content-type"] = content_type
    event["headers"] = headers
    if encoded and text:
        import base64

        text = base64.b64encode(text.encode()).decode()
    event["body"], event["isBase64Encoded"] = text, bool(encoded and text)
    assert_agrees("create_order", event)


IF_MATCH = st.one_of(
    st.sampled_from(['"1"', '"1", "2"', "*", 'W/"1"', "1", '"1"\n', " * ", "x" * 70]),
    st.from_regex(api.IF_MATCH_PATTERN, fullmatch=True),
    JUNK,
)


@SETTINGS
@given(
    segment=SEGMENT,
    status=st.one_of(STATUSES, st.integers(), st.none()),
    extra=st.booleans(),
    if_match=st.one_of(st.none(), IF_MATCH),
)
@example(segment=ORDER_ID, status="cancelled", extra=False, if_match='W/"1", "2"')
@example(segment=ORDER_ID, status="cancelled", extra=False, if_match='"1"\n')
@example(segment=ORDER_ID, status="cancelled", extra=True, if_match=None)
def test_update_order_status(segment, status, extra, if_match):
    event = with_path(sample_event("update_order_status"), f"/api/orders/{segment}/status")
    body: dict[str, Any] = {"status": status}
    if extra:
        body["note"] = "x"
    event["body"] = json.dumps(body)
    if if_match is not None:
        event["headers"]["if-match"] = if_match
    assert_agrees("update_order_status", event)


# ---------------------------------------------------------------------------------------- what is settled
@pytest.mark.parametrize("function", sorted(TWINS))
def test_what_clients_send_is_settled_here(function):
    """The point of the router: a well-formed request never builds Powertools' resolver."""
    assert assert_agrees(function, sample_event(function))


def test_a_query_as_clients_write_it_is_settled_here():
    event = with_query(
        sample_event("list_user_orders"), [("limit", "5"), ("status", "pending"), ("cursor", "abc")], True
    )
    assert assert_agrees("list_user_orders", event)


# ---------------------------------------------------------------------------------------- answers
def _answering_router() -> Router:
    app = api.build_resolver()

    @app.get("/api/things/<thing_id>")
    def get_thing(
        thing_id: str,
        limit: Annotated[int, params.Query(ge=1, le=5)] = 2,
    ) -> Response[str]:
        if thing_id == "missing":
            raise OrderNotFound()
        if thing_id == "broken":
            raise RuntimeError("boom")
        return api.json_response(
            200, {"id": thing_id, "limit": limit}, {"ETag": '"1"', "Cache-Control": "no-store"}
        )

    return app


@pytest.mark.parametrize("thing", ["one", "missing", "broken"])
def test_a_settled_request_is_answered_as_powertools_answers_it(thing):
    app = _answering_router()
    event = with_query(with_path(sample_event("get_order"), f"/api/things/{thing}"), [("limit", "3")], True)
    context = FakeLambdaContext()
    light = app.resolve(copy.deepcopy(event), context)
    app.current_event, app.lambda_context = event, context  # what `resolve` sets before Powertools answers
    assert light == app.powertools().resolve(copy.deepcopy(event), context)
    assert light["statusCode"] == {"one": 200, "missing": 404, "broken": 500}[thing]


def test_what_the_router_leaves_is_answered_by_powertools():
    app = _answering_router()
    event = with_query(with_path(sample_event("get_order"), "/api/things/one"), [("limit", "9")], True)
    answer = app.resolve(event, FakeLambdaContext())
    body = json.loads(answer["body"])
    assert body["type"].endswith(":validation-error") and body["errors"] == [
        {"in": "query", "pointer": "/limit", "detail": "Input should be less than or equal to 5"}
    ]


@pytest.mark.parametrize(
    "declare",
    [
        lambda: params.Query(gt=1),  # a constraint the router does not check
        params.Header,  # a header without its name
        lambda: params.Body(min_length=1),
    ],
)
def test_a_declaration_the_router_cannot_honour_is_refused(declare):
    with pytest.raises(TypeError):
        declare()


def test_an_argument_type_the_router_cannot_read_is_refused():
    app = Router()
    with pytest.raises(TypeError, match="not read here"):

        @app.get("/x")
        def handler(ratio: Annotated[float, params.Query()]) -> Response[str]:
            raise AssertionError
