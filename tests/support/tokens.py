"""Tokens the JWT libraries would not make: claims given as JSON text (NaN, 1e400, deep nesting) and
headers of any content, signed by the local issuer's key (`local.aws.auth`, `LOCAL_KEYS_DIR`)."""

from __future__ import annotations

import base64
import json

import jwt


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict, claims_text: str) -> str:
    """A compact JWS of `header` (JSON, non-ASCII kept as is) and `claims_text` (used verbatim), signed
    RS256 by the local issuer's key."""
    from local.aws import auth

    key = auth.signing_key()
    signing_input = (
        f"{_segment(json.dumps(header, ensure_ascii=False).encode())}.{_segment(claims_text.encode())}"
    )
    signature = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(
        signing_input.encode(), key.private_key
    )
    return f"{signing_input}.{_segment(signature)}"
