"""JSON with exact money: `Decimal` written as a JSON number (59.98), never a string nor a float.
Standard library and simplejson only, so the stream consumer gets it without the HTTP stack."""

from __future__ import annotations

from typing import Any

import simplejson


def dumps(value: Any) -> str:
    return simplejson.dumps(value, use_decimal=True, separators=(",", ":"), ensure_ascii=False)
