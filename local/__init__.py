"""The Docker-free local stack. Reads template.yaml; never imported by functions/ or layers/.

`python -m local` (make dev) serves the API; `python -m local.token` (make token) mints a JWT for it.
- template.py   template.yaml as data: intrinsics, functions with Globals applied, HttpApi routes, tables
- model.py      what the template means locally: names, function specs (env, layers, timeout), routes
- auth.py       the local issuer (keys in local/.keys/, JWKS) and API Gateway's JWT authorizer checks
- apigw.py      HTTP API payload format 2.0: request → event, function result → response
- workers.py    one worker process per concurrent invocation of a function (worker_runtime.py inside)
- dynamodb.py   moto's server in process (or DYNAMODB_ENDPOINT), tables from the template
- bus.py        events put to the bus (GET /_local/events); openapi.py: the merged OpenAPI document
- server.py     the HTTP server tying it together
"""
