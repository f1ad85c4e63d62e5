"""The stack's own endpoints beside the API: the upstream stubs' fault plan and state, the embedded
services and the stream mappings."""

from __future__ import annotations

import json
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

pytestmark = pytest.mark.e2e


def user_status(url: str) -> int:
    try:
        with urlopen(f"{url}/api/users/user-123", timeout=10) as reply:
            return reply.status
    except HTTPError as error:
        return error.code


def test_stub_faults_from_the_stack(stack):
    users = stack.request("GET", "/_local/services").json()["upstream"]["USERS_API_URL"]
    try:
        plan = stack.request("POST", "/_local/stubs/faults", body='{"failNext": 2, "kinds": ["error"]}')
        assert plan.status == 200 and plan.json()["failNext"] == 2
        # Read back through the stack: the plan it holds is the one set (its own background traffic, the
        # stream consumer calling the inventory, may already have used up some of the two failures).
        held = stack.request("GET", "/_local/stubs/state").json()["faults"]
        assert held["kinds"] == ["error"] and held["rate"] == 0.0 and 0 <= held["failNext"] <= 2
        # The stack's own traffic (the stream consumer committing or releasing reservations of earlier
        # tests' orders) may take those two failures; failures scripted for one path are this test's alone.
        assert stack.request("POST", "/_local/stubs/faults", body="{}").json()["failNext"] == 0
        script = json.dumps(
            {"method": "GET", "pathPrefix": "/api/users/user-123", "count": 2, "kind": "error"}
        )
        with urlopen(Request(f"{users}/_stubs/fail-next", data=script.encode(), method="POST"), timeout=10):
            pass
        assert [user_status(users) for _ in range(3)] == [503, 503, 200]

        refused = stack.request("POST", "/_local/stubs/faults", body='{"rate": 2}')
        assert refused.status == 400 and "rate" in refused.json()["message"]
        assert stack.request("POST", "/_local/stubs/faults", body='{"kinds": ["nope"]}').status == 400
        assert stack.request("POST", "/_local/stubs/faults", body="[1]").status == 400
    finally:
        assert stack.request("POST", "/_local/stubs/faults", body="{}").json()["rate"] == 0.0
    state = stack.request("GET", "/_local/stubs/state").json()
    assert state["users"]["user-123"]["status"] == "active"
    assert state["stock"]["prod-456"] >= 100 and isinstance(state["calls"], list)
    assert "[stubs] fault plan:" in stack.log


def test_services_and_streams_are_described(stack):
    services = stack.request("GET", "/_local/services").json()
    assert services["tables"] == ["OrdersTable"] and "orders-dev" in services["eventBuses"]
    assert services["dynamodb"] == services["aws"] and services["aws"].startswith("http://127.0.0.1:")
    # The consumer's failed batches go to a bucket now; the template has no queue left.
    assert services["queues"] == {}
    [(bucket_arn, bucket)] = services["buckets"].items()
    assert bucket_arn == f"arn:aws:s3:::{bucket}" and bucket == "orders-local-ordereventsfailedbatchbucket"
    assert services["archives"] == {
        "arn:aws:events:us-east-1:123456789012:archive/orders-dev-events": "orders-dev-events"
    }
    s3 = stack.aws("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    archive = stack.aws("events").describe_archive(ArchiveName="orders-dev-events")
    assert archive["EventSourceArn"].endswith(":event-bus/orders-dev")
    assert json.loads(archive["EventPattern"])["source"] == ["com.orderservice.orders"]
    [stream] = stack.request("GET", "/_local/streams").json()
    assert (stream["function"], stream["table"], stream["state"]) == (
        "OrderEventsFunction",
        "OrdersTable",
        "polling",
    )
    assert stream["streamArn"].startswith("arn:aws:dynamodb:us-east-1:123456789012:table/OrdersTable/stream/")
    assert json.dumps(stream)  # plain JSON
