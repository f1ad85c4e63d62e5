"""The Docker-free local stack. Reads template.yaml; never imported by functions/ or layers/.

`python -m local` (make dev) serves the API; `python -m local services` (make services) runs the embedded
services alone for `sam local start-api`; `python -m local.token` (make token) mints a JWT for either.
- template.py   template.yaml as data: intrinsics, functions with Globals applied, HttpApi routes, tables,
                table-stream events; TemplateError (one line: which resource, why)
- model.py      what the template means locally: names, function specs (env, layers, timeout), routes,
                stream subscriptions
- auth.py       the local issuer (keys in local/.keys/, JWKS) and API Gateway's JWT authorizer checks
- iam.py        the template's roles (each function's, SAM-built, and the operators') in moto, enforced;
                moto's authorizations named by resource and recorded (GET /_local/iam)
- apigw.py      HTTP API payload format 2.0: request → event, function result → response
- workers.py    one worker process per concurrent invocation of a function (worker_runtime.py inside);
                hot reload (a code change retires the function's workers)
- dynamodb.py   moto's server in process (DynamoDB + streams, EventBridge, SQS, S3), or DYNAMODB_ENDPOINT
                for DynamoDB; the template's tables, queues, buckets, buses and archives in it (replays
                keep to their window)
- embedded.py   everything the functions talk to, started for one template (moto, upstream stubs)
- streams.py    table stream → consumer function, through event_source_mapping.py (Lambda's semantics);
                given-up batches to the on-failure queue, or bucket (one object per batch, records included)
- alarms.py     the template's CloudWatch alarms, their state emulated from the stack's own metrics (failed
                batches written, failed writes): GET /_local/alarms
- aws_faults.py faults in the emulated AWS (moto's PutEvents refuses entries): /_local/aws-faults
- bus.py        events put to the buses (GET /_local/events) and dead letters (GET /_local/dead-letters)
- upstream_stubs.py  the user and inventory services, seeded, with injectable faults
- openapi.py    the merged OpenAPI document
- worker_protocol.py  the workers' pipe framing (shared with the bench's workers)
- server.py     the stack as a WSGI app tying it together; control.py: its own /_local/* endpoints
                (operator credentials and outputs for make redrive/replay/backfill: /_local/operator)
- cli.py        `python -m local`: arguments, serving, Ctrl-C; services.py: `make services` and its
                env-vars file; console.py: the one-line-at-a-time log
"""

import sys
from pathlib import Path

# The stack's authorizer checks tokens with the sam-local layer's rules (sam_local_auth.jwt_verifier), the
# very code functions run under `sam local`; the layers are importable here as in Lambda (/opt/python).
_LAYERS = Path(__file__).resolve().parent.parent / "layers"
for _layer in (_LAYERS / "orders" / "python", _LAYERS / "sam_local" / "python"):
    if str(_layer) not in sys.path:
        sys.path.append(str(_layer))
