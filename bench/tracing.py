"""Issue 20's tracing row: the candidates side by side, and what an unreachable agent costs a request.

1. Candidates, cold: each run is a fresh `python -I` that imports boto3, builds a DynamoDB client and runs
   one sampled invocation (a handler span, a step span and one GetItem, answered by botocore's Stubber so
   no server's time is in it) with the candidate's tracing, exporting what it recorded; the clock runs from
   the script's first line to the invocation's return (interpreter start-up excluded, the same for all).
   Runs alternate the candidates, so a slow moment of the machine is shared. Candidates:
   - `none`: Lambda's own segment only (active tracing, no in-function spans): the floor;
   - `xray-sdk`: Powertools' Tracer on aws-xray-sdk 2.15 (what the functions used; botocore patched);
   - `otlp-udp` (chosen, `orders.tracing`): spans recorded by orders.tracing and written as OTLP protobuf by
     `orders.tracing.otlp`, over UDP to the agent: no tracing library imported;
   - `otel-udp`: the same transport with the OpenTelemetry SDK recording the spans and its OTLP encoder
     (opentelemetry-proto, protobuf) writing them (what `orders.tracing` did before);
   - `otel-http`: the same SDK with `opentelemetry-exporter-otlp-proto-http` (X-Ray's OTLP endpoint, or a
     collector such as the ADOT layer's), batch processor flushed at the end of the invocation.
   The datagrams and HTTP requests each candidate sent are counted, so a candidate that traced nothing
   cannot win.
2. Agent down: one process per case runs `warm_invocations` sampled invocations of a traced handler (5
   spans, one stubbed GetItem) with `AWS_XRAY_DAEMON_ADDRESS` at the bench's sink, at a closed port, at an
   unroutable address, and unsampled; p50s side by side, and each fault's p50 minus the sink's.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "orders" / "python"
CANDIDATES = ("none", "xray-sdk", "otlp-udp", "otel-udp", "otel-http")
CHOSEN = "otlp-udp"
AGENT_CASES = ("sink", "closed-port", "unroutable", "unsampled")
UNROUTABLE = "192.0.2.1:2000"  # TEST-NET-1 (RFC 5737): nothing answers there

# `python -I -S`, as the bench's workers run: the standard library, then the paths given after the arguments
# (the orders layer, the candidate's site folder, the runtime's).
SCRIPT = r"""
import sys
sys.path[:0] = sys.argv[4:]
import json, os, time
started = time.perf_counter()
candidate, mode, invocations = sys.argv[1], sys.argv[2], int(sys.argv[3])
import boto3
from botocore.stub import Stubber
client = boto3.client("dynamodb", region_name="us-east-1")
stubber = Stubber(client)
KEY = {"PK": {"S": "ORDER#1"}, "SK": {"S": "ORDER"}}

def get_item():
    stubber.add_response("get_item", {"Item": KEY}, {"TableName": "orders", "Key": KEY})
    client.get_item(TableName="orders", Key=KEY)

if candidate == "none":
    def handler(event, context):
        get_item()
        return {"statusCode": 200}
elif candidate == "xray-sdk":
    from aws_lambda_powertools import Tracer
    tracer = Tracer(service="orders", patch_modules=("botocore",))
    @tracer.capture_lambda_handler
    def handler(event, context):
        with tracer.provider.in_subsegment("step"):
            get_item()
        return {"statusCode": 200}
elif candidate == "otlp-udp":
    from orders import tracing
    tracing.instrument(client)
    @tracing.Tracer().capture_lambda_handler
    def handler(event, context):
        with tracing.span("step"):
            for _ in range(3 if mode == "warm" else 0):
                with tracing.span("more"):
                    pass
            get_item()
        return {"statusCode": 200}
