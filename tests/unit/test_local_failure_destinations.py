"""The local stack's pieces behind failed-batch buckets, archives, alarms and AWS faults, without a stack:
the ARNs IAM evaluates EventBridge requests against, S3 names and keys, the object Lambda writes, the
alarm emulation and the PutEvents fault plan."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from local.aws.alarms import Alarms
from local.aws.event_source_mapping import FailedBatch
from local.aws.faults import AwsFaults
from local.aws.iam import events_resource, execution_roles
from local.aws.streams import bucket_of, failed_batch_key, failure_record, s3_invocation_record
from local.template import load_template
from local.template.model import local_resources, s3_bucket_name, stack_model

EVENTS = "arn:aws:events:us-east-1:123456789012"


# ------------------------------------------------------------------------------------ IAM resources
@pytest.mark.parametrize(
    ("action", "params", "resource"),
    [
        ("StartReplay", {"ReplayName": "r", "EventSourceArn": f"{EVENTS}:archive/a"}, f"{EVENTS}:archive/a"),
        ("DescribeReplay", {"ReplayName": "orders-dev-1"}, f"{EVENTS}:replay/orders-dev-1"),
        ("CancelReplay", {"ReplayName": "r"}, f"{EVENTS}:replay/r"),
        # CreateArchive's EventSourceArn is the bus: the resource is the archive it creates.
        (
            "CreateArchive",
            {"ArchiveName": "a", "EventSourceArn": f"{EVENTS}:event-bus/b"},
            f"{EVENTS}:archive/a",
        ),
        ("DescribeArchive", {"ArchiveName": "a"}, f"{EVENTS}:archive/a"),
        ("ListArchives", {"NamePrefix": "a"}, "*"),
        ("ListReplays", {}, "*"),
        ("PutEvents", {"Entries": [{"EventBusName": "orders-dev"}]}, f"{EVENTS}:event-bus/orders-dev"),
        ("PutEvents", {"Entries": [{"Source": "s"}]}, f"{EVENTS}:event-bus/default"),
        ("DescribeEventBus", {"Name": f"{EVENTS}:event-bus/x"}, f"{EVENTS}:event-bus/x"),
        ("StartReplay", {}, "*"),
    ],
)
def test_events_requests_name_the_resource_iam_evaluates(action, params, resource):
    assert events_resource(params, action) == resource


def test_events_resource_without_an_action_names_the_bus_as_before():
    assert events_resource({"EventBusName": "b"}) == f"{EVENTS}:event-bus/b"
    assert events_resource({}) == "*"


# ------------------------------------------------------------------------------------ names
def test_a_bucket_the_template_does_not_name_gets_a_valid_stable_s3_name():
    assert s3_bucket_name("OrderEventsFailedBatchBucket") == "orders-local-ordereventsfailedbatchbucket"
    long = s3_bucket_name("A" * 80)
    assert len(long) == 63 and re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", long)
    resources = local_resources(load_template())
    name = resources.physical_ids["OrderEventsFailedBatchBucket"]
    assert resources.attributes[("OrderEventsFailedBatchBucket", "Arn")] == f"arn:aws:s3:::{name}"
    assert bucket_of(f"arn:aws:s3:::{name}") == name and bucket_of("arn:aws:sqs:us-east-1:1:q") is None


def test_archives_and_roles_resolve_as_cloudformation_names_them():
    resources = local_resources(load_template())
    assert resources.physical_ids["OrderEventArchive"] == "orders-dev-events"
    assert resources.attributes[("OrderEventArchive", "Arn")] == f"{EVENTS}:archive/orders-dev-events"
    assert (
        resources.attributes[("EventsRedriveRole", "Arn")]
        == "arn:aws:iam::123456789012:role/EventsRedriveRole"
    )


def test_the_mapping_uuid_is_stable_per_subscription_and_its_destination_a_bucket():
    [subscription] = stack_model({}).streams
    [again] = stack_model({}).streams
    assert subscription.mapping_uuid == again.mapping_uuid
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", subscription.mapping_uuid
    )
    # What FailureDestinations decides by: the destination's ARN names a bucket (an S3 destination).
    assert bucket_of(subscription.destination or "") == s3_bucket_name("OrderEventsFailedBatchBucket")


# ------------------------------------------------------------------------------------ the S3 object
def test_failed_batch_key_is_lambdas_layout_in_utc():
    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    key = failed_batch_key("m-uuid", "shardId-1", when)
    assert re.fullmatch(
        r"aws/lambda/m-uuid/shardId-1/2025/03/04/2025-03-04T05\.06\.07-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
        r"[0-9a-f]{4}-[0-9a-f]{12}",
        key,
    )
    assert key != failed_batch_key("m-uuid", "shardId-1", when)  # a random part each time


def test_the_object_is_the_invocation_record_plus_the_event_as_a_json_string():
    [subscription] = stack_model({}).streams
    records = [
        {"eventID": str(n), "dynamodb": {"SequenceNumber": str(100 + n), "ApproximateCreationDateTime": 1}}
        for n in range(2)
    ]
    record = failure_record(subscription, "shardId-1", "arn:stream", FailedBatch(records, 6, RuntimeError()))
    written = s3_invocation_record(record, FailedBatch(records, 6))
    assert set(written) == {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo",
                            "payload"}  # fmt: skip
    assert isinstance(written["payload"], str) and json.loads(written["payload"]) == {"Records": records}
    assert written["payload"].startswith('{"Records":[{')  # compact, as Lambda writes it
    assert written["DDBStreamBatchInfo"]["batchSize"] == 2


# ------------------------------------------------------------------------------------ roles
def test_the_templates_other_roles_are_built_with_conditional_policies_dropped():
    roles, warnings = execution_roles(local_resources(load_template()))
    assert warnings == []
    redrive = roles["EventsRedriveRole"]
    assert (redrive.function, redrive.name, redrive.kind) == (
        "EventsRedriveRole",
        "EventsRedriveRole",
        "role",
    )
    assert list(redrive.inline_policies) == ["redrive"]  # upstream-credential: HasUpstreamCredential is false
    bucket = local_resources(load_template()).physical_ids["OrderEventsFailedBatchBucket"]
    assert redrive.allows("s3:GetObject", f"arn:aws:s3:::{bucket}/aws/lambda/x")
    assert not redrive.allows("s3:GetObject", f"arn:aws:s3:::{bucket}/elsewhere")
    assert not redrive.allows("s3:PutObject", f"arn:aws:s3:::{bucket}/aws/lambda/x")
    assert roles["EventsReplayRole"].allows("events:StartReplay", f"{EVENTS}:archive/orders-dev-events")
    assert roles["EventsReplayRole"].allows("events:DescribeReplay", f"{EVENTS}:replay/orders-dev-1")
    assert not roles["EventsReplayRole"].allows("events:DescribeReplay", f"{EVENTS}:replay/other")
    assert roles["OrderEventsFunction"].kind == "function"


# ------------------------------------------------------------------------------------ alarms
class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_alarms_go_to_alarm_on_a_failed_batch_and_back_to_ok_after_the_window():
    clock = Clock()
    resources = local_resources(load_template())
    alarms = Alarms(resources, clock)
    bucket = resources.physical_ids["OrderEventsFailedBatchBucket"]

    def states() -> dict[str, str]:
        return {row["name"]: row["state"] for row in alarms.describe()}

    assert set(states().values()) == {"OK"}
    assert alarms.object_written(bucket, "aws/lambda/x") == ["OrderEventsFailedBatchAlarm: OK -> ALARM"]
    assert alarms.object_written("another-bucket", "aws/lambda/x") == []
    clock.now += 30
    assert alarms.delivery_failed("OrderEventsFunction") == [
        "OrderEventsFailedBatchDeliveryAlarm: OK -> ALARM"
    ]
    assert states()["OrderEventsFailedBatchAlarm"] == "ALARM"
    clock.now += 31  # the object's datapoint left the 60 s window; the failure's has not
    rows = {row["name"]: row for row in alarms.describe()}
    assert rows["OrderEventsFailedBatchAlarm"]["state"] == "OK"
    assert rows["OrderEventsFailedBatchAlarm"]["updated"] == datetime.fromtimestamp(1_000_060, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert rows["OrderEventsFailedBatchDeliveryAlarm"]["state"] == "ALARM"
    assert rows["OrderEventsErrorsAlarm"] == {
        **rows["OrderEventsErrorsAlarm"],
        "state": "OK",
        "emulated": False,
    }


# ------------------------------------------------------------------------------------ AWS faults
def test_the_put_events_fault_plan_refuses_all_or_the_next_n_entries():
    faults = AwsFaults()
    assert faults.take("PutEvents", 3) == (0, "", "")
    faults.set({"PutEvents": {"errorCode": "ThrottlingException", "entries": None}})
    assert faults.take("PutEvents", 3) == (3, "ThrottlingException", "Rate exceeded")
    assert faults.take("PutEvents", 2)[0] == 2
    faults.set({"PutEvents": {"errorCode": "InternalException", "entries": 3}})
    assert faults.take("PutEvents", 2)[0] == 2
    assert faults.describe()["plan"]["PutEvents"]["entries"] == 1
    assert faults.take("PutEvents", 2)[0] == 1  # the first of this request; the plan then lapses
    assert faults.take("PutEvents", 2)[0] == 0
    assert faults.describe() == {"plan": {}, "refused": {"PutEvents": 8}}
    faults.set({"PutEvents": {"errorCode": "ThrottlingException", "entries": None}})
    faults.set({})
    assert faults.take("PutEvents", 1)[0] == 0


@pytest.mark.parametrize(
    "plan",
    [
        [],
        {"PutRecords": {"errorCode": "X"}},
        {"PutEvents": {"entries": 1}},
        {"PutEvents": {"errorCode": "X", "entries": 0}},
        {"PutEvents": {"errorCode": "X", "entries": True}},
        {"PutEvents": {"errorCode": "X", "rate": 1}},
    ],
)
def test_a_fault_plan_that_is_not_one_is_refused(plan):
    with pytest.raises((ValueError, TypeError)):
        AwsFaults().set(plan)
