"""Lambda: a role of another account invokes a function only if the function's resource-based
policy admits it (as well as the role's own policy allowing lambda:InvokeFunction)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pipelines.conformance import graph
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import allowed, prepare, resolved, role_statements


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    functions = _functions(templates)
    admitted = _admitted(templates)
    for stack in templates:
        for logical_id, role in stack.resources("AWS::IAM::Role"):
            arn = graph.role_arn(stack.partition, stack.account, role.get("Properties", {}))
            if arn is None:
                continue
            policy = prepare(role_statements(role), stack)
            for function_arn, (owner, function_id) in sorted(functions.items()):
                if owner.account == stack.account:
                    continue
                if not allowed(policy, "lambda:InvokeFunction", function_arn):
                    continue
                if arn not in admitted.get((owner.name, function_id), set()):
                    yield RULE.finding(
                        stack,
                        f"{logical_id}.Policies",
                        f"{arn} may invoke {function_arn} of account {owner.account}, whose "
                        "resource-based policy does not admit it (AWS::Lambda::Permission)",
                    )


def _functions(templates: Sequence[StackTemplate]) -> dict[str, tuple[StackTemplate, str]]:
    """The ARN of every function with a fixed name -> its stack and logical id."""
    found = {}
    for stack in templates:
        for logical_id, function in stack.resources("AWS::Lambda::Function"):
            name = function.get("Properties", {}).get("FunctionName")
            if isinstance(name, str):
                arn = f"arn:{stack.partition}:lambda:{stack.region}:{stack.account}:function:{name}"
                found[arn] = (stack, logical_id)
    return found


def _admitted(templates: Sequence[StackTemplate]) -> dict[tuple[str, str], set[str]]:
    """(stack, function logical id) -> the principals its permissions admit to invoke it."""
    found: dict[tuple[str, str], set[str]] = {}
    for stack in templates:
        for _, permission in stack.resources("AWS::Lambda::Permission"):
            properties: dict[str, Any] = permission.get("Properties", {})
            function = properties.get("FunctionName")
            if properties.get("Action") != "lambda:InvokeFunction" or not isinstance(
                function, dict
            ):
                continue
            target = function.get("Ref") or (function.get("Fn::GetAtt") or [None])[0]
            principal = str(resolved(properties.get("Principal", ""), stack))
            found.setdefault((stack.name, str(target)), set()).add(principal)
    return found


RULE = Rule(
    "lambda-cross-account-invoke",
    "a role that may invoke a function of another account is admitted by that function's "
    "resource-based policy",
    "https://docs.aws.amazon.com/lambda/latest/dg/permissions-function-cross-account.html",
    check,
)