elif candidate == "otel-udp":
    import base64, socket
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.propagators.aws import AwsXRayPropagator
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import SpanKind
    class Kept(SpanProcessor):
        finished = []
        def on_end(self, span):
            self.finished.append(span)
    kept = Kept()
    provider = TracerProvider()
    provider.add_span_processor(kept)
    otel = provider.get_tracer("orders")
    host, _, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].rpartition(":")
    agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    agent.setblocking(False)
    def handler(event, context):
        parent = AwsXRayPropagator().extract({"X-Amzn-Trace-Id": os.environ["_X_AMZN_TRACE_ID"]})
        with otel.start_as_current_span("handler", context=parent, kind=SpanKind.SERVER):
            with otel.start_as_current_span("step"):
                for _ in range(3 if mode == "warm" else 0):
                    with otel.start_as_current_span("more"):
                        pass
                with otel.start_as_current_span("DynamoDB.GetItem", kind=SpanKind.CLIENT):
                    get_item()
        spans, kept.finished[:] = list(kept.finished), []
        body = base64.b64encode(encode_spans(spans).SerializeToString())
        agent.sendto(b'{"format":"json","version":1}\nT1S' + body, (host, int(port)))
        return {"statusCode": 200}
elif candidate == "otel-http":
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.propagators.aws import AwsXRayLambdaPropagator
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind
    provider = TracerProvider()
    processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["BENCH_OTLP_URL"]))
    provider.add_span_processor(processor)
    otel = provider.get_tracer("orders")
    def handler(event, context):
        parent = AwsXRayLambdaPropagator().extract({})
        with otel.start_as_current_span("handler", context=parent, kind=SpanKind.SERVER):
            with otel.start_as_current_span("step"):
                with otel.start_as_current_span("DynamoDB.GetItem", kind=SpanKind.CLIENT):
                    get_item()
        processor.force_flush()
        return {"statusCode": 200}

with stubber:
    handler({}, None)
    cold_ms = (time.perf_counter() - started) * 1000
    durations = []
    for _ in range(invocations):
        began = time.perf_counter()
        handler({}, None)
        durations.append((time.perf_counter() - began) * 1000)
print(json.dumps({"cold_ms": cold_ms, "durations": durations}))
"""


class _Sinks:
    """The agent's stand-in (the bench's `UdpSink`) and an HTTP server for OTLP/HTTP, both counting."""

    def __init__(self) -> None:
        from bench.infra import UdpSink

        self.agent = UdpSink()
        self.udp_address = self.agent.address
        self.http_requests = 0
        sinks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sinks.http_requests += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.otlp_url = f"http://127.0.0.1:{self.http.server_address[1]}/v1/traces"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def datagrams(self) -> int:
        return self.agent.datagrams

    def close(self) -> None:
        self.agent.close()
        self.http.shutdown()


def _closed_port() -> str:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{probe.getsockname()[1]}"
    probe.close()
    return address


def _requirement_closure(distribution: str) -> set[str]:
    """The distribution and every installed distribution it requires, recursively (extras' left out)."""
    from importlib.metadata import PackageNotFoundError, requires

    found: set[str] = set()
    pending = [distribution]
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in found:
            continue
        try:
            requirements = requires(name) or []
        except PackageNotFoundError:
            continue
        found.add(name)
        for requirement in requirements:
            if "extra ==" not in requirement:
                pending.append(re.split(r"[\s\[<>=!~;(]", requirement.strip(), maxsplit=1)[0])
    return found


def candidate_sites(work_dir: Path) -> dict[str, list[str]]:
    """Each candidate's sys.path after the layer: a folder of links to the deps layer's distributions plus
    the candidate's own (and what they require), then the runtime's (boto3 & co.), as `bench.infra`
    builds the functions' (not the whole venv: its dev tools would be found and patched or imported)."""
    import sysconfig

    from bench.infra import RUNTIME_DISTRIBUTIONS, deps_layer_distributions, top_level_names

    venv_site = Path(sysconfig.get_paths()["purelib"])
    runtime = set(RUNTIME_DISTRIBUTIONS)

    def folder(name: str, distributions: set[str]) -> str:
        target = work_dir / "site" / name
        target.mkdir(parents=True, exist_ok=True)
        for distribution in sorted(distributions):
            for top in top_level_names(distribution):
                link = target / top
                if not link.exists() and (venv_site / top).exists():
                    link.symlink_to(venv_site / top)
        return str(target)

    runtime_path = folder("runtime", runtime)
    deps = set(deps_layer_distributions())
    extras = {
        "xray-sdk": _requirement_closure("aws-xray-sdk"),
        "otel-udp": _requirement_closure("opentelemetry-exporter-otlp-proto-common")
        | _requirement_closure("opentelemetry-sdk")
        | _requirement_closure("opentelemetry-propagator-aws-xray"),
        "otel-http": _requirement_closure("opentelemetry-exporter-otlp-proto-http")
        | _requirement_closure("opentelemetry-propagator-aws-xray"),
    }
    return {
        candidate: [
            str(LAYER),
            folder(candidate, (deps | extras.get(candidate, set())) - runtime),
            runtime_path,
        ]
        for candidate in CANDIDATES
    }


def _run(
    candidate: str, mode: str, invocations: int, env: dict[str, str], log: Path, *, paths: list[str]
) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SCRIPT, candidate, mode, str(invocations), *paths],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    with log.open("a") as out:
        out.write(f"--- {candidate} {mode}: exit {completed.returncode}\n{completed.stderr}")
    if completed.returncode != 0:
        raise RuntimeError(f"{candidate} ({mode}) failed: {completed.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _env(sinks: _Sinks, address: str, *, sampled: bool = True) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "bench-tracing",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_XRAY_DAEMON_ADDRESS": address,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": (
            f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};"
            f"Sampled={1 if sampled else 0}"
        ),
        "BENCH_OTLP_URL": sinks.otlp_url,
    }


