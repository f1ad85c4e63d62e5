"""DESIGN.md's status machine, stated once for every test, independently of `orders.domain.status` (so
the tests check the product against a second statement of the rules, not against itself):

pending -> confirmed -> processing -> shipped -> delivered   (forward moves may skip steps)
cancelled from pending, confirmed or processing
delivered and cancelled are final; moving to the current status is a conflict
who: an admin may make any allowed move; a customer may only cancel, and only their own order (someone
else's order is not found for them)

Plain strings only: the status names as they travel in the API.
"""

from __future__ import annotations

STATUSES = ("pending", "confirmed", "processing", "shipped", "delivered", "cancelled")
FORWARD = ("pending", "confirmed", "processing", "shipped", "delivered")
FINAL = frozenset({"delivered", "cancelled"})
CANCELLABLE = frozenset({"pending", "confirmed", "processing"})
CUSTOMER_TARGETS = frozenset({"cancelled"})


def allowed(current: str, target: str) -> bool:
    """Whether the machine allows moving an order from `current` to `target` (whoever asks)."""
    if current in FINAL or current == target:
        return False
    if target == "cancelled":
        return current in CANCELLABLE
    return target in FORWARD and FORWARD.index(target) > FORWARD.index(current)


def targets_from(current: str) -> list[str]:
    """Every status an order in `current` may move to, forward ones first (in order), then cancelled."""
    return [target for target in STATUSES if allowed(current, target)]


def customer_may_request(target: str) -> bool:
    """Whether a customer may ask to move their own order to `target` (an admin may ask for any)."""
    return target in CUSTOMER_TARGETS
