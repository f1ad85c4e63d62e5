"""POST /api/orders through the real handler against moto: status, headers, exact money, what is stored,
and every way a request can be refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, OTHER_USER, SAMPLE_USER, assert_problem, order_body
from tests.support.dynamo import order_items, raw_order_item
from tests.support.lambda_runtime import http_event, invoke

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def test_created_order_answer(api):
    result = calls.create(SAMPLE_USER, order_body(user_id=SAMPLE_USER))
    assert result.status == 201, result.raw_body
    order = result.body
    assert result.headers["Location"] == f"/api/orders/{order['id']}"
    assert result.headers["ETag"] == '"1"'
    assert result.content_type.startswith("application/json")
    assert order["userId"] == SAMPLE_USER
    assert order["status"] == "pending"
    assert order["version"] == 1
    assert order["currency"] == "USD"
    assert order["shippingAddress"] == {"street": "123 Main St", "city": "New York", "zipCode": "10001"}
    assert order["createdAt"] == order["updatedAt"]
    assert order["statusHistory"] == [{"status": "pending", "at": order["createdAt"], "by": SAMPLE_USER}]
    assert [(line["productId"], line["quantity"]) for line in order["items"]] == [("prod-456", 2)]


def test_money_is_exact_on_the_wire(api):
    result = calls.create(SAMPLE_USER, order_body(("prod-456", 2, Decimal("29.99"))))
    assert result.status == 201
    assert '"total":59.98' in result.raw_body
    assert '"lineTotal":59.98' in result.raw_body
    assert '"unitPrice":29.99' in result.raw_body
    assert "59.980" not in result.raw_body and "59.97999" not in result.raw_body
    assert result.body["total"] == Decimal("59.98")


def test_whole_and_one_decimal_prices_are_written_with_two_places(api):
    body = order_body(("whole-c3000", 3, Decimal(30)), ("tenth-c1050", 1, Decimal("10.5")))
    result = calls.create(SAMPLE_USER, body)
    assert result.status == 201, result.raw_body
    assert '"unitPrice":30.00' in result.raw_body
    assert '"lineTotal":90.00' in result.raw_body
    assert '"unitPrice":10.50' in result.raw_body
    assert '"total":100.50' in result.raw_body


def test_decimals_end_to_end_in_the_stored_item(api):
    order = calls.create_ok(
        SAMPLE_USER, order_body(("prod-456", 2, Decimal("29.99")), ("prod-2", 3, Decimal("0.10")))
    )
    item = raw_order_item(api, order["id"])
    assert item is not None
    assert item["PK"] == {"S": f"ORDER#{order['id']}"}
    assert item["total"] == {"N": "60.28"}
    assert item["version"] == {"N": "1"}
    lines = [line["M"] for line in item["items"]["L"]]
    assert lines[0]["unitPrice"] == {"N": "29.99"}
    assert lines[0]["lineTotal"] == {"N": "59.98"}
    assert lines[0]["quantity"] == {"N": "2"}
    assert lines[1]["unitPrice"]["N"] in ("0.10", "0.1")
    assert Decimal(lines[1]["lineTotal"]["N"]) == Decimal("0.30")
    assert item["status"] == {"S": "pending"}


def test_read_back_is_the_same_order_byte_for_byte(api):
    created = calls.create(SAMPLE_USER, order_body(("prod-456", 7, Decimal("29.99"))))
    got = calls.get(created.body["id"])
    assert got.status == 200
    assert got.raw_body == created.raw_body
    assert '"total":209.93' in got.raw_body


def test_user_id_defaults_to_the_caller(api):
    assert calls.create_ok(OTHER_USER, order_body())["userId"] == OTHER_USER


def test_customer_cannot_create_for_another_user(api):
    result = calls.create(OTHER_USER, order_body(user_id=SAMPLE_USER))
    assert_problem(result, 403)
    assert order_items(api) == []


def test_admin_can_create_for_another_user(api):
    order = calls.create_ok(ADMIN_USER, order_body(user_id=SAMPLE_USER), admin=True)
    assert order["userId"] == SAMPLE_USER
    assert order["statusHistory"][0]["by"] == ADMIN_USER


def test_no_claims_is_401(api):
    assert_problem(calls.create(None, order_body()), 401)
    assert order_items(api) == []


def valid_item(**changes):
    return {"productId": "prod-456", "quantity": 2, "price": Decimal("29.99"), **changes}


def body_with(**changes):
    body = order_body()
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (body_with(items=[valid_item(quantity=0)]), "/items/0/quantity"),
        (body_with(items=[valid_item(quantity=1001)]), "/items/0/quantity"),
        (body_with(items=[valid_item(quantity=Decimal("2.5"))]), "/items/0/quantity"),
        (body_with(items=[valid_item(quantity="2")]), "/items/0/quantity"),
        (body_with(items=[valid_item(quantity=True)]), "/items/0/quantity"),
        (body_with(items=[valid_item(), valid_item(productId="prod-2", quantity=-3)]), "/items/1/quantity"),
        (body_with(items=[valid_item(price=Decimal("-0.01"))]), "/items/0/price"),
        (body_with(items=[valid_item(price=Decimal("29.999"))]), "/items/0/price"),
        (body_with(items=[valid_item(price=Decimal("1E+400"))]), "/items/0/price"),
        (body_with(items=[valid_item(productId="bad id")]), "/items/0/productId"),
        (body_with(items=[valid_item(productId="p" * 65)]), "/items/0/productId"),
        (body_with(items=[]), "/items"),
        (body_with(items=[valid_item(productId=f"p-{index}") for index in range(51)]), "/items"),
        (body_with(items="prod-456"), "/items"),
        (body_with(shippingAddress=None), "/shippingAddress"),
        (
            body_with(shippingAddress={"street": "x" * 201, "city": "c", "zipCode": "1"}),
            "/shippingAddress/street",
        ),
        (body_with(shippingAddress={"street": "s", "city": " ", "zipCode": "1"}), "/shippingAddress/city"),
        (body_with(shippingAddress={"street": "s", "city": "c"}), "/shippingAddress/zipCode"),
        (body_with(userId="x" * 129), "/userId"),
        (body_with(userId="user#1"), "/userId"),
        (body_with(total=Decimal("1.00")), "/total"),
        (body_with(items=[valid_item(colour="red")]), "/items/0/colour"),
        (body_with(**{"a/b~c": 1}), "/a~1b~0c"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_validation_errors_are_400_problems_with_pointers(api, body, pointer):
    problem = assert_problem(calls.create(SAMPLE_USER, body), 400)
    pointers = [error["pointer"] for error in problem["errors"]]
    assert pointer in pointers, problem["errors"]
    for error in problem["errors"]:
        assert error["in"] == "body"
        assert isinstance(error["detail"], str) and error["detail"]
    assert order_items(api) == []


def test_validation_problems_do_not_echo_the_input(api):
    secret_street = "Secret Lane " + "z" * 200
    result = calls.create(
        SAMPLE_USER, body_with(shippingAddress={"street": secret_street, "city": "c", "zipCode": "1"})
    )
    assert_problem(result, 400)
    assert "Secret Lane" not in result.raw_body


def test_a_repeated_product_is_a_400_pointing_at_the_items(api):
    raw = calls.json_text(body_with(items=[valid_item(), valid_item(quantity=5)]))
    problem = assert_problem(calls.create(SAMPLE_USER, raw), 400)
    assert problem["errors"]
    # RFC 6901: the whole document is "" ("/" names a member whose name is empty).
    for error in problem["errors"]:
        assert error["pointer"] == "" or error["pointer"].startswith("/items"), problem["errors"]
    assert order_items(api) == []


@pytest.mark.parametrize(
    "raw",
    [calls.json_text([order_body()]), '"just a string"', "null", "42"],
    ids=["array", "string", "null", "number"],
)
def test_a_body_that_is_not_an_object_is_a_400(api, raw):
    problem = assert_problem(calls.create(SAMPLE_USER, raw), 400, "validation-error")
    # As every invalid request's problem: `errors`, here one for the whole document (RFC 6901: "").
    assert [(error["in"], error["pointer"]) for error in problem["errors"]] == [("body", "")]
    assert order_items(api) == []


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        '{"items": [}',
        "not json",
        '{"items": []} trailing',
        "{'items': []}",
        "[" * 30_000,
        '{"a":' * 10_000,
        # A lone surrogate: text no UTF-8 can carry (the event's JSON may hold one as an escape).
        '{"items": [], "shippingAddress": {"street": "\udcff"}}',
    ],
    ids=[
        "unclosed",
        "broken-array",
        "text",
        "trailing",
        "single-quotes",
        "deep-arrays",
        "deep-objects",
        "surrogate",
    ],
)
def test_malformed_json_is_400_never_500(api, raw):
    assert_problem(calls.create(SAMPLE_USER, raw), 400)
    assert order_items(api) == []


def test_empty_body_is_400(api):
    assert_problem(calls.create(SAMPLE_USER, ""), 400)


@pytest.mark.parametrize(
    "padding",
    ["x" * (64 * 1024 + 1), "é" * (33 * 1024)],  # over 64 KB in characters; over 64 KB in UTF-8 bytes only
    ids=["ascii", "multibyte"],
)
def test_body_over_64_kb_is_413(api, padding):
    body = body_with(shippingAddress={"street": padding, "city": "c", "zipCode": "1"})
    assert_problem(calls.create(SAMPLE_USER, body), 413)
    assert order_items(api) == []


def test_body_just_under_64_kb_is_read_and_validated(api):
    body = body_with(shippingAddress={"street": "x" * (60 * 1024), "city": "c", "zipCode": "1"})
    problem = assert_problem(calls.create(SAMPLE_USER, body), 400)
    assert "/shippingAddress/street" in [error["pointer"] for error in problem["errors"]]


def test_base64_encoded_body_is_accepted(api):
    import base64

    event = http_event("create_order", body=base64.b64encode(calls.json_text(order_body()).encode()).decode())
    event["isBase64Encoded"] = True
    event["headers"].pop("idempotency-key", None)
    result = invoke("create_order", event)
    assert result.status == 201, result.raw_body
    assert '"total":59.98' in result.raw_body


def test_an_array_of_orders_is_refused_not_read_as_its_first_element(api):
    first, second = order_body(("prod-456", 1, Decimal("29.99"))), order_body(("prod-2", 3, Decimal("0.10")))
    result = calls.create(SAMPLE_USER, calls.json_text([first, second]))
    assert_problem(result, 400)
    assert order_items(api) == []
