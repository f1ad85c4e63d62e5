"""ops/stage.py against a deployed stage (moto in process): the stack named by samconfig.toml, its outputs
and parameters, the command's role assumed; and the plain errors when any of it is missing."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from ops.stage import StageError, resolve, samconfig_stack

TEMPLATE = {
    "Parameters": {"InventoryApiUrl": {"Type": "String", "Default": "https://inventory.example"}},
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
    "Outputs": {
        "OrdersTableName": {"Value": "orders-dev-table"},
        "OrdersTableStreamArn": {
            "Value": "arn:aws:dynamodb:us-east-1:123456789012:table/orders-dev-table/stream/2026-12-01T00:00:00.000"
        },
        "EventBusName": {"Value": "orders-dev"},
        "EventsRedriveRoleArn": {"Value": "arn:aws:iam::123456789012:role/redrive"},
    },
}


@pytest.fixture
def deployed():
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_role(
            RoleName="redrive",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )
        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName="order-service-dev", TemplateBody=json.dumps(TEMPLATE)
        )
        yield


def test_a_deployed_stage_is_its_stacks_outputs_with_the_commands_role(deployed):
    stage = resolve("dev", role="EventsRedriveRole")
    assert (stage.name, stage.region, stage.role) == ("dev", "us-east-1", "EventsRedriveRole")
    assert stage.table_name == "orders-dev-table"
    assert stage.table_arn == "arn:aws:dynamodb:us-east-1:123456789012:table/orders-dev-table"
    assert stage.parameters["InventoryApiUrl"] == "https://inventory.example"
    assert stage.credentials is not None
    assert stage.credentials["AWS_ACCESS_KEY_ID"] != "testing"  # the role's, not the caller's
    environment = stage.function_environment()
    assert (environment["TABLE_NAME"], environment["EVENT_BUS_NAME"]) == ("orders-dev-table", "orders-dev")
    assert environment["DYNAMODB_ENDPOINT"] == ""  # the real service


def test_without_assuming_the_role_the_callers_credentials_act(deployed):
    stage = resolve("dev", role="EventsRedriveRole", assume_role=False)
    assert stage.credentials is None and stage.role is None
    assert any("your own credentials" in note for note in stage.notes)


def test_a_role_the_stack_does_not_output_is_a_plain_error(deployed):
    with pytest.raises(StageError, match=r"no output EventsReplayRoleArn: deploy the current template\.yaml"):
        resolve("dev", role="EventsReplayRole")
    with pytest.raises(StageError, match="no output 'FailedBatchBucketName'"):
        resolve("dev", role="EventsRedriveRole").output("FailedBatchBucketName")


def test_a_stage_samconfig_does_not_know_is_named_with_the_known_ones():
    assert samconfig_stack("prod") == ("order-service-prod", "us-east-1")
    with pytest.raises(StageError, match=r"no stage 'qa' in samconfig.toml \(known: default, dev, prod\)"):
        samconfig_stack("qa")


def test_a_stack_that_does_not_exist_is_a_plain_error():
    with mock_aws(), pytest.raises(StageError, match="cannot describe stack order-service-prod"):
        resolve("prod", role="EventsRedriveRole")


def test_no_local_stack_answering_says_how_to_start_one():
    with pytest.raises(StageError, match="start it with `make dev`"):
        resolve("local", role="EventsRedriveRole", local_url="http://127.0.0.1:9")
