"""The local stack's Lambda and API Gateway emulation, driven over HTTP with a fixture template
(tests/e2e/fixtures/template.yaml): the event a function receives, how its return value becomes a
response, and what happens when it raises, dies or runs past its Timeout."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from werkzeug.serving import make_server

from local.common.net import bind
from local.front.server import LocalStack, RequestHandler
from local.template import load_template
from local.template.model import stack_model
from tests.e2e.harness import ROOT, alive, http_request

pytestmark = pytest.mark.e2e

FIXTURES = ROOT / "tests" / "e2e" / "fixtures"


class InThreadStack:
    """LocalStack behind a real HTTP server on a free port, in a thread of the test process."""

    def __init__(self) -> None:
        listener = bind("127.0.0.1", 0)
        self.port = listener.getsockname()[1]
        model = stack_model(
            {"DYNAMODB_ENDPOINT": "http://127.0.0.1:9"},
            load_template(FIXTURES / "template.yaml"),
            base_dir=FIXTURES,
        )
        self.app = LocalStack(model, f"http://localhost:{self.port}", self.port)
        self.server = make_server(
            "127.0.0.1",
            self.port,
            self.app,
            threaded=True,
            request_handler=RequestHandler,
            fd=listener.fileno(),
        )
        listener.close()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def request(self, method, path, **kwargs):
        return http_request(self.port, method, path, **kwargs)

    def pids(self, function: str) -> list[int]:
        return self.app.pools[function].pids()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.app.close()


@pytest.fixture(scope="module")
def fixture_stack(keys_dir):
    running = InThreadStack()
    yield running
    running.close()


def echo(stack, method, path, **kwargs):
    reply = stack.request(method, path, **kwargs)
    assert reply.status == 200, reply.text
    return reply, json.loads(reply.raw)


def test_event_is_payload_format_2(fixture_stack):
    reply, event = echo(
        fixture_stack,
        "GET",
        "/echo/hello%20world?a=1&a=2&b=x%2Fy&empty=",
        headers={"X-Custom": "v", "Cookie": "c1=1; c2=2", "User-Agent": "tests/1"},
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /echo/{name}"
    assert event["rawPath"] == "/echo/hello%20world"
    assert event["rawQueryString"] == "a=1&a=2&b=x%2Fy&empty="
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x/y", "empty": ""}
    assert event["pathParameters"] == {"name": "hello world"}
    assert event["cookies"] == ["c1=1", "c2=2"]
    headers = event["headers"]
    assert headers["x-custom"] == "v" and "cookie" not in headers
    assert all(name == name.lower() for name in headers)
    assert headers["x-forwarded-port"] == str(fixture_stack.port) and headers["x-forwarded-proto"] == "http"
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/echo/hello world",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests/1",
    }
    assert context["stage"] == "$default" and context["routeKey"] == "ANY /echo/{name}"
    assert context["requestId"] == reply.headers["Apigw-Requestid"]
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60
    assert "authorizer" not in context
    assert event["isBase64Encoded"] is False and "body" not in event


def test_bodies_text_or_base64(fixture_stack):
    _, event = echo(
        fixture_stack, "POST", "/echo/x", body='{"a": 1}', headers={"Content-Type": "application/json"}
    )
    assert event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False
    raw = b"\x00\x01\xfe\xff"
    _, event = echo(
        fixture_stack, "PUT", "/echo/x", body=raw, headers={"Content-Type": "application/octet-stream"}
    )
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw
    assert event["requestContext"]["http"]["method"] == "PUT"


def test_path_parameters_are_decoded_once(fixture_stack):
    _, event = echo(fixture_stack, "GET", "/echo/a%2Fb%2541")
    assert event["pathParameters"] == {"name": "a/b%41"}
    assert event["rawPath"] == "/echo/a%2Fb%2541"


def test_greedy_path_parameter(fixture_stack):
    _, event = echo(fixture_stack, "GET", "/files/a/b/c.txt")
    assert event["routeKey"] == "GET /files/{path+}"
    assert event["pathParameters"] == {"path": "a/b/c.txt"}


def test_jwt_claims_and_scopes_reach_the_function(fixture_stack, mint):
    assert fixture_stack.request("GET", "/secured").status == 401
    _, event = echo(fixture_stack, "GET", "/secured", token=mint("ops-1", admin=True))
    jwt = event["requestContext"]["authorizer"]["jwt"]
    assert jwt["claims"]["sub"] == "ops-1"
    assert jwt["claims"]["cognito:groups"] == "[admin]"
    assert all(isinstance(value, str) for value in jwt["claims"].values())
    assert jwt["scopes"] is None

    refused = fixture_stack.request("GET", "/scoped", token=mint("u-1"))
    assert refused.status == 403 and refused.json() == {"message": "Forbidden"}
    _, event = echo(fixture_stack, "GET", "/scoped", token=mint("u-1", scopes=["things/read"]))
    assert event["requestContext"]["authorizer"]["jwt"]["scopes"] == ["things/read"]


def test_response_mapping(fixture_stack):
    bare = fixture_stack.request("GET", "/boom/bare")
    assert bare.status == 200 and bare.headers["Content-Type"] == "application/json"
    assert bare.json() == {"hello": "world"}
    assert fixture_stack.request("GET", "/boom/string").json() == "just text"

    binary = fixture_stack.request("GET", "/boom/binary")
    assert binary.status == 200 and binary.raw == b"\x89PNG\x00\xff"
    assert binary.headers["Content-Type"] == "image/png"

    cookies = fixture_stack.request("GET", "/boom/cookies")
    assert cookies.status == 204
    assert cookies.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert cookies.headers["x-one"] == "1" and cookies.headers.get_all("x-many") == ["m1", "m2"]

    malformed = fixture_stack.request("GET", "/boom/bad-status")
    assert malformed.status == 500 and malformed.json() == {"message": "Internal Server Error"}
    assert fixture_stack.request("GET", "/nowhere").json() == {"message": "Not Found"}


def test_handler_that_raises_is_500_and_keeps_its_worker(fixture_stack):
    pid = int(fixture_stack.request("GET", "/boom/pid").text)
    reply = fixture_stack.request("GET", "/boom/raise")
    assert reply.status == 500 and reply.json() == {"message": "Internal Server Error"}
    assert int(fixture_stack.request("GET", "/boom/pid").text) == pid


def test_worker_that_dies_is_500_and_replaced(fixture_stack):
    pid = int(fixture_stack.request("GET", "/boom/pid").text)
    assert fixture_stack.request("GET", "/boom/exit").json() == {"message": "Internal Server Error"}
    assert not alive(pid)
    assert int(fixture_stack.request("GET", "/boom/pid").text) != pid


def test_timeout_is_503_and_the_worker_is_replaced(fixture_stack):
    started = time.monotonic()
    reply = fixture_stack.request("GET", "/slow")
    elapsed = time.monotonic() - started
    assert reply.status == 503 and reply.json() == {"message": "Service Unavailable"}
    assert 1.0 <= elapsed < 3.0  # the function's Timeout is 1 s
    assert fixture_stack.pids("SlowFunction") == []


def test_module_state_context_and_isolation(fixture_stack):
    first = fixture_stack.request("GET", "/state").json()
    second = fixture_stack.request("GET", "/state").json()
    assert second["pid"] == first["pid"] and second["invocations"] == first["invocations"] + 1
    assert 6000 < first["remaining_ms"] <= 7000  # Timeout: 7
    assert first["request_id"] != second["request_id"]
    assert first["function_name"] == "StateFunction" and first["memory"] == 128
    code_uri = str(FIXTURES / "functions" / "state")
    assert first["sys_path"][0] == code_uri and first["cwd"] == code_uri
    assert str(ROOT) not in first["sys_path"] and not first["local_importable"]
    assert first["sys_path"][-1].endswith("site-packages")
    assert first["env"]["GREETING"] == "hello" and first["env"]["TABLE_NAME"] == "Table"
    assert first["env"]["DYNAMODB_ENDPOINT"] == "http://127.0.0.1:9"
    assert first["env"]["LOCAL_KEYS_DIR"] is None and first["env"]["PYTEST_CURRENT_TEST"] is None
    assert fixture_stack.pids("StateFunction") == [first["pid"]]
    assert first["pid"] not in fixture_stack.pids("EchoFunction")
