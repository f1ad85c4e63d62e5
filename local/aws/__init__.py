"""The AWS services the stack emulates, configured from the template model; they run functions through
the runtime room.
- apigw.py       API Gateway HTTP API, payload format 2.0: request → event, function result → response
- access_log.py  API Gateway's access log: the latest requests to the API (the console's)
- auth.py        the local token issuer (keys in local/.keys/, JWKS) and API Gateway's JWT authorizer checks
- iam.py         each function's execution role (and the operators' roles) in moto, enforced and recorded
- moto_server.py moto's server in process (DynamoDB and its streams, EventBridge, SQS, S3), or
                 DYNAMODB_ENDPOINT; the template's tables, queues, buckets, buses and archives in it
- streams.py     table streams → the consumer function (each record read kept, with its deliveries);
                 given-up batches to the on-failure queue or bucket
- event_source_mapping.py  Lambda's stream mapping semantics: batches, filters, retries, bisecting, age
- bus.py         events put to the buses (GET /_local/events) and dead letters (GET /_local/dead-letters)
- alarms.py      the template's CloudWatch alarms, their state emulated (GET /_local/alarms)
- faults.py      faults in the emulated AWS: PutEvents refusing entries (/_local/aws-faults)
- traces.py      the X-Ray agent's stand-in: the spans the functions send (GET /_local/traces)
"""
