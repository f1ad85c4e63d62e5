"""The Docker-free local stack. Reads template.yaml; never imported by functions/ or layers/.

`python -m local` (make dev) serves the API; `python -m local services` (make services) runs the embedded
services alone for `sam local start-api`; `python -m local.front.token` (make token) mints a JWT for either.

Its rooms, each a folder (its __init__ says what lives there). Imports point one way, down this list:
front → aws → runtime → template → common, and stubs (beside aws) are the front's alone
(tests/unit/test_local_architecture.py checks it):
- front/     the stack's own front: commands (cli, services, token), the WSGI server, the /_local/*
             endpoints, the wiring of the embedded services, the OpenAPI document and Swagger UI
- aws/       the AWS services it emulates: API Gateway and the JWT authorizer, IAM, DynamoDB and its
             streams with the event source mapping, EventBridge, failure destinations, alarms, X-Ray
- stubs/     the upstream user and inventory services, seeded from seed.json
- runtime/   running functions: the worker pool, the worker process, their pipe protocol
- template/  template.yaml read (document.py) and what it means locally (model.py: names, functions,
             routes, stream subscriptions); the derived template for `sam local` (sam_local.py)
- common/    the terminal log and listening sockets
"""

import sys
from pathlib import Path

# The stack's authorizer checks tokens with the sam-local layer's rules (sam_local_auth.jwt_verifier), the
# very code functions run under `sam local`; the layers are importable here as in Lambda (/opt/python).
_LAYERS = Path(__file__).resolve().parent.parent / "layers"
for _layer in (_LAYERS / "orders" / "python", _LAYERS / "sam_local" / "python"):
    if str(_layer) not in sys.path:
        sys.path.append(str(_layer))
