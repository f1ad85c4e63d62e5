"""Everything the functions talk to, started for one template: moto's server (DynamoDB with its stream,
EventBridge, SQS, S3) with the template's tables, queues, buckets, event buses and archives in it, and the
user and inventory service stubs. `python -m local` and `python -m local services` both start these."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from local.aws import auth
from local.aws.iam import IamEnforcement, execution_roles
from local.aws.moto_server import (
    EmbeddedAws,
    ensure_archives,
    ensure_buckets,
    ensure_event_buses,
    ensure_queues,
    ensure_tables,
    use_stack_credentials,
)
from local.aws.traces import TraceCollector
from local.template import resources_of_type
from local.template.model import LocalResources, local_resources

UPSTREAM_VARIABLES = ("USERS_API_URL", "INVENTORY_API_URL")


class EmbeddedServices:
    def __init__(
        self,
        template: dict[str, Any],
        base_dir: Path,
        *,
        host: str = "127.0.0.1",
        aws_port: int = 0,
        stubs_port: int = 0,
        dynamodb_endpoint: str | None = None,
        upstream: dict[str, str] | None = None,
        say: Any = None,
        enforce_iam: bool = True,
    ) -> None:
        self.template = template
        self.base_dir = base_dir
        self.host = host
        self._aws_port = aws_port
        self._stubs_port = stubs_port
        self.external_dynamodb = dynamodb_endpoint
        self._upstream_overrides = {name: url for name, url in (upstream or {}).items() if url}
        self._say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self.aws = EmbeddedAws(host, aws_port)
        self.stubs: Any = None  # local.stubs.upstream.StubServer when the stubs run here
        self.aws_endpoint: str | None = None
        self.dynamodb_endpoint: str | None = None
        self.upstream: dict[str, str] = {}
        self.secret_values: dict[str, str] = {}
        self.resources: LocalResources | None = None
        self.tables: list[str] = []
        self.queues: dict[str, str] = {}  # queue ARN → URL
        self.buses: list[str] = []
        self.buckets: dict[str, str] = {}  # bucket ARN → name
        self.archives: dict[str, str] = {}  # archive ARN → name
        self.enforce_iam = enforce_iam
        self.iam: IamEnforcement | None = None  # the functions' roles, when IAM is enforced
        self.traces = TraceCollector(host)  # the functions' X-Ray agent (AWS_XRAY_DAEMON_ADDRESS)
        self.credentials_file: Path | None = None

    def start(self) -> dict[str, str]:
        """Start the servers and create the template's resources; the variables that point a function at
        them (DYNAMODB_ENDPOINT, EVENTS_ENDPOINT, USERS_API_URL, INVENTORY_API_URL). Raises OSError when a
        port is taken, TemplateError when a resource cannot be created."""
        self.aws_endpoint = self.aws.start()
        self.traces.start()
        self.dynamodb_endpoint = self.external_dynamodb or self.aws_endpoint
        self.upstream = self._start_upstream()
        self.secret_values = {
            logical_id: auth.local_secret(logical_id)
            for logical_id in resources_of_type(self.template, "AWS::SecretsManager::Secret")
        }
        self.resources = local_resources(self.template, self.secret_values, self.base_dir)
        self.tables = ensure_tables(self.dynamodb_endpoint, self.template, self.resources.physical_ids)
        self.queues = ensure_queues(self.aws_endpoint, self.resources)
        self.buses = ensure_event_buses(self.aws_endpoint, self.resources)
        self.archives = ensure_archives(self.aws_endpoint, self.resources)
        self.buckets = ensure_buckets(self.aws_endpoint, self.resources)
        if self.enforce_iam:
            roles, warnings = execution_roles(self.resources)
            for warning in warnings:
                self._say(f"warning: IAM: {warning}")
            self.iam = IamEnforcement(self.aws_endpoint, roles)
            use_stack_credentials(self.iam.setup())
            self.credentials_file = _private_file("stack-admin.json", json.dumps(self.iam.admin))
        return self.variables()

    def variables(self) -> dict[str, str]:
        return {
            "DYNAMODB_ENDPOINT": self.dynamodb_endpoint or "",
            "EVENTS_ENDPOINT": self.aws_endpoint or "",
            "AWS_XRAY_DAEMON_ADDRESS": self.traces.address,
            **self.upstream,
        }

    def _start_upstream(self) -> dict[str, str]:
        """The user and inventory services: `USERS_API_URL` / `INVENTORY_API_URL` if given, else the
        seeded stubs (local/stubs/upstream.py)."""
        upstream = dict(self._upstream_overrides)
        if all(name in upstream for name in UPSTREAM_VARIABLES):
            return upstream
        try:
            from local.stubs.upstream import StubServer
        except ImportError:  # no stubs in this checkout: the functions will fail to reach upstream
            self._say(
                "warning: no upstream stubs (local/stubs/upstream.py); set USERS_API_URL and INVENTORY_API_URL"
            )
            return {name: upstream.get(name, "http://127.0.0.1:9") for name in UPSTREAM_VARIABLES}
        self.stubs = StubServer(host=self.host, port=self._stubs_port).start()
        return {name: upstream.get(name, self.stubs.url) for name in UPSTREAM_VARIABLES}

    def describe(self) -> dict[str, Any]:
        return {
            "aws": self.aws_endpoint,
            "dynamodb": self.dynamodb_endpoint,
            "tables": self.tables,
            "queues": self.queues,
            "eventBuses": self.buses,
            "buckets": self.buckets,
            "archives": self.archives,
            "upstream": self.upstream,
            "stubs": self.stubs.url if self.stubs is not None else None,
            "iamEnforced": self.iam is not None,
            # Where the stack's own (admin) credentials in the embedded moto are, for tools and tests that look
            # in: a file only this OS user reads, never the keys themselves (this endpoint answers over HTTP).
            "credentialsFile": str(self.credentials_file) if self.credentials_file is not None else None,
        }

    def stop(self) -> None:
        if self.credentials_file is not None:
            shutil.rmtree(self.credentials_file.parent, ignore_errors=True)
        self.traces.stop()
        if self.stubs is not None:
            self.stubs.stop()
        if self.aws_endpoint is not None:
            self.aws.stop()


def _private_file(name: str, text: str) -> Path:
    """`text` in a new file of a new directory only this OS user can open (0700, 0600)."""
    path = Path(tempfile.mkdtemp(prefix="orders-local-")) / name
    path.touch(mode=0o600)
    path.write_text(text)
    return path


def upstream_from_environment() -> dict[str, str]:
    return {name: os.environ[name] for name in UPSTREAM_VARIABLES if os.environ.get(name)}
