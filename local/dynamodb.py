"""AWS for the local stack: moto's server in this process (DynamoDB with its streams, EventBridge, SQS and
every other moto service) on a loopback port, and the template's tables, queues and event buses in it.
DynamoDB may instead be any DynamoDB-compatible endpoint named by `DYNAMODB_ENDPOINT` (DynamoDB Local,
LocalStack, ...); tables are created from template.yaml's definitions (`local.template.create_table_request`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from local.model import ACCOUNT, FAKE_CREDENTIALS, REGION, LocalResources
from local.net import bind
from local.template import TemplateError, create_table_request, resources_of_type

_atomic_lock = threading.Lock()


def make_dynamodb_atomic() -> None:
    """One lock around each DynamoDB request moto serves. moto evaluates a ConditionExpression and then
    writes with no lock, so racing conditional writes could both win; DynamoDB makes each single-item
    write with its condition atomic. A read-then-write done as two requests still races, as on AWS."""
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "atomic", False):
        return
    unlocked = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _atomic_lock:
            return unlocked(self)

    call_action.atomic = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action


class EmbeddedAws:
    """moto's server on `host:port` (0: a free port), in a thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # moto's server logs every request through werkzeug's logger.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.endpoint: str | None = None

    def start(self) -> str:
        """Listen (OSError if the port is taken) and serve; the endpoint URL."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        make_dynamodb_atomic()
        listener = bind(self._host, self._port)
        try:
            port = listener.getsockname()[1]
            self._server = make_server(
                self._host,
                port,
                DomainDispatcherApplication(create_backend_app),
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # the server holds its own duplicate
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="moto", daemon=True
        )
        self._thread.start()
        shown = "127.0.0.1" if self._host in ("0.0.0.0", "::") else self._host
        self.endpoint = f"http://{shown}:{port}"
        return self.endpoint

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @staticmethod
    def forget_shard_iterator(iterator: str) -> None:
        """moto keeps every shard iterator it ever handed out (one per GetRecords call): forget one the
        poller has moved past, or a stack polling all day grows by tens of megabytes an hour."""
        try:
            from moto.dynamodbstreams.models import dynamodbstreams_backends

            dynamodbstreams_backends[ACCOUNT][REGION].shard_iterators.pop(iterator, None)
        except Exception:  # noqa: BLE001, S110 - housekeeping only
            pass


EmbeddedDynamoDB = EmbeddedAws  # its former name


_stack_credentials: dict[str, str] = dict(FAKE_CREDENTIALS)


def use_stack_credentials(credentials: dict[str, str]) -> None:
    """The credentials of the stack's own calls from now on (the admin user `local.iam` creates when IAM
    is enforced; moto refuses the placeholder ones then)."""
    _stack_credentials.clear()
    _stack_credentials.update(credentials)


def aws_client(
    service: str,
    endpoint: str,
    credentials: dict[str, str] | Callable[[], Any] | None = None,
) -> Any:
    """A boto3 client for `endpoint`: with the stack's credentials, given ones (AWS_* names), or a
    provider of `local.iam.RoleCredentials` (refreshed by botocore before they expire)."""
    import boto3
    import botocore.session
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
    if callable(credentials):
        session = botocore.session.Session()
        session.get_component("credential_provider").insert_before("env", _RoleProvider(credentials))
        return boto3.session.Session(botocore_session=session, region_name=REGION).client(
            service, endpoint_url=endpoint, config=config
        )
    given = credentials or _stack_credentials
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=given["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=given["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=given.get("AWS_SESSION_TOKEN"),
        config=config,
    )


class _RoleProvider:
    """botocore credential provider: a role's credentials, fetched again shortly before they expire."""

    METHOD = "local-assume-role"
    CANONICAL_NAME = "LocalAssumeRole"

    def __init__(self, fetch: Callable[[], Any]) -> None:
        self._fetch = fetch

    def load(self) -> Any:
        from botocore.credentials import RefreshableCredentials

        return RefreshableCredentials.create_from_metadata(
            metadata=self._fetch().botocore_metadata(),
            refresh_using=lambda: self._fetch().botocore_metadata(),
            method=self.METHOD,
        )


def client(endpoint: str) -> Any:
    return aws_client("dynamodb", endpoint)


def _reason(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return f"{response['Error'].get('Code')}: {response['Error'].get('Message')}"
    return str(error)


def ensure_tables(endpoint: str, template: dict[str, Any], physical_ids: dict[str, str]) -> list[str]:
    """Create every table of the template that is not there yet; their local names, in template order."""
    dynamodb = client(endpoint)
    existing = set(dynamodb.list_tables().get("TableNames", []))
    names = []
    for logical_id in resources_of_type(template, "AWS::DynamoDB::Table"):
        name = physical_ids[logical_id]
        if name not in existing:
            try:
                request = create_table_request(name, logical_id, template)
            except (KeyError, TypeError) as error:
                raise TemplateError(f"{logical_id}: cannot read the table's definition ({error!r})") from None
            try:
                dynamodb.create_table(**request)
            except Exception as error:  # noqa: BLE001 - botocore's ClientError / ParamValidationError
                raise TemplateError(
                    f"{logical_id}: cannot create the table locally: {_reason(error)}"
                ) from None
            dynamodb.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
            )
        names.append(name)
    return names


def ensure_queues(endpoint: str, resources: LocalResources) -> dict[str, str]:
    """Create the template's SQS queues; queue ARN (as the template names it) → local queue URL."""
    sqs = aws_client("sqs", endpoint)
    queues = {}
    for logical_id, resource in resources_of_type(resources.template, "AWS::SQS::Queue").items():
        name = resources.attributes[(logical_id, "QueueName")]
        attributes = {}
        if (resource.get("Properties") or {}).get("FifoQueue") in (True, "true"):
            attributes["FifoQueue"] = "true"
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except Exception as error:  # noqa: BLE001
            raise TemplateError(f"{logical_id}: cannot create the queue locally: {_reason(error)}") from None
        queues[resources.attributes[(logical_id, "Arn")]] = url
    return queues


def ensure_event_buses(endpoint: str, resources: LocalResources) -> list[str]:
    """Create the template's EventBridge buses (named as the template names them); their names, and
    `default`, which always exists."""
    events = aws_client("events", endpoint)
    existing = {bus["Name"] for bus in events.list_event_buses().get("EventBuses", [])}
    names = ["default"]
    for logical_id in resources_of_type(resources.template, "AWS::Events::EventBus"):
        name = resources.physical_ids[logical_id]
        if name not in existing:
            try:
                events.create_event_bus(Name=name)
            except Exception as error:  # noqa: BLE001
                raise TemplateError(
                    f"{logical_id}: cannot create the event bus locally: {_reason(error)}"
                ) from None
        if name not in names:
            names.append(name)
    return names
