"""What the benchmark runs against, all on loopback: moto's server (DynamoDB, EventBridge) in a process of
its own, the user and inventory stubs, an X-Ray daemon stand-in, and each function's Lambda-like
environment built from template.yaml (through the local stack's template model, never retyped)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from bench.workers import WorkerSpec
from local.aws.moto_server import aws_client

ROOT = Path(__file__).resolve().parent.parent
BASELINE_ROOT = Path(__file__).resolve().parent / "baseline"
LAYER_PATH = ROOT / "layers" / "orders" / "python"
# Function folder -> what it serves, in the order the tables print.
FUNCTIONS = ("health", "get_order", "list_user_orders", "create_order", "update_order_status", "order_events")

# What each function is built on (README's packages), imported and nothing more. Tracing is no library:
# orders.tracing records spans and writes OTLP itself (the tracing row measures what that costs).
_OBSERVABILITY = (
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
)
# The API functions answer through orders.http.routes: Powertools' resolver is built only for the OpenAPI
# document and for a request the router leaves to it, never on a valid request's path.
_RESOLVER: tuple[str, ...] = ()
# Create validates its body with pydantic models. A status change reads its body without pydantic
# (orders.domain.bodies; tests/unit/test_lean_functions.py), and the listing's parameters need none.
_VALIDATION = ("pydantic.main", "pydantic.types")
LIBRARY_IMPORTS = {
    "get_order": _OBSERVABILITY + _RESOLVER,
    "list_user_orders": _OBSERVABILITY + _RESOLVER,
    "update_order_status": _OBSERVABILITY + _RESOLVER,
    "create_order": _OBSERVABILITY + _RESOLVER + _VALIDATION,
    # The consumer decodes stream images with Powertools' deserialiser (orders.events.batch), not its batch utility.
    "order_events": (*_OBSERVABILITY, "aws_lambda_powertools.shared.dynamodb_deserializer"),
}
ENDPOINTS = {
    "health": "GET /health",
    "get_order": "GET /api/orders/{id}",
    "list_user_orders": "GET /api/users/{userId}/orders",
    "create_order": "POST /api/orders",
    "update_order_status": "PATCH /api/orders/{id}/status",
    "order_events": "stream -> EventBridge",
}
CURSOR_SECRET_FALLBACK = "bench-cursor-secret-0123456789abcdef"

_MOTO_SOURCE = """
import logging, os, sys, time
logging.getLogger("werkzeug").setLevel(logging.WARNING)
from moto.server import ThreadedMotoServer
# The keyed-latency row's network: every DynamoDB request waits this long before moto serves it.
delay = float(os.environ.get("BENCH_DYNAMODB_DELAY_MS") or 0) / 1000
if delay:
    from moto.dynamodb.responses import DynamoHandler
    served = DynamoHandler.call_action
    def call_action(self):
        time.sleep(delay)
        return served(self)
    DynamoHandler.call_action = call_action
