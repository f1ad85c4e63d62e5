"""IAM in the local stack: each function runs as its own execution role, built from template.yaml as SAM
builds it, and moto refuses what the role does not grant, as AWS would. The session stack runs the
template as it is; a second stack runs a copy with permissions taken away."""

from __future__ import annotations

import copy
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from local.aws.moto_server import aws_client
from local.template import load_template
from local.template.model import FAKE_CREDENTIALS
from tests.e2e.harness import ROOT, RunningStack, free_port, stack_admin_credentials, wait_for
from tests.e2e.test_streams import create_order, events_of

pytestmark = pytest.mark.e2e

ORDER_FUNCTIONS = (
    "CreateOrderFunction",
    "GetOrderFunction",
    "UpdateOrderStatusFunction",
    "ListUserOrdersFunction",
    "ListOrdersFunction",
    "HealthFunction",
    "OrderEventsFunction",
)


def change_status(stack, order_id: str, status: str, token: str) -> None:
    reply = stack.request(
        "PATCH", f"/api/orders/{order_id}/status", token=token, body=json.dumps({"status": status})
    )
    assert reply.status == 200, reply.text


def denials(stack, function: str | None = None) -> list[dict]:
    entries = stack.request("GET", "/_local/iam").json()["authorizations"]
    return [e for e in entries if not e["allowed"] and (function is None or e["function"] == function)]


def dead_letters(stack) -> list[dict]:
    """What the stack's consumer gave up on: Lambda's failure records (with the batch, in the bucket)."""
    return stack.request("GET", "/_local/dead-letters").json()


# ------------------------------------------------------------------------------------ the template as it is
def test_make_dev_prints_what_each_role_allows_one_line_each(stack):
    lines = stack.log.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("  IAM "))
    assert "enforced" in lines[header]
    rows = {line.split()[0]: line for line in lines[header + 1 : header + 1 + len(ORDER_FUNCTIONS)]}
    assert set(rows) == set(ORDER_FUNCTIONS)
    assert "dynamodb:GetItem on table/OrdersTable" in rows["GetOrderFunction"]
    assert "PutItem" not in rows["GetOrderFunction"]
    # The user indexes for a user's listing, the status index for the cross-user one: no wildcard.
    assert (
        "dynamodb:Query on table/OrdersTable/index/GSI1, table/OrdersTable/index/GSI2"
        in rows["ListUserOrdersFunction"]
    )
    assert "dynamodb:Query on table/OrdersTable/index/GSI3;" in rows["ListOrdersFunction"]
    assert "index/*" not in rows["ListUserOrdersFunction"] + rows["ListOrdersFunction"]
    assert "GSI3" not in rows["ListUserOrdersFunction"] and "GSI1" not in rows["ListOrdersFunction"]
    assert "events:PutEvents on event-bus/" in rows["OrderEventsFunction"]
    # Its own role reads this table's streams only, not every stream (AWSLambdaDynamoDBExecutionRole).
    assert "AWSLambdaDynamoDBExecutionRole" not in rows["OrderEventsFunction"]
    assert (
        "dynamodb:DescribeStream dynamodb:GetRecords dynamodb:GetShardIterator on table/OrdersTable/stream/*;"
        in rows["OrderEventsFunction"]
    )
    assert "nothing of its own" in rows["HealthFunction"]
    assert "s3:PutObject on orders-local-ordereventsfailedbatchbucket/*" in rows["OrderEventsFunction"]
    # Then the template's other roles (the operators'), each enforced the same way.
    operators = lines[header + 1 + len(ORDER_FUNCTIONS)]
    assert operators.startswith("  Operators ") and "/_local/operator?role=" in operators
    rows = {line.split()[0]: line for line in lines[header + 2 + len(ORDER_FUNCTIONS) :][:4]}
    assert set(rows) == {"EventsRedriveRole", "EventsReplayRole", "EventsBackfillRole", "OrdersReindexRole"}
    assert "events:StartReplay on archive/orders-dev-events" in rows["EventsReplayRole"]


