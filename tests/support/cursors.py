"""Listing cursors edited as a client could edit them: still well-formed base64url, no longer what was issued."""

from __future__ import annotations

import base64


def b64(raw: bytes) -> str:
    """base64url without padding, as cursors are written."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    """The bytes of unpadded base64url text."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def with_payload_bit_flipped(cursor: str) -> str:
    """The cursor with one bit of its payload flipped, its MAC kept."""
    payload, mac = cursor.split(".")
    raw = bytearray(unb64(payload))
    raw[len(raw) // 2] ^= 0x01
    return f"{b64(raw)}.{mac}"


def with_mac_bit_flipped(cursor: str) -> str:
    """The cursor with one bit of its MAC flipped, its payload kept. (Rewriting the MAC's last characters
    instead, e.g. to "AA", leaves it unchanged whenever it already ends so: 1 in 256 for a 16-byte MAC.)"""
    payload, mac = cursor.split(".")
    raw = bytearray(unb64(mac))
    raw[-1] ^= 0x01
    return f"{payload}.{b64(raw)}"
