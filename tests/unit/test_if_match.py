"""`If-Match` parsing: the ETags this API returns ("3") and nothing else."""

from __future__ import annotations

import pytest
from orders.api import etag, parse_if_match
from orders.errors import InvalidPrecondition


@pytest.mark.parametrize(
    ("header", "version"),
    [
        ('"3"', 3),
        ("3", 3),
        ('W/"3"', 3),
        (' "42" ', 42),
        ('"1"', 1),
        ('"123456789012345678"', 123456789012345678),
    ],
)
def test_etags_are_read_as_versions(header, version):
    assert parse_if_match(header) == version


@pytest.mark.parametrize("header", [None, "*", " * "])
def test_absent_or_star_means_no_version_condition(header):
    assert parse_if_match(header) is None


@pytest.mark.parametrize(
    "header",
    [
        "",
        '""',
        '"abc"',
        '"-1"',
        '"+1"',
        '"1.0"',
        '"1e3"',
        '"0x10"',
        '"1 2"',
        '"1", "2"',
        '"1234567890123456789"',
        '"²"',  # superscript two: str.isdigit() says yes, int() says no
        '"³"',
        '"٣"',  # ARABIC-INDIC DIGIT THREE: not an ETag this API returned
        '"１"',  # FULLWIDTH DIGIT ONE
    ],
)
def test_anything_else_is_an_invalid_precondition(header):
    with pytest.raises(InvalidPrecondition) as raised:
        parse_if_match(header)
    assert raised.value.status == 400


@pytest.mark.parametrize("version", [1, 2, 17, 10**17])
def test_etag_round_trip(version):
    assert etag(version) == f'"{version}"'
    assert parse_if_match(etag(version)) == version
