"""A 20-second soak (the same driver and reconciliation as `make soak`, which runs 2 minutes): 8 clients
of mixed traffic against a freshly started local stack, then every answer reconciled with the table, the
bus and the inventory (see tests/soak/driver.py)."""

from __future__ import annotations

import pytest

from tests.soak.driver import soak_on_fresh_stack, summary

pytestmark = pytest.mark.e2e

SECONDS = 20
CLIENTS = 8


def test_twenty_seconds_of_mixed_traffic_reconcile(keys_dir, mint, tmp_path):
    traffic, reconciliation = soak_on_fresh_stack(
        SECONDS, keys_dir=keys_dir, log_path=tmp_path / "stack.log", mint=mint, clients=CLIENTS
    )
    report = summary(traffic, reconciliation)
    print(report)

    # Enough happened for the reconciliation to mean something.
    operations = {sample.operation for sample in traffic.samples}
    assert operations >= {"create", "get", "list", "cancel", "advance", "intrude", "replay"}, report
    assert traffic.requests >= 100, report
    accepted = [t.status for record in traffic.ledger.orders.values() for t in record.transitions]
    assert {"cancelled", "shipped", "delivered"} <= set(accepted), report

    assert reconciliation.problems == [], report