# As the local stack's moto: TransactWriteItems costs no copy of the whole table (DynamoDB's cost does not
# grow with the table; moto's deep copy did, ~0.3 ms per item).
from local.aws.moto_server import transactions_without_table_copies
transactions_without_table_copies()
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()
server.stop()
"""


class MotoProcess:
    """moto's ThreadedMotoServer in a process of its own, so its work never shares a GIL with the harness."""

    def __init__(self, log_path: Path, *, delay_ms: float = 0) -> None:
        """`delay_ms`: how long every DynamoDB request waits before it is served (bench/keyedlatency.py)."""
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _MOTO_SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=ROOT,
            env={**os.environ, "BENCH_DYNAMODB_DELAY_MS": str(delay_ms)} if delay_ms else None,
        )
        line = self.process.stdout.readline().decode().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"moto server did not start (log: {log_path})")
        self.endpoint = line

    def rss_mb(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._log.close()


class UdpSink:
    """Stands in for the X-Ray agent: receives and counts the datagrams of spans the functions send."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.datagrams = 0
        self.bytes = 0
        self._thread = threading.Thread(target=self._drain, name="xray-sink", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            self.datagrams += 1
            self.bytes += len(data)

    def close(self) -> None:
        self.sock.close()


@cache
def template() -> dict[str, Any]:
    from local.template import load_template

    return load_template()


def create_table_request(name: str) -> dict[str, Any]:
    from local.template import create_table_request as request

    return request(name, template=template())


def function_logical_ids() -> dict[str, str]:
    """Function folder (functions/<name>/) -> its logical id in template.yaml."""
    from local.template import resources_of_type

    ids = {}
    for logical_id, resource in resources_of_type(template(), "AWS::Serverless::Function").items():
        code_uri = str((resource.get("Properties") or {}).get("CodeUri", ""))
        ids[Path(code_uri).name] = logical_id
    return ids


def function_memory_mb(function: str) -> int:
    from local.template import function_properties

    return int(function_properties(template(), function_logical_ids()[function]).get("MemorySize", 128))


# What the python3.13 runtime itself ships (boto3 and its dependencies); the rest comes from the deps layer.
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")
DEPS_REQUIREMENTS = ROOT / "layers" / "deps" / "requirements.txt"


def deps_layer_distributions() -> list[str]:
    names = []
    for raw_line in DEPS_REQUIREMENTS.read_text().splitlines():
        line = raw_line.strip()
        if line and not line.startswith(("#", "--")) and "==" in line:
            names.append(line.split("==")[0].split("[")[0].strip())
    return names


def top_level_names(distribution: str) -> list[str]:
    """The names a distribution installs at the top of site-packages (packages, modules, its .dist-info)."""
    from importlib.metadata import distribution as find

    files = find(distribution).files or []
    return sorted({str(path).split("/")[0] for path in files if not str(path).startswith("..")})


def lambda_site(work_dir: Path) -> dict[str, Path]:
    """Two folders of links into the virtual environment: `runtime` (what Lambda's python3.13 has) and
    `deps` (what the deps layer holds). The venv also holds dev tools (moto, requests, SAM CLI ...): left
    on sys.path, the X-Ray SDK would find and patch `requests`, which Lambda does not have."""
    import sysconfig

    venv_site = Path(sysconfig.get_paths()["purelib"])
    folders = {"runtime": RUNTIME_DISTRIBUTIONS, "deps": deps_layer_distributions()}
    made = {}
    for folder, distributions in folders.items():
        target = work_dir / "site" / folder
        target.mkdir(parents=True, exist_ok=True)
        for distribution in distributions:
            for name in top_level_names(distribution):
                link = target / name
                if not link.exists() and (venv_site / name).exists():
                    link.symlink_to(venv_site / name)
        made[folder] = target
    return made


@dataclass
class Infra:
    moto: MotoProcess
    stubs: Any  # local.stubs.upstream.StubServer
    xray: UdpSink
    work_dir: Path
    site: dict[str, Path] = field(default_factory=dict)
    tables: set[str] = field(default_factory=set)
    baseline_upstream: dict[str, bool] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.moto.endpoint

    def services(self) -> dict[str, str]:
        return {
            "DYNAMODB_ENDPOINT": self.endpoint,
            "EVENTS_ENDPOINT": self.endpoint,
            "USERS_API_URL": self.stubs.url,
            "INVENTORY_API_URL": self.stubs.url,
        }

    def dynamodb(self) -> Any:
        return aws_client("dynamodb", self.endpoint)

    def ensure_table(self, name: str) -> str:
        if name not in self.tables:
            client = self.dynamodb()
            client.create_table(**create_table_request(name))
            client.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
            )
            self.tables.add(name)
        return name

    # ------------------------------------------------------------------ environments
    def function_env(self, function: str, table: str) -> dict[str, str]:
        """The environment template.yaml gives the function, pointed at the loopback services."""
        from local.template.model import function_spec, local_resources

        resources = local_resources(template())
        spec = function_spec(resources, function_logical_ids()[function], self.services())
        env = dict(spec.environment)
        env["TABLE_NAME"] = table
        env.setdefault("CURSOR_SECRET", CURSOR_SECRET_FALLBACK)
        return env

    def real_spec(
        self, function: str, table: str, *, tracing: bool = True, options: tuple[str, ...] = ()
    ) -> WorkerSpec:
        from local.template.model import function_spec, local_resources

        resources = local_resources(template())
        spec = function_spec(resources, function_logical_ids()[function], self.services())
        env = self.function_env(function, table)
        if tracing:
            # As on Lambda with `Tracing: Active`: sampled invocations send their spans to the agent's address.
            env.pop("OTEL_SDK_DISABLED", None)
            env["AWS_XRAY_DAEMON_ADDRESS"] = self.xray.address
        else:
            env["OTEL_SDK_DISABLED"] = "true"
        return WorkerSpec(
            name=f"{function}/real",
            path=(str(spec.code_uri), *map(str, spec.layer_paths)),
            site_packages=(str(self.site["deps"]), str(self.site["runtime"])),
            handler=spec.handler,
            env=env,
            tracing=tracing,
            timeout_ms=int(spec.timeout * 1000),
            python_options=options,
        )

    def baseline_spec(self, function: str, table: str) -> WorkerSpec:
        code_uri = BASELINE_ROOT / function
        env = self.function_env(function, table)
        env.update(LAMBDA_TASK_ROOT=str(code_uri), _HANDLER="app.lambda_handler")
        env["OTEL_SDK_DISABLED"] = "true"  # nothing reads it; no tracing SDK in the baseline
        if self.baseline_upstream.get(function):
            env["BASELINE_UPSTREAM"] = "1"
        return WorkerSpec(
            name=f"{function}/baseline",
            path=(str(code_uri),),
            site_packages=(str(self.site["runtime"]),),
            handler="app.lambda_handler",
            env=env,
            tracing=False,
        )

    def libraries_spec(self, function: str, table: str) -> WorkerSpec:
        """The baseline, plus importing (only importing) the libraries the real function is built on:
        the floor those libraries alone set under the cold-start ratio, whatever the function does."""
        spec = self.baseline_spec(function, table)
        return replace(
            spec,
            name=f"{function}/libraries",
            site_packages=(str(self.site["deps"]), str(self.site["runtime"])),
            preload=LIBRARY_IMPORTS.get(function, ()),
        )

    def close(self) -> None:
        try:
            self.stubs.stop()
        finally:
            self.xray.close()
            self.moto.stop()


def start_stubs() -> Any:
    """The user and inventory stubs (`local.stubs.upstream.StubServer`), started, with stock for every order the
    benchmark creates (the seed's 100,000 would run out in a full run)."""
    from local.stubs.upstream import StubServer

    stubs = StubServer().start()
    for product in stubs.stubs.products.values():
        product["stock"] = max(product["stock"], 10**9)
    return stubs


def start(work_dir: Path) -> Infra:
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    moto = MotoProcess(work_dir / "moto.log")
    stubs = start_stubs()
    infra = Infra(moto=moto, stubs=stubs, xray=UdpSink(), work_dir=work_dir, site=lambda_site(work_dir))
    bus = infra.function_env("order_events", "unused").get("EVENT_BUS_NAME")
    if bus:
        aws_client("events", infra.endpoint).create_event_bus(Name=bus)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    infra.startup_seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return infra
