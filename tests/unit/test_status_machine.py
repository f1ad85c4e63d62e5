"""The status machine against DESIGN.md's rules, as tests/support/status_rules.py states them independently
of `orders.domain.status`."""

from __future__ import annotations

import itertools

import pytest
from orders.domain.status import OrderStatus, can_transition, sources_of

from tests.support.status_rules import FINAL, allowed
from tests.support.status_rules import STATUSES as NAMES


def test_the_statuses_are_exactly_the_six_of_the_design():
    assert sorted(status.value for status in OrderStatus) == sorted(NAMES)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(NAMES, NAMES)))
def test_every_pair_of_statuses(current, target):
    assert can_transition(OrderStatus(current), OrderStatus(target)) is allowed(current, target)


def test_the_table_allows_exactly_thirteen_moves():
    # pending: 4 forward + cancel; confirmed: 3 + cancel; processing: 2 + cancel; shipped: 1.
    moves = [(a, b) for a, b in itertools.product(OrderStatus, OrderStatus) if can_transition(a, b)]
    assert len(moves) == 13


@pytest.mark.parametrize("target", NAMES)
def test_sources_of_each_target(target):
    expected = {OrderStatus(source) for source in NAMES if allowed(source, target)}
    assert set(sources_of(OrderStatus(target))) == expected


def test_sources_spelled_out():
    assert sources_of(OrderStatus.PENDING) == frozenset()
    assert sources_of(OrderStatus.CONFIRMED) == {OrderStatus.PENDING}
    assert sources_of(OrderStatus.SHIPPED) == {
        OrderStatus.PENDING,
        OrderStatus.CONFIRMED,
        OrderStatus.PROCESSING,
    }
    assert sources_of(OrderStatus.DELIVERED) == {
        OrderStatus.PENDING,
        OrderStatus.CONFIRMED,
        OrderStatus.PROCESSING,
        OrderStatus.SHIPPED,
    }
    assert sources_of(OrderStatus.CANCELLED) == {
        OrderStatus.PENDING,
        OrderStatus.CONFIRMED,
        OrderStatus.PROCESSING,
    }


@pytest.mark.parametrize("final", sorted(FINAL))
def test_final_statuses_are_no_source(final):
    assert all(OrderStatus(final) not in sources_of(target) for target in OrderStatus)
