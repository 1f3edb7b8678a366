"""ECR: a role of another account acts on a repository only if the repository's policy admits it
(its account or the role itself) for that action, as well as the role's own policy allowing it.
Within the repository's account the role's policy is enough."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from pipelines.conformance import graph
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import (
    action_matches,
    allowed,
    as_list,
    prepare,
    resolved,
    role_statements,
    statements,
)


class Repository(NamedTuple):
    stack: StackTemplate
    arn: str
    policy: list[dict[str, Any]]  # the repository policy's statements, resolved


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    repositories = list(_repositories(templates))
    if not repositories:
        return
    for stack in templates:
        for logical_id, role in stack.resources("AWS::IAM::Role"):
            own = list(_statements_of(stack, logical_id, role))
            named = sorted({a for s in own if _names_a_repository(s, stack) for a in _actions(s)})
            if not named:
                continue
            policy = prepare(own, stack)
            arn = graph.role_arn(stack.partition, stack.account, role.get("Properties", {}))
            for repository in repositories:
                if repository.stack.account == stack.account:
                    continue
                refused = [
                    action
                    for action in named
                    if allowed(policy, action, repository.arn)
                    and not _admits(repository, stack, arn, action)
                ]
                if refused:
                    yield RULE.finding(
                        stack,
                        f"{logical_id}.Policies",
                        f"the role may {', '.join(refused)} on {repository.arn}, whose "
                        f"repository policy does not admit account {stack.account} or the role "
                        "for it",
                    )


def _repositories(templates: Sequence[StackTemplate]) -> Iterator[Repository]:
    for stack in templates:
        for _, repository in stack.resources("AWS::ECR::Repository"):
            properties = repository.get("Properties", {})
            name = properties.get("RepositoryName")
            if not isinstance(name, str):
                continue
            arn = f"arn:{stack.partition}:ecr:{stack.region}:{stack.account}:repository/{name}"
            text = resolved(properties.get("RepositoryPolicyText"), stack)
            yield Repository(stack, arn, statements(text))


def _statements_of(
    stack: StackTemplate, logical_id: str, role: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The role's inline statements and those of the managed policies of its template that
    attach themselves to it."""
    yield from role_statements(role)
    for _, managed in stack.resources("AWS::IAM::ManagedPolicy"):
        properties = managed.get("Properties", {})
        if {"Ref": logical_id} in as_list(properties.get("Roles", [])):
            yield from statements(properties.get("PolicyDocument"))


def _names_a_repository(statement: dict[str, Any], stack: StackTemplate) -> bool:
    """An Allow statement naming an ECR repository: registry-wide actions such as
    GetAuthorizationToken are granted on "*" and need no repository policy."""
    return statement.get("Effect") == "Allow" and any(
        ":ecr:" in str(r) and ":repository/" in str(r)
        for r in as_list(resolved(statement.get("Resource", []), stack))
    )


def _actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action", [])) if str(a).startswith("ecr:")]


def _admits(
    repository: Repository, stack: StackTemplate, role_arn: str | None, action: str
) -> bool:
    """Whether an Allow statement of the repository policy names the role's account root or the
    role itself (or everyone) for `action`. Conditions are taken as met: this asks whether the
    repository can admit the role at all."""
    root = f"arn:{stack.partition}:iam::{stack.account}:root"
    principals = {root, stack.account, "*"} | ({role_arn} if role_arn else set())
    for statement in repository.policy:
        if statement.get("Effect") != "Allow":
            continue
        if not any(action_matches(str(a), action) for a in as_list(statement.get("Action", []))):
            continue
        principal = statement.get("Principal")
        named = as_list(principal.get("AWS", [])) if isinstance(principal, dict) else [principal]
        if principals & {str(p) for p in named}:
            return True
    return False


RULE = Rule(
    "ecr-cross-account-access",
    "a role that may pull from or push to a repository of another account is admitted by that "
    "repository's policy",
    "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policies.html",
    check,
)
