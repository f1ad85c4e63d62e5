"""The stack's own front: its commands, its HTTP server and its own endpoints. Wires the other rooms together.
- cli.py       `python -m local` (make dev): arguments, the port, serving until Ctrl-C
- services.py  `python -m local services` (make services): the embedded services alone, and the env-vars
               file and derived template for `sam local start-api`
- token.py     `python -m local.front.token` (make token): print a JWT of the local issuer
- server.py    the stack as a WSGI app: routes a request through API Gateway's emulation to its function
- control.py   the stack's own endpoints: /_local/* and /.well-known/*
- console.py   the console: /_local/ as one HTML page, each order's timeline page, the fault form
- timeline.py  an order's lifecycle gathered from the stack's logs, in time order (for console.py)
- embedded.py  everything the functions talk to, started for one template (moto, IAM, traces, stubs)
- openapi.py   the merged OpenAPI document and Swagger UI (/_local/docs); `python -m local.front.openapi`
               (make openapi) writes docs/openapi.json
"""
