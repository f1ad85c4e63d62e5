"""Least privilege, both ways, over what the whole run did (tests/support/least_privilege.py): every AWS
action a function performed in the integration and e2e suites is granted by its execution role, and every
action its template policies grant was performed by some test, or the template says why it stays.

It runs last, and only in a run with both suites whole (`make test`): a narrowed run cannot tell an
unused grant from an untested one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from local.aws.iam import OPERATOR, execution_roles
from local.template import load_template
from local.template.model import local_resources
from tests.support.least_privilege import (
    RECORDER,
    TEMPLATE,
    exemptions,
    problems,
    recorded_stack_calls,
    stack_calls,
)

pytestmark = [pytest.mark.e2e, pytest.mark.least_privilege]


def test_every_function_performs_exactly_what_its_role_grants(stack):
    roles, warnings = execution_roles(local_resources(load_template()))
    assert warnings == []
    in_process = RECORDER.recorded()
    on_stacks = recorded_stack_calls(Path(os.environ["LOCAL_IAM_RECORD_DIR"])) + stack_calls(
        stack.request("GET", "/_local/iam").json()["authorizations"], "the session's stack"
    )
    # Both suites contributed, for every function that calls AWS at all.
    calling = {
        "CreateOrderFunction",
        "GetOrderFunction",
        "UpdateOrderStatusFunction",
        "ListUserOrdersFunction",
        "ListOrdersFunction",
    }
    assert {call.function for call in in_process} >= calling | {"OrderEventsFunction"}
    assert {call.function for call in on_stacks} >= calling | {"OrderEventsFunction"}
    # The operators' roles acted on the session's stack too (tests/e2e/test_failure_destinations.py).
    operators = {name for name, role in roles.items() if role.kind == OPERATOR}
    assert operators == {"EventsRedriveRole", "EventsReplayRole", "EventsBackfillRole", "OrdersReindexRole"}
    assert {call.function for call in on_stacks} >= operators

    found = problems(roles, in_process + on_stacks, exemptions(TEMPLATE.read_text()))
    assert found == [], "\n".join(found)
