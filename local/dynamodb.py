"""DynamoDB for the local stack: moto's server in this process on a free loopback port, or any
DynamoDB-compatible endpoint named by `DYNAMODB_ENDPOINT` (DynamoDB Local, LocalStack, ...). Tables are
created from template.yaml's definitions (`local.template.create_table_request`)."""

from __future__ import annotations

import logging
from typing import Any

from local.model import FAKE_CREDENTIALS, REGION
from local.template import create_table_request, resources_of_type


class EmbeddedDynamoDB:
    """moto's ThreadedMotoServer (every moto service, DynamoDB and its streams included)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # moto's server logs every request through werkzeug's logger.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint: str | None = None

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        self._server.stop()


def client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


def ensure_tables(endpoint: str, template: dict[str, Any], physical_ids: dict[str, str]) -> list[str]:
    """Create every table of the template that is not there yet; their local names, in template order."""
    dynamodb = client(endpoint)
    existing = set(dynamodb.list_tables().get("TableNames", []))
    names = []
    for logical_id in resources_of_type(template, "AWS::DynamoDB::Table"):
        name = physical_ids[logical_id]
        if name not in existing:
            dynamodb.create_table(**create_table_request(name, logical_id, template))
            dynamodb.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
            )
        names.append(name)
    return names
