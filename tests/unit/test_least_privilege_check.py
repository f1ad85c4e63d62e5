"""The least-privilege check (tests/support/least_privilege.py) on made-up roles and calls: it can fail."""

from __future__ import annotations

from local.aws.iam import Statement, allows
from tests.support.least_privilege import Call, exemptions, problems


# ------------------------------------------------------------------------------------ the check itself
class _Role:
    def __init__(self, *statements: Statement) -> None:
        self.declared_statements = list(statements)
        self.statements = list(statements)

    def allows(self, action: str, resource: str) -> bool:
        return allows(self.statements, action, resource)


TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/T"


def test_the_check_fails_on_an_action_the_role_does_not_grant():
    role = _Role(Statement("Allow", ("dynamodb:GetItem", "dynamodb:UpdateItem"), (TABLE,)))
    calls = [
        Call("Consumer", "dynamodb:GetItem", TABLE, True),
        Call("Consumer", "dynamodb:UpdateItem", None),
        Call("Consumer", "dynamodb:PutItem", None),  # what the consumer did before its policy was fixed
    ]
    assert problems({"Consumer": role}, calls, {}) == [
        "Consumer: performed dynamodb:PutItem (in-process), which its role does not grant"
    ]


def test_the_check_fails_on_a_grant_nothing_uses_unless_the_template_says_why():
    role = _Role(Statement("Allow", ("dynamodb:GetItem", "dynamodb:DeleteItem"), (TABLE,)))
    calls = [Call("Reader", "dynamodb:GetItem", TABLE, True)]
    assert [line.split(",")[0] for line in problems({"Reader": role}, calls, {})] == [
        "Reader: grants dynamodb:DeleteItem on arn:aws:dynamodb:us-east-1:123456789012:table/T"
    ]
    assert problems({"Reader": role}, calls, {"Reader": {"dynamodb:DeleteItem": "kept for X"}}) == []
    # A reason for a grant that is used after all is stale.
    stale = problems(
        {"Reader": role}, calls, {"Reader": {"dynamodb:GetItem": "x", "dynamodb:DeleteItem": "y"}}
    )
    assert stale == ["Reader: dynamodb:GetItem is performed; drop its `# untested grant:` comment"]


def test_a_grant_on_another_resource_does_not_count_as_used():
    role = _Role(Statement("Allow", ("dynamodb:Query",), (f"{TABLE}/index/*",)))
    assert (
        problems({"Lister": role}, [Call("Lister", "dynamodb:Query", f"{TABLE}/index/GSI1", True)], {}) == []
    )
    wrong = problems({"Lister": role}, [Call("Lister", "dynamodb:Query", TABLE, True)], {})
    assert len(wrong) == 2 and "does not grant" in wrong[0] and "no test performs" in wrong[1]


def test_exemptions_are_read_from_the_functions_resource_block():
    text = """Resources:
  ListFunction:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        # untested grant: secretsmanager:GetSecretValue - locally the key is handed in the environment
        - AWSSecretsManagerGetSecretValuePolicy: {SecretArn: x}
  Other:
    Type: AWS::SQS::Queue
"""
    assert exemptions(text) == {
        "ListFunction": {"secretsmanager:GetSecretValue": "locally the key is handed in the environment"}
    }
