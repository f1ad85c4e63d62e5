"""The consumer's failure path and the operators' tools' view of the local stack: failed batches in the
bucket, the alarms they raise, the event archive and its replays, faults in the emulated EventBridge, and
`/_local/operator` credentials that allow exactly what each operator role grants.

The session's stack sees only calls the roles allow (the least-privilege check reads what it did); the
denials and the injected faults run on a stack of their own, which records nothing for that check."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import simplejson
from botocore.exceptions import ClientError

from local.aws.moto_server import aws_client
from tests.e2e.harness import stack_admin_credentials, started_stack, wait_for
from tests.e2e.test_streams import create_order, events_of, letter_of, put_poison_order

pytestmark = pytest.mark.e2e

OPERATOR_ROLES = ("EventsRedriveRole", "EventsReplayRole", "EventsBackfillRole", "OrdersReindexRole")


def operator(stack, role: str) -> dict:
    reply = stack.request("GET", f"/_local/operator?role={role}")
    assert reply.status == 200, reply.text
    return reply.json()


def as_role(stack, role: str, service: str):
    """A client for the stack's AWS with that operator role's credentials (what `make redrive` uses)."""
    described = operator(stack, role)
    endpoint = described["dynamodbEndpoint" if service == "dynamodb" else "endpoint"]
    return aws_client(service, endpoint, described["credentials"])


def entry_of(event: dict) -> dict:
    """The PutEvents entry that puts a captured event on the order bus again (as redrive and backfill do)."""
    return {
        "EventBusName": "orders-dev",
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": simplejson.dumps(event["detail"], use_decimal=True),
    }


def alarms(stack) -> dict[str, dict]:
    return {alarm["name"]: alarm for alarm in stack.request("GET", "/_local/alarms").json()}


def error_code(call) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def isolated(keys_dir, tmp_path_factory):
    """A stack of its own for denials and faults; it leaves no record for the least-privilege check."""
    with started_stack(
        keys_dir, tmp_path_factory.mktemp("isolated-stack"), env={"LOCAL_IAM_RECORD_DIR": ""}
    ) as running:
        yield running


# ------------------------------------------------------------------------------------ the session's stack
def test_operator_endpoint_tells_an_operator_command_everything_it_needs(stack):
    assert stack.request("GET", "/_local/operator").status == 400
    unknown = stack.request("GET", "/_local/operator?role=NoSuchRole")
    assert unknown.status == 404 and "NoSuchRole" in unknown.json()["message"]

    described = operator(stack, "EventsRedriveRole")
    services = stack.services()
    assert (described["stage"], described["region"], described["iamEnforced"]) == ("local", "us-east-1", True)
    assert described["endpoint"] == services["aws"] and described["dynamodbEndpoint"] == services["dynamodb"]
    outputs = described["outputs"]
    bucket = outputs["FailedBatchBucketName"]
    assert services["buckets"] == {f"arn:aws:s3:::{bucket}": bucket}
    assert outputs["EventBusName"] == "orders-dev" and outputs["OrdersTableName"] == "OrdersTable"
    assert outputs["EventArchiveName"] == "orders-dev-events"
    assert outputs["EventArchiveArn"] == "arn:aws:events:us-east-1:123456789012:archive/orders-dev-events"
    assert outputs["EventsRedriveRoleArn"] == "arn:aws:iam::123456789012:role/EventsRedriveRole"
    assert "UserPoolId" in outputs  # CreateUserPool holds with the default (empty) JwtIssuer
    parameters = described["parameters"]
    assert parameters["Stage"] == "dev" and parameters["FailedBatchRetentionDays"] == 90
    # The upstream services the stack really uses (its stubs), not the template's defaults.
    assert parameters["InventoryApiUrl"] == services["upstream"]["INVENTORY_API_URL"]
    assert parameters["UsersApiUrl"] == services["upstream"]["USERS_API_URL"]
    assert set(described["credentials"]) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    }
    assert (
        described["credentials"]["AWS_ACCESS_KEY_ID"]
        != stack_admin_credentials(services)["AWS_ACCESS_KEY_ID"]
    )


def test_a_failed_batch_raises_its_alarm_and_a_redrive_finds_reads_and_deletes_it(stack, mint):
    before = len(stack.request("GET", "/_local/dead-letters").json())
    poison_id = put_poison_order(stack)
    letter = letter_of(stack, before, poison_id)
    assert letter["present"] is True

    alarm = alarms(stack)["OrderEventsFailedBatchAlarm"]
    assert (alarm["namespace"], alarm["metric"], alarm["state"], alarm["emulated"]) == (
        "AWS/S3",
        "PutRequests",
        "ALARM",
        True,
    )
    assert alarm["dimensions"] == {"BucketName": letter["bucket"], "FilterId": "FailedBatches"}
    assert "PutRequests Sum" in alarm["reason"] and alarm["updated"].endswith("Z")
    assert alarms(stack)["OrderEventsFailedBatchDeliveryAlarm"]["state"] == "OK"  # every write succeeded
    assert {
        (a["state"], a["emulated"]) for name, a in alarms(stack).items() if "FailedBatch" not in name
    } == {("OK", False)}
    [line] = [line for line in stack.log.splitlines() if letter["key"] in line and "[dead-letter]" in line]
    assert "alarm OrderEventsFailedBatchAlarm: " in line and "ALARM" in line.rpartition("alarm ")[2]

    # What `make redrive` does with its role: list the failed batches, read one, deliver what the consumer
    # would have delivered (a real order's event again, here), keep its bookkeeping, delete the batch.
    s3 = as_role(stack, "EventsRedriveRole", "s3")
    listed = s3.list_objects_v2(Bucket=letter["bucket"], Prefix="aws/lambda/")["Contents"]
    assert letter["key"] in [item["Key"] for item in listed]
    batch = json.loads(s3.get_object(Bucket=letter["bucket"], Key=letter["key"])["Body"].read())
    assert json.loads(batch["payload"])["Records"][0]["dynamodb"]["NewImage"]["id"] == {"S": poison_id}

    order_id = create_order(stack, mint("user-123"))
    [created] = wait_for(lambda: events_of(stack, order_id))
    events = as_role(stack, "EventsRedriveRole", "events")
    put = events.put_events(Entries=[entry_of(created)])
    assert put["FailedEntryCount"] == 0
    dynamodb = as_role(stack, "EventsRedriveRole", "dynamodb")
    scratch = {"PK": {"S": f"LOCAL-TEST#{uuid.uuid4()}"}, "SK": {"S": "REDRIVE"}}
    dynamodb.put_item(TableName="OrdersTable", Item=scratch)
    assert dynamodb.get_item(TableName="OrdersTable", Key=scratch)["Item"] == scratch
    dynamodb.delete_item(TableName="OrdersTable", Key=scratch)

    s3.delete_object(Bucket=letter["bucket"], Key=letter["key"])
    [again] = [
        entry
        for entry in stack.request("GET", "/_local/dead-letters").json()
        if entry.get("key") == letter["key"]
    ]
    assert again["present"] is False and again["written"] is True  # still listed: the log is append-only
    authorizations = stack.request("GET", "/_local/iam").json()["authorizations"]
    redrive = {(a["action"], a["allowed"]) for a in authorizations if a["function"] == "EventsRedriveRole"}
    assert redrive >= {("s3:ListBucket", True), ("s3:GetObject", True), ("s3:DeleteObject", True)}
    assert all(a["session"] == "operator" for a in authorizations if a["function"] in OPERATOR_ROLES)


def test_events_are_archived_and_a_replay_puts_back_only_its_window(stack, mint):
    order_id = create_order(stack, mint("user-123"))
    [created] = wait_for(lambda: events_of(stack, order_id))
    time.sleep(1.2)  # the original falls before the window
    start = datetime.now(UTC)

    # What `make backfill` does with its role: read the table (all of it, or one user's orders), publish.
    dynamodb = as_role(stack, "EventsBackfillRole", "dynamodb")
    assert dynamodb.scan(TableName="OrdersTable", Limit=5)["Items"]
    mine = dynamodb.query(
        TableName="OrdersTable",
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :user",
        ExpressionAttributeValues={":user": {"S": "USER#user-123"}},
    )["Items"]
    assert any(item["PK"] == {"S": f"ORDER#{order_id}"} for item in mine)
    backfilled = as_role(stack, "EventsBackfillRole", "events").put_events(Entries=[entry_of(created)])
    assert backfilled["FailedEntryCount"] == 0
    wait_for(lambda: len(events_of(stack, order_id)) >= 2)
    end = datetime.now(UTC) + timedelta(seconds=1)

    # What `make replay` does with its role: replay the window from the archive, then follow it.
    described = operator(stack, "EventsReplayRole")
    events = aws_client("events", described["endpoint"], described["credentials"])
    name = f"orders-dev-{uuid.uuid4().hex[:12]}"
    started = events.start_replay(
        ReplayName=name,
        EventSourceArn=described["outputs"]["EventArchiveArn"],
        EventStartTime=start,
        EventEndTime=end,
        Destination={"Arn": described["outputs"]["EventBusArn"]},
    )
    assert started["ReplayArn"].endswith(f":replay/{name}")
    # moto replays within StartReplay itself: the replay is already complete.
    assert wait_for(lambda: events.describe_replay(ReplayName=name)["State"] == "COMPLETED")
    replayed = wait_for(lambda: [e for e in events_of(stack, order_id) if e.get("replay-name") == name])
    time.sleep(0.5)  # anything more would have arrived by now
    replayed = [e for e in events_of(stack, order_id) if e.get("replay-name") == name]
    # Only the backfilled copy lies in the window: the original, 1.2 s earlier, is not replayed.
    assert len(replayed) == 1 and replayed[0]["detail"] == created["detail"]
    assert replayed[0]["detail-type"] == "OrderCreated" and replayed[0]["source"] == "com.orderservice.orders"


def test_the_reindex_role_scans_orders_and_sets_their_index_key_under_its_condition(stack, mint):
    from orders.storage.repository import OrderRepository

    order_id = create_order(stack, mint("user-123"))
    # What `make reindex` does with its role: Scan the orders' keys, one conditional UpdateItem each.
    repository = OrderRepository(as_role(stack, "OrdersReindexRole", "dynamodb"), "OrdersTable")
    # The session's table also holds idempotency records and other tests' orders: page until an order comes.
    page = repository.scan_orders_page(
        segment=0, total_segments=1, limit=5, attributes=("id", "status", "GSI3PK")
    )
    while not page.images and page.next_key:
        page = repository.scan_orders_page(
            segment=0,
            total_segments=1,
            limit=5,
            attributes=("id", "status", "GSI3PK"),
            start_key=page.next_key,
        )
    assert page.images and all(set(image) <= {"id", "status", "GSI3PK"} for image in page.images)
    # A new order holds its key already, and is not in `shipped`: the condition refuses both, nothing written.
    assert repository.set_status_index_key(order_id, "pending") is False
    assert repository.set_status_index_key(order_id, "shipped") is False
    stored = stack.aws("dynamodb").get_item(
        TableName="OrdersTable", Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}}
    )["Item"]
    assert stored["GSI3PK"]["S"] == repository.status_index_key(order_id, "pending")


# ------------------------------------------------------------------------------------ a stack of its own
def test_operator_credentials_allow_what_the_role_grants_and_nothing_more(isolated):
    # (Here: moto records GetCallerIdentity as performed, which the least-privilege check would count.)
    described = operator(isolated, "EventsRedriveRole")
    identity = aws_client("sts", described["endpoint"], described["credentials"]).get_caller_identity()
    assert identity["Arn"].endswith(":assumed-role/EventsRedriveRole/operator")
    bucket = operator(isolated, "EventsRedriveRole")["outputs"]["FailedBatchBucketName"]
    denied = ("AccessDenied", "AccessDeniedException")
    redrive_s3 = as_role(isolated, "EventsRedriveRole", "s3")
    assert error_code(lambda: redrive_s3.put_object(Bucket=bucket, Key="aws/lambda/x", Body=b"{}")) in denied
    assert error_code(lambda: redrive_s3.get_object(Bucket=bucket, Key="elsewhere/x")) in denied
    assert (
        error_code(lambda: as_role(isolated, "EventsRedriveRole", "dynamodb").scan(TableName="OrdersTable"))
        in denied
    )
    replay_events = as_role(isolated, "EventsReplayRole", "events")
    entry = {"EventBusName": "orders-dev", "Source": "local.test", "DetailType": "T", "Detail": "{}"}
    assert error_code(lambda: replay_events.put_events(Entries=[entry])) in denied
    # Its own stage's replays only (orders-dev-*).
    assert error_code(lambda: replay_events.describe_replay(ReplayName="someone-elses")) in denied
    backfill_dynamodb = as_role(isolated, "EventsBackfillRole", "dynamodb")
    item = {"PK": {"S": "LOCAL-TEST#denied"}, "SK": {"S": "X"}}
    assert error_code(lambda: backfill_dynamodb.put_item(TableName="OrdersTable", Item=item)) in denied
    assert (
        error_code(lambda: as_role(isolated, "EventsBackfillRole", "s3").list_objects_v2(Bucket=bucket))
        in denied
    )
    reindex_dynamodb = as_role(isolated, "OrdersReindexRole", "dynamodb")
    assert error_code(lambda: reindex_dynamodb.put_item(TableName="OrdersTable", Item=item)) in denied

    refused = {
        (a["function"], a["action"])
        for a in isolated.request("GET", "/_local/iam").json()["authorizations"]
        if not a["allowed"]
    }
    assert refused == {
        ("EventsRedriveRole", "s3:PutObject"),
        ("EventsRedriveRole", "s3:GetObject"),
        ("EventsRedriveRole", "dynamodb:Scan"),
        ("EventsReplayRole", "events:PutEvents"),
        ("EventsReplayRole", "events:DescribeReplay"),
        ("EventsBackfillRole", "dynamodb:PutItem"),
        ("EventsBackfillRole", "s3:ListBucket"),
        ("OrdersReindexRole", "dynamodb:PutItem"),
    }


def test_put_events_faults_refuse_every_entry_then_the_next_n_then_clear(isolated):
    events = isolated.aws("events")
    tag = uuid.uuid4().hex[:8]

    def entry(name: str) -> dict:
        return {
            "EventBusName": "orders-dev",
            "Source": "local.test",
            "DetailType": "FaultProbe",
            "Detail": json.dumps({"probeId": f"{tag}-{name}"}),
        }

    def captured() -> list[str]:
        return [
            event["detail"]["probeId"]
            for event in isolated.request("GET", "/_local/events").json()
            if isinstance(event["detail"], dict) and str(event["detail"].get("probeId", "")).startswith(tag)
        ]

    try:
        plan = isolated.request(
            "POST",
            "/_local/aws-faults",
            body='{"PutEvents": {"errorCode": "ThrottlingException", "entries": null}}',
        )
        assert plan.status == 200 and plan.json()["plan"]["PutEvents"]["entries"] is None
        refused_before = plan.json()["refused"]["PutEvents"]
        for _ in range(2):  # until cleared
            answer = events.put_events(Entries=[entry("all-1"), entry("all-2")])
            assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200 and answer["FailedEntryCount"] == 2
            assert [e["ErrorCode"] for e in answer["Entries"]] == ["ThrottlingException"] * 2
            assert all(e["ErrorMessage"] and "EventId" not in e for e in answer["Entries"])
        held = isolated.request("GET", "/_local/aws-faults").json()
        assert held["plan"]["PutEvents"]["errorCode"] == "ThrottlingException"
        assert held["refused"]["PutEvents"] == refused_before + 4

        isolated.request(
            "POST",
            "/_local/aws-faults",
            body='{"PutEvents": {"errorCode": "InternalException", "entries": 2}}',
        )
        first = events.put_events(Entries=[entry("n-1"), entry("n-2"), entry("n-3")])
        assert first["FailedEntryCount"] == 2
        assert [e.get("ErrorCode") for e in first["Entries"]] == [
            "InternalException",
            "InternalException",
            None,
        ]
        assert isolated.request("GET", "/_local/aws-faults").json()["plan"] == {}  # used up
        assert events.put_events(Entries=[entry("after")])["FailedEntryCount"] == 0

        isolated.request(
            "POST", "/_local/aws-faults", body='{"PutEvents": {"errorCode": "ThrottlingException"}}'
        )
        cleared = isolated.request("POST", "/_local/aws-faults", body="{}")
        assert cleared.status == 200 and cleared.json()["plan"] == {}
        assert events.put_events(Entries=[entry("cleared")])["FailedEntryCount"] == 0

        # Refused entries were never put: the bus delivered only the others.
        wait_for(lambda: {f"{tag}-n-3", f"{tag}-after", f"{tag}-cleared"} <= set(captured()))
        time.sleep(0.5)
        assert sorted(captured()) == sorted([f"{tag}-n-3", f"{tag}-after", f"{tag}-cleared"])
        assert "[aws-faults] PutEvents: refused 2 of 3 entries with InternalException" in isolated.log

        for wrong in ('{"PutEvents": {"entries": 1}}', '{"SendMessage": {"errorCode": "X"}}', "[1]", "nope"):
            assert isolated.request("POST", "/_local/aws-faults", body=wrong).status == 400
    finally:
        assert isolated.request("POST", "/_local/aws-faults", body="{}").status == 200


def test_a_batch_that_cannot_be_written_is_lost_and_raises_the_delivery_alarm(isolated):
    bucket = operator(isolated, "EventsRedriveRole")["outputs"]["FailedBatchBucketName"]
    isolated.aws("s3").delete_bucket(Bucket=bucket)  # empty: nothing failed on this stack yet
    before = len(isolated.request("GET", "/_local/dead-letters").json())
    poison_id = put_poison_order(isolated)

    def lost() -> dict | None:
        for letter in isolated.request("GET", "/_local/dead-letters").json()[before:]:
            if letter["written"] is False:
                return letter
        return None

    letter = wait_for(lost, timeout=30)
    assert letter["bucket"] == bucket and letter["present"] is False
    assert letter["error"].startswith("NoSuchBucket")
    assert json.loads(letter["message"]["payload"])["Records"][0]["dynamodb"]["Keys"]["PK"]["S"] == (
        f"ORDER#{poison_id}"
    )
    states = {name: alarm["state"] for name, alarm in alarms(isolated).items()}
    assert states["OrderEventsFailedBatchDeliveryAlarm"] == "ALARM"
    assert states["OrderEventsFailedBatchAlarm"] == "OK"  # nothing was written
    line = next(
        line for line in isolated.log.splitlines() if "[dead-letter]" in line and "not written" in line
    )
    assert "lost, as on AWS" in line and "alarm OrderEventsFailedBatchDeliveryAlarm: OK -> ALARM" in line
