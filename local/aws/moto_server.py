"""AWS for the local stack: moto's server in this process (DynamoDB with its streams, EventBridge, SQS, S3 and
every other moto service) on a loopback port, and the template's tables, queues, buckets, event buses and
their archives in it.
DynamoDB may instead be any DynamoDB-compatible endpoint named by `DYNAMODB_ENDPOINT` (DynamoDB Local,
LocalStack, ...); tables are created from template.yaml's definitions (`local.template.create_table_request`).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import types
from collections.abc import Callable
from datetime import datetime
from typing import Any

from local.aws.faults import install_fault_injection
from local.common.net import bind
from local.template import TemplateError, create_table_request, resources_of_type
from local.template.model import ACCOUNT, FAKE_CREDENTIALS, REGION, LocalResources

_atomic_lock = threading.Lock()
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit


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


def transactions_without_table_copies() -> None:
    """moto's TransactWriteItems deep-copies every table it names before writing, to roll back on failure: its
    cost grows with the table (~0.3 ms per item, 360 ms at 1,000 items), where DynamoDB's does not. Here each
    item's condition is evaluated first and the transaction is cancelled (the same CancellationReasons, nothing
    written) if one fails; else the items are written, and only they are copied beforehand, to undo them if a
    write fails (moto's own then runs, and answers as it does). A request moto itself would refuse before
    writing (too many items, one item twice, an unknown operation) goes to moto's own."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import ConditionalCheckFailed, TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.transact_write_items, "without_copies", False):
        return
    copying = DynamoDBBackend.transact_write_items
    operations = ("ConditionCheck", "Put", "Delete", "Update")

    def targets(
        backend: Any, transact_items: list[dict[str, Any]]
    ) -> list[tuple[str, dict[str, Any], Any]] | None:
        """(operation, its parameters, the table) for each item; None where moto's own should answer."""
        if len(transact_items) > MAX_TRANSACTION_ITEMS:
            return None
        found, keys = [], set()
        for entry in transact_items:
            if len(entry) != 1:
                return None
            ((kind, operation),) = entry.items()
            table = backend.tables.get(operation.get("TableName"))
            if kind not in operations or table is None:
                return None
            key = _item_key(table, operation["Item"] if kind == "Put" else operation["Key"])
            if key is None or (table.name, json.dumps(key, sort_keys=True)) in keys:
                return None
            keys.add((table.name, json.dumps(key, sort_keys=True)))
            found.append((kind, operation, table))
        return found

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        items = targets(self, transact_items)
        if items is None:
            return copying(self, transact_items)
        reasons: list[Any] = []
        for _, operation, table in items:
            current = table.get_item(*_key_values(table, operation.get("Item") or operation["Key"]))
            condition = operation.get("ConditionExpression")
            names = operation.get("ExpressionAttributeNames")
            values = operation.get("ExpressionAttributeValues")
            if condition is None or get_filter_expression(condition, names, values).expr(current):
                reasons.append((None, None, None))
                continue
            old = None
            if operation.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
                old = current.to_json()["Attributes"]
            reasons.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
        if any(code is not None for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        written: list[tuple[Any, tuple[Any, Any], Any]] = []
        streams = {table.name: len(table.stream_shard.items) for _, _, table in items if table.stream_shard}
        try:
            for kind, operation, table in items:
                key = _key_values(table, operation.get("Item") or operation["Key"])
                written.append((table, key, copy.deepcopy(table.get_item(*key))))
                if kind == "Put":
                    table.put_item(operation["Item"], overwrite=True)
                elif kind == "Delete":
                    table.delete_item(*key)
                elif kind == "Update":
                    self.update_item(
                        table.name,
                        operation["Key"],
                        update_expression=operation["UpdateExpression"],
                        expression_attribute_names=operation.get("ExpressionAttributeNames"),
                        expression_attribute_values=operation.get("ExpressionAttributeValues"),
                    )
        except Exception:  # noqa: BLE001 - undone, then moto's own answers whatever failed
            for table, (hash_value, range_value), before in reversed(written):
                _restore(table, hash_value, range_value, before)
            for table_name, length in streams.items():
                del self.tables[table_name].stream_shard.items[length:]
            return copying(self, transact_items)
        return None

    transact_write_items.without_copies = True  # type: ignore[attr-defined]
    transact_write_items.copying = copying  # type: ignore[attr-defined]  # moto's own, for tests
    DynamoDBBackend.transact_write_items = transact_write_items


def _item_key(table: Any, attributes: dict[str, Any]) -> dict[str, Any] | None:
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: attributes[name] for name in names} if all(name in attributes for name in names) else None


def _key_values(table: Any, attributes: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(attributes[table.hash_key_attr])
    return hash_value, DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None


def _restore(table: Any, hash_value: Any, range_value: Any, before: Any) -> None:
    """Put an item back as it was (None: absent), without a stream record."""
    if range_value is None:
        if before is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = before
    elif before is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = before


def _epoch(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(value)).timestamp()
        except ValueError:
            return None


def replay_only_the_window() -> None:
    """moto's StartReplay sends every archived event back to the bus, whatever the replay's window; AWS
    sends those whose time lies between EventStartTime and EventEndTime. moto still replays at once (the
    replay is COMPLETED when StartReplay answers), to every rule of the bus (Destination.FilterArns is
    not read)."""
    from moto.events.models import Replay

    if getattr(Replay.replay_events, "windowed", False):
        return
    replay_all = Replay.replay_events

    def replay_events(self: Any, archive: Any) -> None:
        start, end = _epoch(self.event_start_time), _epoch(self.event_end_time)

        def inside(event: dict[str, Any]) -> bool:
            when = _epoch(event.get("time"))
            return when is None or ((start is None or when >= start) and (end is None or when <= end))

        replay_all(self, types.SimpleNamespace(events=[e for e in list(archive.events) if inside(e)]))

    replay_events.windowed = True  # type: ignore[attr-defined]
    Replay.replay_events = replay_events


def without_moto_api(app: Any) -> Any:
    """The WSGI app, refusing moto's own control API (`/moto-api/*`: its data.json holds every IAM user's keys,
    the stack admin's included, and its reset wipes the IAM the stack enforces). Every function reaches this
    server (its AWS endpoint); AWS has no such door, so the local stack has none either."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            body = b'{"message": "moto\'s control API is closed in the local stack"}'
            start_response(
                "403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return app(environ, start_response)

    return guarded


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
        transactions_without_table_copies()
        replay_only_the_window()
        install_fault_injection()
        listener = bind(self._host, self._port)
        try:
            port = listener.getsockname()[1]
            self._server = make_server(
                self._host,
                port,
                without_moto_api(DomainDispatcherApplication(create_backend_app)),
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
    """The credentials of the stack's own calls from now on (the admin user `local.aws.iam` creates when IAM
    is enforced; moto refuses the placeholder ones then)."""
    _stack_credentials.clear()
    _stack_credentials.update(credentials)


def stack_credentials() -> dict[str, str]:
    """The stack's own credentials (AWS_* names): the admin user's under IAM, else the placeholders."""
    return dict(_stack_credentials)


def aws_client(
    service: str,
    endpoint: str,
    credentials: dict[str, str] | Callable[[], Any] | None = None,
) -> Any:
    """A boto3 client for `endpoint`: with the stack's credentials, given ones (AWS_* names), or a
    provider of `local.aws.iam.RoleCredentials` (refreshed by botocore before they expire)."""
    import boto3
    import botocore.session
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
    if service == "s3":
        # A loopback endpoint has no DNS for `<bucket>.127.0.0.1`: the bucket goes in the path.
        config = config.merge(Config(s3={"addressing_style": "path"}))
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


def ensure_buckets(endpoint: str, resources: LocalResources) -> dict[str, str]:
    """Create the template's S3 buckets (their local names: `local.template.model.s3_bucket_name`) with the
    encryption, versioning and public access block the template gives them; bucket ARN → name. Their
    bucket policies are not applied (a policy such as "deny without TLS" would refuse every local call,
    all plain HTTP); lifecycle rules are not applied (nothing local lives that long)."""
    s3 = aws_client("s3", endpoint)
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    buckets = {}
    for logical_id, resource in resources_of_type(resources.template, "AWS::S3::Bucket").items():
        name = resources.physical_ids[logical_id]
        properties = resources.resolve_for(logical_id, resource.get("Properties") or {})
        try:
            if name not in existing:
                s3.create_bucket(Bucket=name)
            if encryption := properties.get("BucketEncryption"):
                s3.put_bucket_encryption(
                    Bucket=name, ServerSideEncryptionConfiguration=_encryption(encryption)
                )
            if (properties.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            if block := properties.get("PublicAccessBlockConfiguration"):
                s3.put_public_access_block(
                    Bucket=name,
                    PublicAccessBlockConfiguration={key: bool(value) for key, value in block.items()},
                )
        except Exception as error:  # noqa: BLE001
            raise TemplateError(f"{logical_id}: cannot create the bucket locally: {_reason(error)}") from None
        buckets[resources.attributes[(logical_id, "Arn")]] = name
    return buckets


def _encryption(encryption: dict[str, Any]) -> dict[str, Any]:
    rules = []
    for rule in encryption.get("ServerSideEncryptionConfiguration") or []:
        default = dict(rule.get("ServerSideEncryptionByDefault") or {})
        entry: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
        if "BucketKeyEnabled" in rule:
            entry["BucketKeyEnabled"] = bool(rule["BucketKeyEnabled"])
        rules.append(entry)
    return {"Rules": rules}


def ensure_archives(endpoint: str, resources: LocalResources) -> dict[str, str]:
    """Create the template's EventBridge archives on their buses (after `ensure_event_buses`), so that
    events put to a bus are archived and StartReplay works; archive ARN → name."""
    events = aws_client("events", endpoint)
    archives = {}
    for logical_id, resource in resources_of_type(resources.template, "AWS::Events::Archive").items():
        name = resources.physical_ids[logical_id]
        properties = resources.resolve_for(logical_id, resource.get("Properties") or {})
        request: dict[str, Any] = {"ArchiveName": name, "EventSourceArn": str(properties.get("SourceArn"))}
        if properties.get("Description"):
            request["Description"] = str(properties["Description"])
        if properties.get("EventPattern") is not None:
            pattern = properties["EventPattern"]
            request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if properties.get("RetentionDays") is not None:
            request["RetentionDays"] = int(properties["RetentionDays"])
        try:
            events.describe_archive(ArchiveName=name)
        except Exception:  # noqa: BLE001 - not there yet
            try:
                events.create_archive(**request)
            except Exception as error:  # noqa: BLE001
                raise TemplateError(
                    f"{logical_id}: cannot create the archive locally: {_reason(error)}"
                ) from None
        archives[resources.attributes[(logical_id, "Arn")]] = name
    return archives
