"""The products the unit tests order and their prices: the same as local/stubs/seed.json (which the stubs of
the integration tests serve), so fakes and stubs agree."""

from __future__ import annotations

import re
from decimal import Decimal

# Named products; any id ending in `-c<cents>` costs that many cents (e.g. `p-3-c1999` costs 19.99).
CATALOG: dict[str, Decimal] = {
    "prod-456": Decimal("29.99"),
    "prod-1": Decimal("29.99"),
    "prod-2": Decimal("0.10"),
}
_PRICED_ID = re.compile(r"-c(\d+)$")


def catalog_price(product_id: str) -> Decimal | None:
    if product_id in CATALOG:
        return CATALOG[product_id]
    if match := _PRICED_ID.search(product_id):
        return Decimal(int(match.group(1))).scaleb(-2)
    return None
