"""GET /api/orders/{id}: the order with its version as ETag; absent and foreign orders are one 404."""

from __future__ import annotations

import pytest

from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, OTHER_USER, SAMPLE_USER, assert_problem
from tests.support.lambda_runtime import http_event, invoke

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

ABSENT_ID = "019ac0a1-2b3c-7d4e-8f60-123456789abc"  # a well-formed UUIDv7 no test creates


def test_owner_gets_the_order_with_its_etag(api):
    created = calls.create(SAMPLE_USER)
    result = calls.get(created.body["id"])
    assert result.status == 200
    assert result.headers["ETag"] == '"1"'
    assert result.content_type.startswith("application/json")
    assert result.body == created.body


def test_etag_follows_the_version(api):
    order_id = calls.create_ok()["id"]
    assert calls.change_status(order_id, "confirmed", ADMIN_USER, admin=True).status == 200
    result = calls.get(order_id)
    assert result.headers["ETag"] == '"2"'
    assert result.body["version"] == 2


def test_admin_gets_anyones_order(api):
    order_id = calls.create_ok()["id"]
    result = calls.get(order_id, ADMIN_USER, admin=True)
    assert result.status == 200
    assert result.body["userId"] == SAMPLE_USER


def test_absent_order_is_404(api):
    assert_problem(calls.get(ABSENT_ID), 404)


def test_someone_elses_order_is_the_same_404_as_an_absent_one(api):
    order_id = calls.create_ok()["id"]
    foreign = calls.get(order_id, OTHER_USER)
    absent = calls.get(ABSENT_ID, OTHER_USER)
    assert_problem(foreign, 404)
    assert foreign.body == absent.body
    assert foreign.headers == absent.headers
    assert order_id not in foreign.raw_body


@pytest.mark.parametrize(
    "odd_id", ["abc", "ORDER", "019AC0A1-2B3C-7D4E-8F60-123456789ABC", "x" * 2000, "%00"]
)
def test_odd_ids_are_404_problems(api, odd_id):
    assert_problem(calls.get(odd_id, ADMIN_USER, admin=True), 404)


def test_no_claims_is_401(api):
    order_id = calls.create_ok()["id"]
    result = calls.get(order_id, None)
    assert_problem(result, 401)
    assert order_id not in result.raw_body


def test_sample_event_for_an_absent_order(api):
    assert_problem(invoke("get_order", http_event("get_order")), 404)
