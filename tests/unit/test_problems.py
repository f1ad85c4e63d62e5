"""The one error table (orders.http.problems): every domain error names a problem type of it, and every
problem type says what its members are."""

from __future__ import annotations

import pytest
from orders.domain import errors
from orders.http import api, problems


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


@pytest.mark.parametrize(
    "error", [errors.OrderError, *_subclasses(errors.OrderError)], ids=lambda c: c.__name__
)
def test_every_domain_error_is_a_row_of_the_table(error):
    assert error.slug in problems.PROBLEMS
    assert not hasattr(error, "status") and not hasattr(error, "title")  # HTTP lives in the http room


def test_every_member_and_header_is_described():
    for slug, problem in problems.PROBLEMS.items():
        assert 400 <= problem.status <= 599, slug
        assert set(problem.members) <= set(problems.MEMBERS), slug
        assert set(problem.headers) <= set(problems.HEADERS), slug
    assert set(problems.MEMBERS) == {m for p in problems.PROBLEMS.values() for m in p.members}


def test_a_problem_is_rendered_from_its_row():
    response = api.error_problem(errors.UpstreamUnavailable("inventory"))
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    body = api.loads_body(response.body)
    assert body == {
        "type": "urn:problem-type:orders:upstream-unavailable",
        "title": "A service we depend on is unavailable",
        "status": 503,
        "detail": "The inventory service did not answer in time; retry shortly.",
        "service": "inventory",
    }


def test_responses_group_problem_types_by_status():
    documented = problems.responses("validation-error", "malformed-json", "upstream-unavailable")
    assert list(documented) == [400, 503]
    assert "`validation-error` (with `errors`)" in documented[400]["description"]
    assert "`malformed-json`" in documented[400]["description"]
    assert set(documented[503]["content"]) == {problems.PROBLEM_JSON, problems.JSON}  # API Gateway's too
    assert documented[503]["headers"] == {"Retry-After": problems.HEADERS["Retry-After"]}
