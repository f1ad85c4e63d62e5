"""Shared test set-up. The environment is set here, before any function module is imported, because
Powertools' Logger and Metrics read it when the module loads. No test reaches AWS."""

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
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
for _name, _value in TEST_ENV.items():
    os.environ[_name] = _value
# No trace header: in-process invocations are untraced (orders.tracing) unless a test sets one.
for _name in ("DYNAMODB_ENDPOINT", "AWS_PROFILE", "CURSOR_SECRET_ARN", "AWS_SAM_LOCAL", "_X_AMZN_TRACE_ID"):
    os.environ.pop(_name, None)

# Least privilege (tests/e2e/test_least_privilege.py): stacks started by the tests leave what their
# functions were authorized to do here when they stop, and function code run in this process is recorded.
import tempfile

from tests.support.least_privilege import RECORDER

os.environ.setdefault("LOCAL_IAM_RECORD_DIR", tempfile.mkdtemp(prefix="orders-iam-record-"))
RECORDER.install()

LEAST_PRIVILEGE_NEEDS = ("tests/integration/", "tests/e2e/")


def pytest_collection_modifyitems(config, items):
    """The least-privilege check compares what the integration and e2e suites did with what the roles
    grant, so it runs last, and only in a run that has both suites whole (make test)."""
    checks = [item for item in items if item.get_closest_marker("least_privilege")]
    if not checks:
        return
    paths = {str(item.path.relative_to(config.rootpath)) for item in items}
    whole = (
        not config.getoption("keyword")
        and not config.getoption("markexpr")
        and not hasattr(config, "workerinput")
        and config.getoption("numprocesses", default=None) in (None, 0)
        and all(any(path.startswith(prefix) for path in paths) for prefix in LEAST_PRIVILEGE_NEEDS)
    )
    rest = [item for item in items if item not in checks]
    if whole:
        items[:] = rest + checks
    else:
        items[:] = rest
        config.hook.pytest_deselected(items=checks)
        config._least_privilege_note = (
            "least-privilege check not run: it needs the whole integration and e2e suites in one serial "
            "run (make test)"
        )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    note = getattr(config, "_least_privilege_note", None)
    if note:
        terminalreporter.write_line(note)
