"""Listing cursors: opaque, tamper-evident, bound to the listing (scope) that issued them."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from orders.domain.cursor import CursorCodec
from orders.domain.errors import InvalidCursor
from orders.http.problems import PROBLEMS

from tests.support.cursors import b64, unb64, with_mac_bit_flipped

SECRET = b"unit-test-cursor-secret-0123456789"
SCOPE = "user-123\x00"
POSITION = "2026-11-25T20:39:08.123Z#019ac0a1-2b3c-7d4e-8f60-123456789abc"


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(SECRET)


@pytest.mark.parametrize("position", [POSITION, "pending#019ac0a1-2b3c-7d4e-8f60-123456789abc", "x", "é#ü"])
def test_round_trip(codec, position):
    cursor = codec.encode(SCOPE, position)
    assert codec.decode(SCOPE, cursor) == position


def test_cursor_is_opaque_url_safe_text(codec):
    cursor = codec.encode(SCOPE, POSITION)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor


def test_a_fresh_codec_with_the_same_secret_reads_it(codec):
    cursor = codec.encode(SCOPE, POSITION)
    assert CursorCodec(SECRET).decode(SCOPE, cursor) == POSITION


def test_edited_payload_is_rejected(codec):
    _, mac = codec.encode(SCOPE, POSITION).split(".")
    other = b64(json.dumps(POSITION.replace("2026", "2025")).encode())
    with pytest.raises(InvalidCursor):
        codec.decode(SCOPE, f"{other}.{mac}")


def test_edited_mac_is_rejected(codec):
    with pytest.raises(InvalidCursor):
        codec.decode(SCOPE, with_mac_bit_flipped(codec.encode(SCOPE, POSITION)))


def test_truncated_mac_is_rejected(codec):
    payload, mac = codec.encode(SCOPE, POSITION).split(".")
    with pytest.raises(InvalidCursor):
        codec.decode(SCOPE, f"{payload}.{b64(unb64(mac)[:-1])}")


@pytest.mark.parametrize("other_scope", ["user-456\x00", "user-123\x00pending", "user-123\x00cancelled", ""])
def test_cursor_from_another_listing_is_rejected(codec, other_scope):
    cursor = codec.encode(SCOPE, POSITION)
    with pytest.raises(InvalidCursor):
        codec.decode(other_scope, cursor)


def test_cursor_signed_with_another_secret_is_rejected(codec):
    cursor = CursorCodec(b"another-secret-0123456789abcdef").encode(SCOPE, POSITION)
    with pytest.raises(InvalidCursor):
        codec.decode(SCOPE, cursor)


def test_a_correctly_signed_non_string_payload_is_rejected(codec):
    payload = json.dumps({"position": POSITION}).encode()
    mac = hmac.new(SECRET, SCOPE.encode() + b"\x00" + payload, hashlib.sha256).digest()[:16]
    forged = f"{b64(payload)}.{b64(mac)}"
    with pytest.raises(InvalidCursor):
        codec.decode(SCOPE, forged)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "abc",
        "a.b.c",
        "!!!.???",
        "é.é",
        "%00.%00",
        "eyJ4Ijox.",
        ".AAAA",
        "x" * 5000,
        "a" * 1000 + "." + "b" * 1000,
    ],
    ids=lambda value: repr(value[:20]),
)
def test_garbage_is_rejected(codec, garbage):
    with pytest.raises(InvalidCursor) as raised:
        codec.decode(SCOPE, garbage)
    assert PROBLEMS[raised.value.slug].status == 400


def test_secret_is_fetched_lazily_and_once():
    fetched = []

    def secret() -> bytes:
        fetched.append(1)
        return SECRET

    codec = CursorCodec(secret)
    assert fetched == []
    cursor = codec.encode(SCOPE, POSITION)
    assert codec.decode(SCOPE, cursor) == POSITION
    assert fetched == [1]


def test_short_secrets_are_refused():
    with pytest.raises(ValueError):
        CursorCodec(b"short").encode(SCOPE, POSITION)


def test_text_the_decoder_would_tolerate_is_still_an_edited_cursor():
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode("user-1\x00", "2026-11-25T20:00:00.000Z#abc")
    payload, mac = cursor.split(".")
    last = mac[-1]
    # Same bytes once decoded (a foreign character, padding, or the unused low bits of the last one).
    variants = [
        f"{payload[:5]}!{payload[5:]}.{mac}",
        f"{payload}.{mac}==",
        f"{payload}.{mac[:-1]}{'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.index(last) ^ 1)]}",
    ]
    for variant in variants:
        with pytest.raises(InvalidCursor):
            codec.decode("user-1\x00", variant)
