"""Attacks over HTTP against the local stack, odd ids: odd order ids, user ids and raw UTF-8 in the path
are a 400 or a 404, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.e2e.attacks import assert_problem, problem_errors, raw_request

pytestmark = pytest.mark.e2e


LONG = "x" * 10 * 1024
ODD_IDS = {
    "unicode (été)": quote("été"),
    "unicode (snowman)": quote("☃"),
    "zero-width space": quote("\u200b"),
    "dot dot": "..",
    "dot": ".",
    "dot dot slash": "../",
    "encoded dot dot": "%2e%2e",
    "encoded slash": "%2F",
    "encoded traversal": "..%2F..%2Fhealth",
    "encoded slash inside": "a%2Fb",
    "10 KB long": LONG,
    "space": "%20",
    "tab": "%09",
    "newline": "%0A",
    "NUL": "%00",
    "percent": "%25",
    "bad escape": "%ZZ",
    "invalid UTF-8": "%FF%FE",
    "quotes": "%22%27",
    "key separator": "ORDER%23x",
    "SQL-ish": quote("' OR '1'='1"),
    "template": quote("${jndi:x}"),
    "null word": "null",
}


def odd_order_ids(real_id: str) -> dict[str, str]:
    return {
        **ODD_IDS,
        "real id upper-cased": real_id.upper(),
        "real id with a trailing space": real_id + "%20",
        "real id with a trailing slash": real_id + "/",
        "real id, key-prefixed": f"ORDER%23{real_id}",
    }


def test_odd_order_ids_are_400_or_404_never_500(stack, cast, victim):
    failures = []
    for label, odd in odd_order_ids(victim[0]["id"]).items():
        for token in (cast.token_a, cast.token_admin):
            got = stack.request("GET", f"/api/orders/{odd}", token=token)
            failures += [
                f"GET {label}: {error}" for error in problem_errors(got, 400, 404, gateway_not_found=True)
            ]
            patched = stack.request(
                "PATCH", f"/api/orders/{odd}/status", token=token, body='{"status": "cancelled"}'
            )
            failures += [
                f"PATCH {label}: {error}"
                for error in problem_errors(patched, 400, 404, gateway_not_found=True)
            ]
    assert not failures, "\n".join(failures)
    unchanged = stack.request("GET", f"/api/orders/{victim[0]['id']}", token=cast.token_a).json()
    assert unchanged["status"] == "pending"


def test_odd_user_ids_on_listing_are_400_or_404_never_500(stack, cast):
    failures = []
    # "null" is a well-formed user id: A's listing of it is a 403, the admin's an empty 200.
    odd_user_ids = {label: odd for label, odd in ODD_IDS.items() if odd != "null"}
    for label, odd in {**odd_user_ids, "empty-ish (+)": "+", "key separator user": "USER%23x"}.items():
        for token in (cast.token_a, cast.token_admin):
            reply = stack.request("GET", f"/api/users/{odd}/orders", token=token)
            failures += [
                f"LIST {label}: {error}" for error in problem_errors(reply, 400, 404, gateway_not_found=True)
            ]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "target", ["/api/orders/été☃", "/api/orders/été☃/status", "/api/users/été☃/orders", "/api/orders/\xff"]
)
def test_raw_utf8_in_the_path_is_400_or_404(stack, cast, target):
    reply = raw_request(stack.port, target.encode("utf-8", "surrogateescape"), cast.token_admin)
    assert_problem(reply, 400, 404, gateway_not_found=True)
