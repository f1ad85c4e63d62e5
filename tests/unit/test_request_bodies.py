"""`orders.http.api.loads_body`: every way a body can fail to parse is a JSONDecodeError (Powertools' 400
malformed-json problem) or a domain 4xx, never another exception (a 500). Finding 4 of issue 12: a
5,000-digit number raised Python's integer-digit-limit ValueError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from orders.domain.errors import BodyNotAnObject, OrderError
from orders.http.api import loads_body
from orders.http.problems import PROBLEMS

HUGE = "9" * 5000


@pytest.mark.parametrize(
    "text",
    [
        f'{{"items": [{{"productId": "prod-456", "quantity": {HUGE}}}]}}',
        f'{{"items": [{{"productId": "prod-456", "quantity": 1, "price": {HUGE}}}]}}',
        f'{{"status": "shipped", "n": -{HUGE}}}',
        f'{{"status": {HUGE}}}',
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' + "[" * 20_000 + "]" * 20_000 + "}",
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": "\\ud800"',
        "{'a': 1}",
        "",
    ],
    ids=lambda text: text[:40],
)
def test_unreadable_bodies_are_json_decode_errors(text):
    with pytest.raises((json.JSONDecodeError, OrderError)) as raised:
        loads_body(text[: 64 * 1024])
    if isinstance(raised.value, OrderError):
        assert 400 <= PROBLEMS[raised.value.slug].status < 500


def test_a_number_with_a_huge_exponent_is_a_decimal_for_the_models_to_judge():
    assert loads_body('{"quantity": 1e999999999}')["quantity"].adjusted() == 999999999


@pytest.mark.parametrize("text", ["[]", "1", '"x"', "null", "true"])
def test_a_body_that_is_not_an_object_is_a_400(text):
    with pytest.raises(BodyNotAnObject):
        loads_body(text)


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.text(alphabet=st.sampled_from('{}[]":,0123456789eE.-+ \\u"ntrfals'), max_size=200),
        st.builds(lambda d: '{"q": ' + d + "}", st.text(alphabet="0123456789", min_size=4000, max_size=6000)),
    )
)
def test_any_text_parses_or_is_a_client_error(text):
    try:
        loads_body(text)
    except json.JSONDecodeError:
        pass
    except OrderError as error:
        assert 400 <= PROBLEMS[error.slug].status < 500
