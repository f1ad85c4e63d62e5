"""`python -m local [--template PATH]` (what `make dev` runs): arguments, the port, the embedded services,
then `serve` runs the stack (server.py) until Ctrl-C and stops it all. `python -m local services`
(services.py) shares the arguments and `serve`."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.serving import make_server

from local.common.log import say
from local.common.net import bind
from local.front.embedded import EmbeddedServices, upstream_from_environment
from local.front.server import IAM_OFF_WARNING, LocalStack, RequestHandler
from local.template import TEMPLATE_PATH, TemplateError, load_template
from local.template.model import stack_model

DEFAULT_PORT = 3001


def argument_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "-t",
        "--template",
        type=Path,
        default=TEMPLATE_PATH,
        help="the SAM template (default: template.yaml); paths in it are relative to its folder",
    )
    return parser


def template_error(path: Path, error: TemplateError) -> int:
    """One line on stderr: which resource of which template, and why."""
    say(f"error: {_shown(path)}: {error}", sys.stderr)
    return 2


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def stack_title(path: Path) -> str:
    return "Order Service local stack" if path.resolve() == TEMPLATE_PATH else "Local stack"


def load(path: Path) -> dict[str, Any]:
    return load_template(path.resolve())


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser("python -m local", "Serve a SAM template's HTTP API locally, without Docker.")
    args = parser.parse_args(argv)
    try:
        port = int(os.environ.get("PORT") or DEFAULT_PORT)
    except ValueError:
        say(f"error: PORT={os.environ.get('PORT')!r} is not a port number", sys.stderr)
        return 2
    host = os.environ.get("HOST") or "127.0.0.1"
    try:
        template = load(args.template)
    except TemplateError as error:
        return template_error(args.template, error)
    try:
        listener = bind(host, port)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            say(
                f"error: port {port} is already in use (another `make dev`?); "
                f"pick another with PORT={port + 1} make dev",
                sys.stderr,
            )
        else:
            say(f"error: cannot listen on {host}:{port}: {error.strerror}", sys.stderr)
        return 1

    enforce_iam = (os.environ.get("LOCAL_IAM") or "on").lower() not in ("off", "0", "false", "no")
    if not enforce_iam:
        say(IAM_OFF_WARNING.strip(), sys.stderr)
    services = EmbeddedServices(
        template,
        args.template.resolve().parent,
        dynamodb_endpoint=os.environ.get("DYNAMODB_ENDPOINT") or None,
        upstream=upstream_from_environment(),
        say=lambda line: say(line, sys.stderr),
        enforce_iam=enforce_iam,
    )
    return serve(
        args.template,
        template,
        listener,
        host=host,
        port=port,
        services=services,
        title=stack_title(args.template),
    )


def serve(
    template_path: Path,
    template: dict[str, Any],
    listener: Any,
    *,
    host: str,
    port: int,
    services: EmbeddedServices,
    title: str,
    serve_api: bool = True,
    ready: Any = None,
) -> int:
    """Start `services`, build the stack for the template, serve it on `listener` until Ctrl-C, stop it
    all. `ready(stack)` returns extra banner text (or raises to abort). A template the stack cannot run
    is one line on stderr (exit code 2)."""
    stack = None
    server = None
    try:
        try:
            # What the template asks that cannot run locally fails here, before anything starts.
            stack_model({}, template, None, template_path.resolve().parent)
            variables = services.start()
            model = stack_model(variables, template, services.secret_values, template_path.resolve().parent)
        except TemplateError as error:
            return template_error(template_path, error)
        except (OSError, BotoCoreError, ClientError) as error:
            say(f"error: cannot start the embedded services: {error}", sys.stderr)
            return 1
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "localhost", "::1", "::") else host
        base_url = f"http://{shown_host}:{port}"
        max_workers = int(os.environ.get("LOCAL_MAX_WORKERS") or 10)
        stack = LocalStack(model, base_url, port, max_workers, services=services, serve_api=serve_api)
        stack.template_path = template_path
        server = make_server(
            host, port, stack, threaded=True, request_handler=RequestHandler, fd=listener.fileno()
        )
        listener.close()  # the server holds its own duplicate
        _stop_on_signals(server, stack)
        stack.start_background()
        extra = ready(stack) if ready is not None else ""
        banner = stack.banner(title, _shown(template_path))
        say(banner.replace("\nReady.", f"\n{extra}\nReady.") if extra else banner)
        server.serve_forever(poll_interval=0.2)
    finally:
        if server is not None:
            server.server_close()
        listener.close()
        if stack is not None:
            stack.close()
        services.stop()
    say("Stopped.")
    return 0


def _stop_on_signals(server, stack: LocalStack) -> None:
    stopping = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        if stopping.is_set():  # a second Ctrl-C: no more waiting
            stack.kill_now()
            os._exit(130)
        stopping.set()
        say("Stopping: stream polling, workers, moto, HTTP server ...")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGHUP, handle)


if __name__ == "__main__":
    raise SystemExit(main())
