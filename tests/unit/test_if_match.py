"""`If-Match` as RFC 9110 §13.1.1 reads it: `*` or a list of entity-tags, compared strongly. The ETags this
API issues are `"<version>"`; the parser returns the versions a list names (None: no condition)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from orders.domain.errors import InvalidPrecondition
from orders.http.api import etag, parse_if_match
from orders.http.problems import PROBLEMS


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        ('"3"', {3}),
        (' "42" ', {42}),
        ('"1"', {1}),
        ('"123456789012345678"', {123456789012345678}),
        # Finding 8 (issue 12): a list containing the current version was refused.
        ('"99", "1"', {99, 1}),
        ('"1","2"', {1, 2}),
        ('"1" ,\t"2"', {1, 2}),
        (', "7",, ', {7}),  # empty list elements are ignored (RFC 9110 §5.6.1.2)
    ],
)
def test_strong_etags_name_versions(header, versions):
    assert parse_if_match(header) == versions


@pytest.mark.parametrize(
    "header",
    [
        'W/"1"',  # Finding 8: a weak tag matched; weak tags never match If-Match (strong comparison)
        'W/"3", W/"4"',
        '"abc"',  # well-formed, just not a tag this API issues
        '"01"',  # octet-wise not "1"
        '"0"',
        '"-1"',
        '"+1"',
        '"1.0"',
        '"1e3"',
        '"0x10"',
        '""',
        '"1234567890123456789"',  # past the 18 digits a version has
    ],
)
def test_well_formed_tags_that_match_nothing_name_no_version(header):
    assert parse_if_match(header) == frozenset()


def test_weak_and_strong_together_keep_only_the_strong():
    assert parse_if_match('W/"1", "2"') == {2}


@pytest.mark.parametrize("header", [None, "*", " * ", "\t*"])
def test_absent_or_star_means_no_version_condition(header):
    assert parse_if_match(header) is None


@pytest.mark.parametrize(
    "header",
    [
        "",
        " ",
        ",",
        "3",  # unquoted
        '""1""',  # Finding 8: accepted
        '"1',  # Finding 8: accepted
        '1"',  # Finding 8: accepted
        'w/"1"',  # the weak prefix is case-sensitive
        'W/ "1"',
        "W/1",
        '"1 2"',  # a space is not etagc
        '"a"b"',
        '"1" "2"',  # a list needs commas
        '*, "1"',  # `*` stands alone
        '"1", *',
        '"\x7f"',
        '"\u2603"',  # not obs-text: past Latin-1
        '"\xe9"',  # obs-text: senders must not generate it (RFC 9110 §5.5); refused
        '"²"',  # superscript two (obs-text too): str.isdigit() says yes, int() says no
        '"٣"',  # ARABIC-INDIC DIGIT THREE: past Latin-1 too
        '"\uff11"',  # FULLWIDTH DIGIT ONE
        '"1";q=1',
    ],
    ids=repr,
)
def test_anything_else_is_an_invalid_precondition(header):
    with pytest.raises(InvalidPrecondition) as raised:
        parse_if_match(header)
    assert PROBLEMS[raised.value.slug].status == 400


@pytest.mark.parametrize("version", [1, 2, 17, 10**17])
def test_etag_round_trip(version):
    assert etag(version) == f'"{version}"'
    assert parse_if_match(etag(version)) == {version}


@settings(max_examples=300, deadline=None)
@given(
    versions=st.lists(st.integers(min_value=1, max_value=10**18 - 1), min_size=1, max_size=6),
    weak=st.lists(st.integers(min_value=1, max_value=99), max_size=3),
)
def test_any_list_of_our_etags_names_exactly_its_strong_versions(versions, weak):
    header = ", ".join([*(etag(v) for v in versions), *(f"W/{etag(v)}" for v in weak)])
    assert parse_if_match(header) == set(versions)


@settings(max_examples=500, deadline=None)
@given(header=st.text(alphabet=st.sampled_from('"W/ ,*\t1a\x7f\u2603'), max_size=12))
def test_any_header_text_is_a_set_none_or_a_400_never_anything_else(header):
    try:
        result = parse_if_match(header)
    except InvalidPrecondition:
        return
    assert result is None or (isinstance(result, frozenset) and all(isinstance(v, int) for v in result))


@settings(max_examples=800, deadline=None)
@given(
    header=st.one_of(
        st.text(alphabet=st.sampled_from('"W/ ,*\t1a\x7f\xe9\u2603'), max_size=14),
        st.from_regex(
            __import__("orders.http.api", fromlist=["IF_MATCH_PATTERN"]).IF_MATCH_PATTERN, fullmatch=True
        ),
    )
)
def test_the_documented_pattern_and_the_parser_agree(header):
    """The OpenAPI document's pattern (validated by the resolver) accepts exactly what the parser reads."""
    import re

    from orders.http.api import IF_MATCH_PATTERN

    try:
        parse_if_match(header)
        parsed = True
    except InvalidPrecondition:
        parsed = False
    assert (re.fullmatch(IF_MATCH_PATTERN, header) is not None) is parsed


def test_the_openapi_document_states_the_same_pattern():
    """The route declares the pattern it validates (`Header(pattern=IF_MATCH_PATTERN)`); the committed document,
    checked against the code by tests/e2e/test_openapi.py, states it."""
    import json
    from pathlib import Path

    from orders.http.api import IF_MATCH_PATTERN

    document = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    parameters = document["paths"]["/api/orders/{id}/status"]["patch"]["parameters"]
    (if_match,) = [parameter for parameter in parameters if parameter["name"] == "if-match"]
    assert if_match["schema"]["pattern"] == IF_MATCH_PATTERN
