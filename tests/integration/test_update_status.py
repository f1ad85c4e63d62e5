"""PATCH /api/orders/{id}/status through the real handler: allowed moves, conflicts, If-Match, and who
may move what."""

from __future__ import annotations

import itertools

import pytest

from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, OTHER_USER, SAMPLE_USER, assert_problem
from tests.support.dynamo import raw_order_item, snapshot
from tests.support.status_rules import CUSTOMER_TARGETS, FORWARD, STATUSES, allowed

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def admin_move(order_id: str, status: str, **kwargs):
    return calls.change_status(order_id, status, ADMIN_USER, admin=True, **kwargs)


def order_in(status: str) -> str:
    """A new order of user-123 brought to `status` by an admin in one move."""
    order_id = calls.create_ok()["id"]
    if status != "pending":
        assert admin_move(order_id, status).status == 200
    return order_id


@pytest.mark.parametrize("status", ["confirmed", "cancelled"])
def test_the_answer_is_the_models_answer_byte_for_byte(api, status):
    """The function answers from UpdateItem's new image through `orders.storage.wire`, without pydantic: its
    answer is the one the `Order` model gave from the same image (`api.order_response`), byte for byte."""
    from orders import wiring
    from orders.http import api as http_api
    from orders.storage import repository

    images: list[dict] = []
    wiring.dynamodb_client().meta.events.register(
        "after-call.dynamodb.UpdateItem", lambda parsed, **_: images.append(parsed["Attributes"])
    )
    order_id = calls.create_ok()["id"]
    result = calls.change_status(order_id, status, ADMIN_USER, admin=True)
    assert result.status == 200, result.raw_body

    (image,) = images
    by_the_model = http_api.order_response(repository._from_item(image)).result()
    assert result.raw_body == by_the_model["body"]
    assert result.headers == by_the_model["headers"]


def test_cancel_by_owner_appends_history_and_bumps_version(api):
    created = calls.create_ok()
    result = calls.change_status(created["id"], "cancelled")
    assert result.status == 200, result.raw_body
    order = result.body
    assert order["status"] == "cancelled"
    assert order["version"] == 2
    assert result.headers["ETag"] == '"2"'
    assert order["statusHistory"][0] == created["statusHistory"][0]
    assert len(order["statusHistory"]) == 2
    entry = order["statusHistory"][1]
    assert set(entry) == {"status", "at", "by"}
    assert entry["status"] == "cancelled" and entry["by"] == SAMPLE_USER
    assert entry["at"] >= created["createdAt"]
    assert order["updatedAt"] == entry["at"]
    assert order["createdAt"] == created["createdAt"]
    assert order["items"] == created["items"] and order["total"] == created["total"]
    stored = raw_order_item(api, created["id"])
    assert stored["status"] == {"S": "cancelled"}
    assert stored["version"] == {"N": "2"}


def test_full_forward_path_by_admin(api):
    order_id = calls.create_ok()["id"]
    for version, status in enumerate(FORWARD[1:], start=2):
        result = admin_move(order_id, status)
        assert result.status == 200, result.raw_body
        assert result.body["version"] == version
        assert [entry["status"] for entry in result.body["statusHistory"]] == list(FORWARD[:version])
        assert result.body["statusHistory"][-1]["by"] == ADMIN_USER


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_every_move_by_an_admin(api, current, target):
    order_id = order_in(current)
    before = calls.get(order_id).body
    result = admin_move(order_id, target)
    if allowed(current, target):
        assert result.status == 200, result.raw_body
        assert result.body["status"] == target
        assert result.body["version"] == before["version"] + 1
        assert result.body["statusHistory"][:-1] == before["statusHistory"]
    else:
        problem = assert_problem(result, 409)
        assert problem["currentStatus"] == current
        assert problem["requestedStatus"] == target
        assert calls.get(order_id).body == before


@pytest.mark.parametrize("current", [status for status in STATUSES if not allowed(status, "cancelled")])
def test_owner_cancelling_too_late_is_409(api, current):
    order_id = order_in(current)
    problem = assert_problem(calls.change_status(order_id, "cancelled"), 409)
    assert (problem["currentStatus"], problem["requestedStatus"]) == (current, "cancelled")


@pytest.mark.parametrize("target", [status for status in STATUSES if status not in CUSTOMER_TARGETS])
def test_customer_may_only_cancel(api, target):
    order_id = order_in("pending")
    before = snapshot(api)
    assert_problem(calls.change_status(order_id, target), 403)
    assert snapshot(api) == before


@pytest.mark.parametrize("target", STATUSES)
def test_another_customers_order_is_404_whatever_the_target(api, target):
    order_id = order_in("pending")
    before = snapshot(api)
    result = calls.change_status(order_id, target, OTHER_USER)
    assert_problem(result, 404)
    assert order_id not in result.raw_body
    assert snapshot(api) == before


