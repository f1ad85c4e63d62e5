"""`python -m local services` (make services): the embedded services without the API, and the env-vars
file for `sam local start-api` (no Docker here: the file is checked against the template and the running
services, not used by sam)."""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

from local.aws import auth
from local.front.services import DOCKER_HOST, env_vars_file, for_container, service_variables
from local.template import ROOT, function_properties, load_template, resources_of_type
from tests.e2e.harness import RunningStack, alive, aws_client, descendants, free_port, wait_for

pytestmark = pytest.mark.e2e

ENDPOINT_VARIABLES = (
    "DYNAMODB_ENDPOINT",
    "EVENTS_ENDPOINT",
    "USERS_API_URL",
    "INVENTORY_API_URL",
    "SAM_LOCAL_JWKS_URL",
)


@pytest.fixture(scope="module")
def services(keys_dir, tmp_path_factory):
    """The services on free ports, bound to loopback by default and named by 127.0.0.1."""
    folder = tmp_path_factory.mktemp("services")
    env_file = folder / "local-env.json"
    running = RunningStack(
        free_port(),
        keys_dir,
        folder / "services.log",
        ("services", "--env-file", str(env_file)),
        env={
            "LOCAL_SERVICES_PORT": "0",
            "LOCAL_SERVICES_HOST": "127.0.0.1",
            # LOCAL_SERVICES_BIND unset: the default (loopback) is what this module runs against.
        },
    )
    try:
        started = time.monotonic()
        content = wait_for(
            lambda: running.process.poll() is None and env_file.exists() and json.loads(env_file.read_text()),
            timeout=30,
        )
        running.port = urlsplit(content["HealthFunction"]["SAM_LOCAL_JWKS_URL"]).port
        running.wait_ready()
        running.env_file_content = content
        running.sam_template = folder / "sam-local" / "template.json"
        running.startup_seconds = time.monotonic() - started
        yield running
    finally:
        running.stop()


def test_the_services_listen_on_loopback_unless_told_otherwise(services):
    # First in the module: a later test stops the services.
    """They hold the stack's IAM and data and answer without authentication: nothing beyond this machine may
    reach them by default (issue 23); sam local on Linux names the Docker bridge's address instead."""
    from local.front.services import default_bind

    assert ipaddress.ip_address(default_bind()).is_loopback
    tcp = Path("/proc/net/tcp")
    if tcp.exists():  # Linux: every listening socket of the control, AWS and stubs ports is on 127.0.0.1
        ports = {services.port} | {
            urlsplit(services.env_file_content["HealthFunction"][name]).port
            for name in ("DYNAMODB_ENDPOINT", "USERS_API_URL")
        }
        listening = [line.split()[1] for line in tcp.read_text().splitlines()[1:] if line.split()[3] == "0A"]
        addresses = {int(local.split(":")[1], 16): local.split(":")[0] for local in listening}
        assert {port: addresses.get(port) for port in ports} == dict.fromkeys(ports, "0100007F")


def test_services_write_the_sam_local_template_with_the_auth_layer(services):
    """`sam build --template-file .aws-sam/sam-local/template.json`: template.yaml plus the SamLocalAuth
    layer for every function (the functions verify tokens under sam local); template.yaml has none."""
    derived = json.loads(services.sam_template.read_text())
    template = load_template()
    assert set(derived["Resources"]) == set(template["Resources"]) | {"SamLocalAuthLayer"}
    assert derived["Globals"]["Function"]["Layers"][-1] == {"Ref": "SamLocalAuthLayer"}
    assert {"Ref": "SamLocalAuthLayer"} not in template["Globals"]["Function"]["Layers"]
    layer_dir = Path(derived["Resources"]["SamLocalAuthLayer"]["Properties"]["ContentUri"])
    assert (layer_dir / "Makefile").is_file() and (layer_dir / "python/sam_local_auth/__init__.py").is_file()