def test_the_whole_lifecycle_runs_clean_under_enforcement(stack, mint):
    """Create, cancel; create, ship, deliver: nothing denied, nothing dead-lettered, one event a change.
    On the consumer policy before this test existed (no PutItem) every cancel, ship and deliver failed."""
    assert stack.services()["iamEnforced"] is True
    customer, admin = mint("user-123"), mint("ops-1", admin=True)
    letters_before = len(dead_letters(stack))
    cancelled = create_order(stack, customer)
    change_status(stack, cancelled, "cancelled", customer)
    delivered = create_order(stack, customer)
    change_status(stack, delivered, "shipped", admin)
    change_status(stack, delivered, "delivered", admin)

    wait_for(
        lambda: len(events_of(stack, cancelled)) >= 2 and len(events_of(stack, delivered)) >= 3, timeout=15
    )
    time.sleep(1.5)  # a retried batch would publish its events again by now
    assert [e["detail"]["status"] for e in events_of(stack, cancelled)] == ["pending", "cancelled"]
    assert [e["detail"]["status"] for e in events_of(stack, delivered)] == ["pending", "shipped", "delivered"]
    assert dead_letters(stack)[letters_before:] == []
    assert denials(stack) == []
    reservations = stack.request("GET", "/_local/stubs/state").json()["reservations"]
    assert (reservations[cancelled]["state"], reservations[delivered]["state"]) == ("released", "committed")
    performed = {
        (e["function"], e["action"]) for e in stack.request("GET", "/_local/iam").json()["authorizations"]
    }
    assert ("OrderEventsFunction", "dynamodb:PutItem") in performed  # the reservation state it records
    assert ("OrderEventsFunction", "dynamodb:GetRecords") in performed  # the mapping, with the same role


def test_credentials_iam_does_not_know_are_refused(stack):
    endpoint = stack.services()["dynamodb"]
    stranger = aws_client(
        "dynamodb",
        endpoint,
        {
            "AWS_ACCESS_KEY_ID": "AKIASTRANGER0000000",
            "AWS_SECRET_ACCESS_KEY": "nope",
            "AWS_SESSION_TOKEN": "x",
        },
    )
    with pytest.raises(ClientError) as refused:
        stranger.list_tables()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    assert "OrdersTable" in stack.aws("dynamodb").list_tables()["TableNames"]  # the stack's own principal


@pytest.mark.parametrize("path", ["/moto-api/data.json", "/moto-api/reset", "/moto-api/"])
def test_motos_control_api_is_closed_to_every_caller(stack, path):
    """Every function reaches the embedded moto (its AWS endpoint); moto's /moto-api/data.json would hand it
    every IAM user's keys (the stack admin's too) and /moto-api/reset would wipe the IAM the stack enforces.
    AWS has no such door: the local stack refuses it, and IAM still holds afterwards."""
    endpoint = stack.services()["dynamodb"]
    method = "POST" if path.endswith("reset") else "GET"
    request = urllib.request.Request(endpoint + path, method=method, data=b"" if method == "POST" else None)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert b"AKIA" not in refused.value.read()
    test_credentials_iam_does_not_know_are_refused(stack)  # enforcement survived the attempt


def test_the_services_endpoint_names_where_the_stack_admins_keys_are_not_the_keys(stack):
    """`/_local/services` answers over HTTP to whatever reaches the stack's port (every function does): it
    names a file only this OS user can read instead of the stack admin's keys."""
    reply = stack.request("GET", "/_local/services")
    described = reply.json()
    admin = stack_admin_credentials(described)
    assert admin is not None and admin["AWS_ACCESS_KEY_ID"] not in reply.text
    assert admin["AWS_SECRET_ACCESS_KEY"] not in reply.text and "credentials" not in described
    path = Path(described["credentialsFile"])
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert "OrdersTable" in stack.aws("dynamodb").list_tables()["TableNames"]  # the keys in it work


# ------------------------------------------------------------------------------------ permissions taken away
def _own_policies(template: dict, function: str) -> tuple[dict, bool]:
    """What holds the function's own `Policies`: the function (SAM's form, statements in each policy), or
    its role when the template gives it one (`Role: !GetAtt <Role>.Arn`, as the stream consumer has;
    statements in each policy's PolicyDocument). True for a role."""
    properties = template["Resources"][function]["Properties"]
    role = properties.get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        role_id = target.split(".")[0] if isinstance(target, str) else target[0]
        return template["Resources"][role_id]["Properties"], True
    return properties, False


def _statements(policy: object, in_role: bool) -> list[dict]:
    if not isinstance(policy, dict):
        return []
    return (policy.get("PolicyDocument", {}) if in_role else policy).get("Statement", [])