def test_absent_order_is_404(api):
    assert_problem(admin_move("019ac0a1-2b3c-7d4e-8f60-123456789abc", "confirmed"), 404)
    assert_problem(calls.change_status("019ac0a1-2b3c-7d4e-8f60-123456789abc", "cancelled"), 404)


# ------------------------------------------------------------------ If-Match
def test_if_match_current_version_succeeds(api):
    order_id = order_in("pending")
    result = calls.change_status(order_id, "cancelled", if_match='"1"')
    assert result.status == 200, result.raw_body
    assert result.headers["ETag"] == '"2"'


def test_if_match_from_the_previous_answer_chains(api):
    order_id = order_in("pending")
    etag = calls.get(order_id).headers["ETag"]
    for status in ("confirmed", "processing", "shipped"):
        result = admin_move(order_id, status, if_match=etag)
        assert result.status == 200, result.raw_body
        etag = result.headers["ETag"]
    assert etag == '"4"'


# A stale tag, and a list none of whose strong tags is the current version (a weak tag never matches).
@pytest.mark.parametrize("header", ['"1"', '"1", "3", W/"2"'])
def test_if_match_naming_no_current_version_is_412_and_changes_nothing(api, header):
    order_id = order_in("confirmed")  # version 2
    before = snapshot(api)
    problem = assert_problem(calls.change_status(order_id, "cancelled", if_match=header), 412)
    assert problem.get("currentVersion") == 2
    assert snapshot(api) == before


def test_if_match_star_means_no_condition(api):
    order_id = order_in("confirmed")
    assert calls.change_status(order_id, "cancelled", if_match="*").status == 200


@pytest.mark.parametrize(
    "header",
    ["-1", "1", '""1""', '"1', '1"', 'w/"1"', '"1" "2"', '*, "1"', '"☃"', '"²"', "", "x" * 65],
    ids=repr,
)
def test_malformed_if_match_is_400(api, header):
    # Finding 8 (issue 12): `""1""`, `"1` and `1"` were accepted. RFC 9110: `*` or a list of entity-tags.
    order_id = order_in("pending")
    before = snapshot(api)
    assert_problem(calls.change_status(order_id, "cancelled", if_match=header), 400)
    assert snapshot(api) == before


@pytest.mark.parametrize("header", ['W/"1"', 'W/"1", W/"2"', '"abc"', '"1.0"', '"01"', '"0"'], ids=repr)
def test_if_match_naming_no_current_strong_etag_is_412_and_changes_nothing(api, header):
    # Finding 8 (issue 12): W/"1" matched; a weak tag never matches If-Match (strong comparison).
    order_id = order_in("pending")  # version 1
    before = snapshot(api)
    problem = assert_problem(calls.change_status(order_id, "cancelled", if_match=header), 412)
    assert problem.get("currentVersion") == 1
    assert snapshot(api) == before


@pytest.mark.parametrize("header", ['"99", "1"', '"1", "2"', 'W/"1", "1"', '"7",,"1"'], ids=repr)
def test_if_match_list_holding_the_current_version_succeeds(api, header):
    # Finding 8 (issue 12): a list containing the current version was refused.
    order_id = order_in("pending")
    result = calls.change_status(order_id, "cancelled", if_match=header)
    assert result.status == 200, result.raw_body
    assert result.headers["ETag"] == '"2"'


@pytest.mark.parametrize("header", ['W/"1"', '"1", "2"', '"abc"'])
def test_if_match_on_someone_elses_order_is_still_404(api, header):
    order_id = order_in("pending")
    stranger = calls.change_status(order_id, "cancelled", if_match=header, user="someone-else")
    assert_problem(stranger, 404)


# ------------------------------------------------------------------ bodies
@pytest.mark.parametrize(
    "body",
    [
        {"status": "lost"},
        {"status": "CANCELLED"},
        {},
        {"status": "cancelled", "reason": "x"},
        {"status": None},
    ],
    ids=["unknown", "upper-case", "missing", "extra-field", "null"],
)
def test_invalid_bodies_are_400_with_pointers(api, body):
    order_id = order_in("pending")
    problem = assert_problem(calls.change_status(order_id, None, body=body), 400)
    assert problem["errors"] and all(error["pointer"].startswith("/") for error in problem["errors"])
    assert calls.get(order_id).body["status"] == "pending"


@pytest.mark.parametrize(
    "raw", ["{", "cancelled", '{"status": "cancelled"', "[" * 30_000, '{"status": "cancelled\udcff"}']
)
def test_malformed_json_is_400(api, raw):
    order_id = order_in("pending")
    assert_problem(calls.change_status(order_id, None, body=raw), 400)
    assert calls.get(order_id).body["status"] == "pending"


def test_an_array_body_is_refused(api):
    order_id = order_in("pending")
    assert_problem(calls.change_status(order_id, None, body='[{"status": "cancelled"}]'), 400)
    assert calls.get(order_id).body["status"] == "pending"


def test_no_claims_is_401(api):
    order_id = order_in("pending")
    assert_problem(calls.change_status(order_id, "cancelled", None), 401)
    assert calls.get(order_id).body["status"] == "pending"