def run(cold_runs: int, warm_invocations: int, logs: Path) -> dict[str, Any]:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "tracing.log"
    sites = candidate_sites(logs / "tracing-site")
    sinks = _Sinks()
    try:
        cold: dict[str, list[float]] = {candidate: [] for candidate in CANDIDATES}
        sent: dict[str, dict[str, int]] = {}
        for candidate in CANDIDATES:  # a priming run each: bytecode written, nothing timed
            _run(candidate, "cold", 0, _env(sinks, sinks.udp_address), log, paths=sites[candidate])
        for index in range(cold_runs):
            order = CANDIDATES if index % 2 == 0 else tuple(reversed(CANDIDATES))
            for candidate in order:
                before = (sinks.datagrams, sinks.http_requests)
                result = _run(
                    candidate, "cold", 0, _env(sinks, sinks.udp_address), log, paths=sites[candidate]
                )
                time.sleep(0.05)  # let the sinks count what was just sent
                cold[candidate].append(result["cold_ms"])
                counts = sent.setdefault(candidate, {"datagrams": 0, "http_requests": 0})
                counts["datagrams"] += sinks.datagrams - before[0]
                counts["http_requests"] += sinks.http_requests - before[1]
        floor = median(cold["none"])
        candidates = {
            candidate: {
                "median_ms": median(times),
                "over_none_ms": median(times) - floor,
                "ratio_to_none": median(times) / floor if floor else None,
                "runs": len(times),
                "sent_per_run": {
                    name: count / max(len(times), 1) for name, count in sent.get(candidate, {}).items()
                },
            }
            for candidate, times in cold.items()
        }
        cases = {
            "sink": _env(sinks, sinks.udp_address),
            "closed-port": _env(sinks, _closed_port()),
            "unroutable": _env(sinks, UNROUTABLE),
            "unsampled": _env(sinks, sinks.udp_address, sampled=False),
        }
        warm: dict[str, list[float]] = {case: [] for case in AGENT_CASES}
        for index in range(2):  # two rounds, the second in the other order
            order = AGENT_CASES if index == 0 else tuple(reversed(AGENT_CASES))
            for case in order:
                warm[case] += _run(CHOSEN, "warm", warm_invocations, cases[case], log, paths=sites[CHOSEN])[
                    "durations"
                ]
        p50 = {case: median(durations) if durations else None for case, durations in warm.items()}
        sink_p50 = p50["sink"] or 0.0
        return {
            "candidates": candidates,
            "chosen": CHOSEN,
            "warm_p50_ms": p50,
            "agent_down_overhead_ms": {
                case: (p50[case] or 0.0) - sink_p50 for case in ("closed-port", "unroutable")
            },
            "traced_over_unsampled_ms": sink_p50 - (p50["unsampled"] or 0.0),
            "warm_invocations_per_case": warm_invocations * 2,
        }
    finally:
        sinks.close()