def _without(template: dict, function: str, action: str, instead: str | None = None) -> None:
    """Take `action` out of the function's own policy statements (or put `instead` in its place)."""
    found = False
    holder, in_role = _own_policies(template, function)
    for policy in holder["Policies"]:
        for statement in _statements(policy, in_role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                found = True
                statement["Action"] = [a for a in actions if a != action] + ([instead] if instead else [])
    assert found, f"{function} no longer grants {action}: update this test"
    # A statement left with no action is not a policy IAM accepts: take it away whole.
    holder["Policies"] = [
        policy
        for policy in holder["Policies"]
        if not ((statements := _statements(policy, in_role)) and all(not s["Action"] for s in statements))
    ]


@pytest.fixture(scope="module")
def restricted(keys_dir, tmp_path_factory):
    """A stack on a copy of template.yaml where GetOrderFunction lacks dynamodb:GetItem and the consumer
    has its policy of before this change (UpdateItem where it needs PutItem)."""
    folder = tmp_path_factory.mktemp("restricted")
    for name in ("functions", "layers"):
        (folder / name).symlink_to(ROOT / name, target_is_directory=True)
    template = copy.deepcopy(load_template())  # load_template's value is shared (cached)
    _without(template, "GetOrderFunction", "dynamodb:GetItem")
    _without(template, "OrderEventsFunction", "dynamodb:PutItem", instead="dynamodb:UpdateItem")
    (folder / "template.yaml").write_text(json.dumps(template, indent=1))
    running = RunningStack(
        free_port(),
        keys_dir,
        folder / "stack.log",
        ("--template", str(folder / "template.yaml")),
        # Short role sessions, renewed 10 s before their end: see the credentials test below.
        env={"LOCAL_IAM_SESSION_SECONDS": "20", "LOCAL_IAM_REFRESH_MARGIN": "10"},
    )
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def test_a_dropped_permission_fails_the_request_as_on_aws(restricted, stack, mint):
    token = mint("user-123")
    order_id = create_order(restricted, token)

    refused = restricted.request("GET", f"/api/orders/{order_id}", token=token)
    assert refused.status == 500
    assert refused.headers["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["status"] == 500 and problem["correlationId"]
    wait_for(lambda: "AccessDeniedException" in restricted.log)
    denied_line = next(line for line in restricted.log.splitlines() if "AccessDeniedException" in line)
    assert (
        "dynamodb:GetItem" in denied_line and "arn:aws:dynamodb:" in denied_line and ":table/" in denied_line
    )
    assert problem["correlationId"] in restricted.log  # the log line a support request leads to
    assert [(d["action"], d["session"]) for d in denials(restricted, "GetOrderFunction")] == [
        ("dynamodb:GetItem", "function")
    ]

    # The template as it is serves the same request.
    same = create_order(stack, token)
    assert stack.request("GET", f"/api/orders/{same}", token=token).status == 200


def _role_client(running, role: str):
    """DynamoDB as `role` (a function's execution role), with the credentials the stack hands out for it."""
    described = running.request("GET", f"/_local/operator?role={role}").json()
    assert described["iamEnforced"] is True, described
    return aws_client("dynamodb", described["dynamodbEndpoint"], described["credentials"])


def _refused(call) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException", refused.value.response
    return refused.value.response["Error"]["Message"]


def test_each_listing_role_queries_its_own_indexes_only(restricted):
    """ListOrdersFunction may Query the status index (GSI3) and nothing else: not the user indexes, no Scan,
    no item reads or writes; ListUserOrdersFunction the user indexes and not GSI3. Asked with the roles' own
    credentials on the restricted stack (both listing roles as in template.yaml), whose template is a copy:
    the refusals stay out of the least-privilege record of the template itself."""
    table = "OrdersTable"

    def query(index: str, key: str, value: str) -> dict:
        return {
            "TableName": table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": {":v": {"S": value}},
            "Limit": 1,
        }

    across = _role_client(restricted, "ListOrdersFunction")
    across.query(**query("GSI3", "GSI3PK", "STATUS#pending#0"))  # its grant
    for denied in (
        lambda: across.query(**query("GSI1", "GSI1PK", "USER#user-123")),
        lambda: across.query(**query("GSI2", "GSI1PK", "USER#user-123")),
        lambda: across.query(
            TableName=table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": "ORDER#x"}},
        ),
        lambda: across.scan(TableName=table, Limit=1),
        lambda: across.scan(TableName=table, IndexName="GSI3", Limit=1),
        lambda: across.get_item(TableName=table, Key={"PK": {"S": "ORDER#x"}, "SK": {"S": "ORDER"}}),
        lambda: across.put_item(TableName=table, Item={"PK": {"S": "ORDER#x"}, "SK": {"S": "ORDER"}}),
    ):
        _refused(denied)
    assert "index/GSI1" in _refused(lambda: across.query(**query("GSI1", "GSI1PK", "USER#user-123")))

    users = _role_client(restricted, "ListUserOrdersFunction")
    users.query(**query("GSI1", "GSI1PK", "USER#user-123"))
    users.query(**query("GSI2", "GSI1PK", "USER#user-123"))
    _refused(lambda: users.query(**query("GSI3", "GSI3PK", "STATUS#pending#0")))
    _refused(lambda: users.scan(TableName=table, Limit=1))

    refused = {
        (d["function"], d["action"], d["resource"].rpartition(":table/")[2]) for d in denials(restricted)
    }
    assert {
        ("ListOrdersFunction", "dynamodb:Query", f"{table}/index/GSI1"),
        ("ListOrdersFunction", "dynamodb:Query", f"{table}/index/GSI2"),
        ("ListOrdersFunction", "dynamodb:Scan", table),
        ("ListUserOrdersFunction", "dynamodb:Query", f"{table}/index/GSI3"),
    } <= refused, refused
    allowed = {
        (e["function"], e["resource"].rpartition(":table/")[2])
        for e in restricted.request("GET", "/_local/iam").json()["authorizations"]
        if e["allowed"] and e["function"] in ("ListOrdersFunction", "ListUserOrdersFunction")
    }
    assert ("ListOrdersFunction", f"{table}/index/GSI3") in allowed


def test_the_former_consumer_policy_dead_letters_the_cancel(restricted, mint):
    """What the consumer's policy did on AWS before this change: the record fails on AccessDenied, is
    retried, and ends in the on-failure bucket (publishing its event once per attempt meanwhile)."""
    token = mint("user-123")
    before = len(dead_letters(restricted))
    order_id = create_order(restricted, token)
    change_status(restricted, order_id, "cancelled", token)

    # Six failing invocations (bisected, retried five times) before it gives up: slow on a loaded machine.
    letters = wait_for(lambda: dead_letters(restricted)[before:], timeout=90)
    assert [letter["function"] for letter in letters] == ["OrderEventsFunction"]
    assert letters[0]["written"] is True and letters[0]["present"] is True
    message = letters[0]["message"]
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 6  # the first try and five retries
    assert {d["action"] for d in denials(restricted, "OrderEventsFunction")} == {"dynamodb:PutItem"}
    assert len([e for e in events_of(restricted, order_id) if e["detail"]["status"] == "cancelled"]) > 1


def test_role_credentials_are_replaced_before_they_expire(restricted):
    """A worker lives no longer than its role credentials (20 s here, renewed 10 s before the end): the
    next invocation after that gets a new worker with new credentials, as Lambda rotates them."""

    def health_workers() -> list[dict]:
        return restricted.request("GET", "/_local/workers").json()["HealthFunction"]

    assert restricted.request("GET", "/health").status == 200
    assert restricted.request("GET", "/health").status == 200
    (first,) = health_workers()
    assert first["invocations"] == 2  # warm while its credentials are fresh
    time.sleep(10.5)
    assert restricted.request("GET", "/health").status == 200
    wait_for(lambda: [worker["pid"] for worker in health_workers()] not in ([], [first["pid"]]))
    (second,) = wait_for(lambda: len(health_workers()) == 1 and health_workers())
    assert second["pid"] != first["pid"] and second["invocations"] == 1


def test_iam_off_warns_on_every_start(keys_dir, tmp_path):
    running = RunningStack(free_port(), keys_dir, tmp_path / "stack.log", env={"LOCAL_IAM": "off"})
    try:
        running.wait_ready()
        assert running.request("GET", "/_local/iam").json() == {"enforced": False}
        assert running.services()["iamEnforced"] is False
        # Operator commands get the stack's own credentials, and are told nothing is enforced.
        operator = running.request("GET", "/_local/operator?role=EventsReplayRole").json()
        assert operator["iamEnforced"] is False and operator["credentials"] == FAKE_CREDENTIALS
        assert operator["outputs"]["EventArchiveName"] == "orders-dev-events"
        assert running.request("GET", "/_local/operator?role=Nobody").status == 404
    finally:
        running.stop()
    assert running.log.count("warning: IAM is OFF") >= 2  # at start, and in the banner
