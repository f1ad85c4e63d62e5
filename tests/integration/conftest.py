import boto3
import pytest
from moto import mock_aws

from local.template import create_table_request
from tests.conftest import TEST_ENV
from tests.support.lambda_runtime import reset_process_state


@pytest.fixture
def table():
    """A fresh moto DynamoDB table built from template.yaml's definition, and cold process state."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=TEST_ENV["AWS_DEFAULT_REGION"])
        client.create_table(**create_table_request(TEST_ENV["TABLE_NAME"]))
        reset_process_state()
        yield client
        reset_process_state()
