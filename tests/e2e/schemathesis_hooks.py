"""schemathesis hooks for tests/e2e/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS in its subprocess).

Only what JSON Schema cannot say about a valid request: `POST /api/orders` takes each product once (the
document says so in words; `uniqueItems` compares whole lines, not their `productId`). A schema-valid
body generated with a repeated product is made valid by keeping each product's first line; bodies meant
to be invalid (negative mode) are left as they are.
"""

from __future__ import annotations

import schemathesis
from schemathesis.core.parameters import ParameterLocation


@schemathesis.hook
def map_case(context, case):
    operation = context.operation
    if operation is None or operation.method.upper() != "POST" or operation.path != "/api/orders":
        return case
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.BODY):
        return case
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        seen: set[str | None] = set()
        lines = []
        for line in body["items"]:
            key = line.get("productId") if isinstance(line, dict) else None
            key = key if isinstance(key, str) else None
            if key is None or key not in seen:
                lines.append(line)
                seen.add(key)
        case.body = {**body, "items": lines}
    return case
