"""`python -m local services` (make services): the local stack's embedded services without its API, for
`sam local start-api` (functions in Docker) to use, and an env-vars file that points every function at
them.

Started on fixed ports (`LOCAL_SERVICES_PORT`, default 3100; 0 picks free ones):
  3100  the stack's own endpoints: JWKS and issuer metadata (/.well-known/...), /_local/events,
        /_local/dead-letters, /_local/alarms, /_local/aws-faults, /_local/operator, /_local/streams,
        /_local/stubs/faults|state
  3101  moto: DynamoDB (the template's tables) and its stream, EventBridge (the buses and their archives),
        SQS (the queues), S3 (the buckets)
  3102  the user and inventory service stubs (unless USERS_API_URL and INVENTORY_API_URL are set)
The table stream's consumer (a function with a `Type: DynamoDB` event) runs here, in a local worker, as
under `make dev`: `sam local start-api` does not run event source mappings.

The env-vars file (default `.aws-sam/local-env.json`, next to the template; git-ignored) maps each
function's logical id to its variables: every variable the template declares for it (Globals and its
own), resolved as the stack resolves them (TABLE_NAME → the local table, EVENT_BUS_NAME → the local bus,
...), plus the services' endpoints as a container reaches them: host `host.docker.internal` (Docker
Desktop's name for the host; on Linux add `--add-host host.docker.internal:host-gateway`), or
`LOCAL_SERVICES_HOST`. The services listen on `LOCAL_SERVICES_BIND`, loopback by default: nothing beyond this
machine reaches them. On Linux a container reaches the host through the Docker bridge, not loopback: give
the bridge's address (`LOCAL_SERVICES_BIND=172.17.0.1`, docker0's; `ip -4 addr show docker0`), reachable by
containers and not by the network (0.0.0.0 would open them to it).

It also writes `.aws-sam/sam-local/template.json` (local/template/sam_local.py): template.yaml plus the SamLocalAuth
layer (layers/sam_local: PyJWT + cryptography), with which the functions verify bearer tokens under
`sam local` (SAM CLI runs no JWT authorizer). template.yaml itself never mentions that layer, so no
deployment ships it. Build and run that template:
    sam build --template-file .aws-sam/sam-local/template.json
    sam local start-api --env-vars .aws-sam/local-env.json --add-host host.docker.internal:host-gateway

Mind: `sam local` applies a variable from the file only if the template declares it for that function;
the endpoint variables take effect once the template declares them (e.g. `DYNAMODB_ENDPOINT: ""` in
Globals, which Lambda and the code read as "the real service").
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from local.aws import auth
from local.common.log import say
from local.common.net import bind
from local.front.cli import _shown, argument_parser, load, serve, template_error
from local.front.embedded import UPSTREAM_VARIABLES, EmbeddedServices, upstream_from_environment
from local.front.server import LocalStack
from local.template import TemplateError, function_properties, resources_of_type
from local.template.model import function_environment, local_resources
from local.template.sam_local import write_sam_local_template

DEFAULT_BASE_PORT = 3100
DOCKER_HOST = "host.docker.internal"
ENV_FILE = Path(".aws-sam") / "local-env.json"
LOOPBACK = ("127.0.0.1", "localhost", "0.0.0.0", "::1", "::")


def default_bind() -> str:
    """Loopback: the services hold the stack's IAM and data, and answer without authentication."""
    return "127.0.0.1"


