"""Shared test set-up. The environment is set here, before any function module is imported, because
Powertools' Logger/Metrics/Tracer read it when the module loads. No test reaches AWS."""

import os

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "orders-test",
    "TABLE_NAME": "orders-test",
    "CURSOR_SECRET": "test-cursor-secret-0123456789abcdef",
    "CURRENCY": "USD",
    "POWERTOOLS_SERVICE_NAME": "orders",
    "POWERTOOLS_METRICS_NAMESPACE": "OrderService",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
for _name, _value in TEST_ENV.items():
    os.environ[_name] = _value
for _name in ("DYNAMODB_ENDPOINT", "AWS_PROFILE", "CURSOR_SECRET_ARN", "AWS_SAM_LOCAL"):
    os.environ.pop(_name, None)
