"""Opaque listing cursors: tamper-evident (HMAC-SHA256) and bound to the listing that issued them. Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

from orders.domain.errors import InvalidCursor

_MAC_BYTES = 16
MAX_CURSOR_LENGTH = 1024
MIN_SECRET_BYTES = 16  # the MAC is no stronger than its key


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """`secret` may be a callable: the key is then fetched on first use, not when the codec is built."""

    def __init__(self, secret: bytes | Callable[[], bytes]) -> None:
        self._secret_source = secret
        self._secret: bytes | None = None

    def _key(self) -> bytes:
        if self._secret is None:
            secret = self._secret_source() if callable(self._secret_source) else self._secret_source
            if len(secret) < MIN_SECRET_BYTES:
                raise ValueError(f"cursor secret must be at least {MIN_SECRET_BYTES} bytes")
            self._secret = secret
        return self._secret

    def _mac(self, scope: str, payload: bytes) -> bytes:
        # The scope (which listing) is signed but not carried: a cursor replayed on another listing fails.
        return hmac.new(self._key(), scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, scope: str, position: str) -> str:
        payload = json.dumps(position, separators=(",", ":")).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._mac(scope, payload))}"

    def decode(self, scope: str, cursor: str) -> str:
        try:
            if len(cursor) > MAX_CURSOR_LENGTH:
                raise ValueError("too long")
            encoded_payload, encoded_mac = cursor.split(".")
            payload, mac = _b64decode(encoded_payload), _b64decode(encoded_mac)
            # The decoder skips foreign characters and unused bits: only the exact text we wrote is ours.
            if _b64encode(payload) != encoded_payload or _b64encode(mac) != encoded_mac:
                raise ValueError("not the encoding this codec writes")
            if not hmac.compare_digest(mac, self._mac(scope, payload)):
                raise ValueError("bad signature")
            position = json.loads(payload)
            if not isinstance(position, str):
                raise TypeError("bad payload")
            return position
        except (ValueError, TypeError, UnicodeError) as exc:
            raise InvalidCursor() from exc