def for_container(url: str, host: str) -> str:
    """`url` as a container reaches it: a loopback host becomes `host` (the Docker host's name)."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        return url
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def service_variables(services: EmbeddedServices, control_url: str, host: str) -> dict[str, str]:
    """The variables that point a function (in a container) at the running services."""
    variables = {
        "DYNAMODB_ENDPOINT": for_container(services.dynamodb_endpoint or "", host),
        "EVENTS_ENDPOINT": for_container(services.aws_endpoint or "", host),
        **{name: for_container(services.upstream[name], host) for name in UPSTREAM_VARIABLES},
        # For the functions' own token check under `sam local` (AWS_SAM_LOCAL=true; sam_local_auth).
        "SAM_LOCAL_JWT_ISSUER": auth.ISSUER,
        "SAM_LOCAL_JWT_AUDIENCE": auth.AUDIENCE,
        "SAM_LOCAL_JWKS_URL": for_container(f"{control_url}/.well-known/jwks.json", host),
    }
    return variables


def env_vars_file(
    template: dict[str, Any],
    base_dir: Path,
    services: dict[str, str],
    secret_values: dict[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """`sam local --env-vars` content: function logical id → every variable the template declares for it
    (Globals and its own) with its local value, then `services`."""
    resources = local_resources(template, secret_values, base_dir)
    content: dict[str, dict[str, str]] = {}
    for logical_id in resources_of_type(template, "AWS::Serverless::Function"):
        properties = function_properties(template, logical_id)
        declared = (properties.get("Environment") or {}).get("Variables") or {}
        resolved = function_environment(resources, logical_id, properties, {})
        variables: dict[str, str] = {}
        for name, value in declared.items():
            ref = value.get("Ref") if isinstance(value, dict) else None
            if name in resolved:
                variables[name] = resolved[name]
            elif ref in resources.secrets and name.endswith("_ARN"):
                # No Secrets Manager locally: the ARN as the template names it, and the value itself in
                # the variable without `_ARN` (what the code reads first).
                variables[name] = str(resources.physical_ids[ref])
                variables[name.removesuffix("_ARN")] = resources.secrets[ref]
            else:
                variables[name] = ""  # resolved to AWS::NoValue
        variables.update(services)
        content[logical_id] = variables
    return content


def write_env_file(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(content, indent=2, sort_keys=False) + "\n")
    temporary.replace(path)


def _ports() -> tuple[int, int, int]:
    raw = os.environ.get("LOCAL_SERVICES_PORT") or str(DEFAULT_BASE_PORT)
    base = int(raw)
    if base == 0:
        return 0, 0, 0
    return base, base + 1, base + 2


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(
        "python -m local services",
        "Run the local stack's embedded services (no API) for `sam local start-api`, and write an env-vars file.",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=None,
        help=f"where to write it (default: <template folder>/{ENV_FILE})",
    )
    args = parser.parse_args(argv)
    try:
        control_port, aws_port, stubs_port = _ports()
    except ValueError:
        say(
            f"error: LOCAL_SERVICES_PORT={os.environ.get('LOCAL_SERVICES_PORT')!r} is not a port number",
            sys.stderr,
        )
        return 2
    bind_host = os.environ.get("LOCAL_SERVICES_BIND") or default_bind()
    container_host = os.environ.get("LOCAL_SERVICES_HOST") or DOCKER_HOST
    try:
        template = load(args.template)
    except TemplateError as error:
        return template_error(args.template, error)
    base_dir = args.template.resolve().parent
    env_file = args.env_file or base_dir / ENV_FILE
    try:
        listener = bind(bind_host, control_port)
    except OSError as error:
        return _port_error(error, bind_host, control_port)
    control_port = listener.getsockname()[1]
    services = EmbeddedServices(
        template,
        base_dir,
        host=bind_host,
        aws_port=aws_port,
        stubs_port=stubs_port,
        dynamodb_endpoint=os.environ.get("DYNAMODB_ENDPOINT") or None,
        upstream=upstream_from_environment(),
        say=lambda line: say(line, sys.stderr),
        # `sam local` runs the functions with the developer's own credentials, not their roles: moto
        # cannot tell one function from another here, so nothing is enforced (the banner says so).
        enforce_iam=False,
    )

    def ready(stack: LocalStack) -> str:
        control_url = f"http://127.0.0.1:{control_port}"
        variables = service_variables(services, control_url, container_host)
        content = env_vars_file(template, base_dir, variables, services.secret_values)
        write_env_file(env_file, content)
        shown = _shown(env_file)
        sam_template = _shown(
            write_sam_local_template(template, base_dir, env_file.parent / "sam-local" / "template.json")
        )
        lines = [
            (
                f"  Env vars  {shown}   ({len(content)} functions; endpoints as a container sees them: "
                f"host {container_host}, LOCAL_SERVICES_HOST overrides)"
            ),
            f"  Listening on {bind_host}: control {control_port}, AWS (moto) {services.aws.port}"
            + (f", stubs {services.stubs.port}" if services.stubs is not None else ""),
            f"  Template  {sam_template}   (template.yaml + the SamLocalAuth layer: the functions verify tokens)",
            "  Then, with Docker:",
            (
                f"    sam build --template-file {sam_template} && sam local start-api --env-vars {shown} "
                f"--add-host {DOCKER_HOST}:host-gateway --port 3000"
            ),
        ]
        undeclared = _undeclared(template, variables)
        if undeclared:
            lines.append(
                "  note: sam local applies only variables the template declares; not declared (so ignored "
                f"by sam local): {', '.join(undeclared)}"
            )
        return "\n".join(lines)

    return serve(
        args.template,
        template,
        listener,
        host=bind_host,
        port=control_port,
        services=services,
        title="Local services (no API: run it with sam local start-api)",
        serve_api=False,
        ready=ready,
    )


def _undeclared(template: dict[str, Any], variables: dict[str, str]) -> list[str]:
    declared_everywhere = None
    for logical_id in resources_of_type(template, "AWS::Serverless::Function"):
        declared = set(
            ((function_properties(template, logical_id).get("Environment") or {}).get("Variables")) or {}
        )
        declared_everywhere = declared if declared_everywhere is None else declared_everywhere & declared
    return [name for name in variables if name not in (declared_everywhere or set())]


def _port_error(error: OSError, host: str, port: int) -> int:
    if error.errno == errno.EADDRINUSE:
        say(
            f"error: port {port} is already in use (another `make services`?); "
            f"pick other ports with LOCAL_SERVICES_PORT={port + 10} make services",
            sys.stderr,
        )
    else:
        say(f"error: cannot listen on {host}:{port}: {error.strerror}", sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