def test_env_file_covers_every_function_and_every_declared_variable(services):
    content = services.env_file_content
    template = load_template()
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert set(content) == set(functions)
    for logical_id in functions:
        declared = (function_properties(template, logical_id).get("Environment") or {}).get("Variables") or {}
        assert set(declared) | set(ENDPOINT_VARIABLES) <= set(content[logical_id]), logical_id
        assert all(isinstance(value, str) for value in content[logical_id].values())
        # Globals, resolved as the stack resolves them.
        assert content[logical_id]["TABLE_NAME"] == "OrdersTable"
        assert content[logical_id]["POWERTOOLS_SERVICE_NAME"] == "orders"
        assert (content[logical_id]["CURRENCY"], content[logical_id]["STAGE"]) == ("USD", "dev")
    assert content["OrderEventsFunction"]["EVENT_BUS_NAME"] == "orders-dev"
    listing = content["ListUserOrdersFunction"]
    assert (
        listing["CURSOR_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
        and len(listing["CURSOR_SECRET"]) >= 32
    )
    assert content["HealthFunction"]["SAM_LOCAL_JWT_ISSUER"] == auth.ISSUER


def test_endpoints_point_at_the_running_services(services):
    variables = services.env_file_content["CreateOrderFunction"]
    for name in ENDPOINT_VARIABLES:
        assert variables[name].startswith("http://127.0.0.1:"), (name, variables[name])
    assert "OrdersTable" in aws_client("dynamodb", variables["DYNAMODB_ENDPOINT"]).list_tables()["TableNames"]
    buses = aws_client("events", variables["EVENTS_ENDPOINT"]).list_event_buses()["EventBuses"]
    assert "orders-dev" in {bus["Name"] for bus in buses}
    with urlopen(f"{variables['USERS_API_URL']}/api/users/user-123", timeout=5) as reply:
        assert json.load(reply)["status"] == "active"
    with urlopen(variables["SAM_LOCAL_JWKS_URL"], timeout=5) as reply:
        assert [key["kid"] for key in json.load(reply)["keys"]] == [auth.signing_key().kid]
    # No API here (sam local serves it).
    assert services.request("GET", "/health").status == 404
    assert services.startup_seconds < 15


def test_the_stream_consumer_runs_with_the_services(services):
    """A write by a function under sam local (here: straight to DynamoDB) reaches the bus."""
    from boto3.dynamodb.types import TypeSerializer

    order_id = str(uuid.uuid4())
    at = "2026-11-25T20:00:01.000Z"
    item = {
        "PK": f"ORDER#{order_id}", "SK": "ORDER", "entityType": "order", "id": order_id, "userId": "user-123",
        "status": "pending", "version": 1, "total": Decimal("59.98"), "currency": "USD",
        "statusHistory": [{"status": "pending", "at": at, "by": "user-123"}], "createdAt": at, "updatedAt": at,
    }  # fmt: skip
    serializer = TypeSerializer()
    endpoint = services.env_file_content["CreateOrderFunction"]["DYNAMODB_ENDPOINT"]
    aws_client("dynamodb", endpoint).put_item(
        TableName="OrdersTable", Item={name: serializer.serialize(value) for name, value in item.items()}
    )
    events = wait_for(
        lambda: [
            event
            for event in services.request("GET", "/_local/events").json()
            if event["detail"].get("orderId") == order_id
        ]
    )
    assert [event["detail-type"] for event in events] == ["OrderCreated"]
    assert "sam local start-api --env-vars" in services.log


def test_ctrl_c_stops_the_services(services):
    children = descendants(services.process.pid)
    assert children  # the stream consumer's worker
    assert services.stop() == 0, services.log
    assert [pid for pid in children if alive(pid)] == []
    assert "Stopped." in services.log


def test_container_host_names():
    assert for_container("http://127.0.0.1:3101", DOCKER_HOST) == "http://host.docker.internal:3101"
    assert (
        for_container("http://localhost:8000/x", "docker.for.mac.localhost")
        == "http://docker.for.mac.localhost:8000/x"
    )
    assert for_container("https://users.example.com/api", DOCKER_HOST) == "https://users.example.com/api"
    running = SimpleNamespace(
        dynamodb_endpoint="http://127.0.0.1:3101",
        aws_endpoint="http://127.0.0.1:3101",
        upstream={
            "USERS_API_URL": "http://127.0.0.1:3102",
            "INVENTORY_API_URL": "https://inventory.example.com",
        },
    )
    variables = service_variables(running, "http://127.0.0.1:3100", DOCKER_HOST)
    assert (
        variables["DYNAMODB_ENDPOINT"] == variables["EVENTS_ENDPOINT"] == "http://host.docker.internal:3101"
    )
    assert variables["USERS_API_URL"] == "http://host.docker.internal:3102"
    assert variables["INVENTORY_API_URL"] == "https://inventory.example.com"  # external: as given
    assert variables["SAM_LOCAL_JWKS_URL"] == "http://host.docker.internal:3100/.well-known/jwks.json"
    content = env_vars_file(load_template(), ROOT, variables)
    assert {values["DYNAMODB_ENDPOINT"] for values in content.values()} == {
        "http://host.docker.internal:3101"
    }
