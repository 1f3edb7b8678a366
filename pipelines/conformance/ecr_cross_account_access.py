"""ECR: a role of another account acts on a repository only if the repository's policy admits it
(its account or the role itself) for that action, as well as the role's own policy allowing it.
Within the repository's account the role's policy is enough."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from pipelines.conformance.cross_account import admits, role_grants
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import matches, resolved, statements


class Repository(NamedTuple):
    stack: StackTemplate
    arn: str
    policy: list[dict[str, Any]]  # the repository policy's statements, resolved


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    repositories = list(_repositories(templates))
    for stack in templates:
        refused: dict[tuple[str, str], list[str]] = {}
        for grant in role_grants(stack):
            for repository in repositories:
                if repository.stack.account == stack.account:
                    continue
                # Registry-wide actions (GetAuthorizationToken) are granted on "*" and need no
                # repository policy: only a grant naming repositories is the repository's.
                if not any(
                    ":repository/" in r and matches(r, repository.arn) for r in grant.resources
                ):
                    continue
                refused.setdefault((grant.logical_id, repository.arn), []).extend(
                    a
                    for a in grant.actions
                    if a.startswith("ecr:") and not admits(repository.policy, stack, grant.arn, a)
                )
        for (logical_id, arn), actions in sorted(refused.items()):
            if actions:
                yield RULE.finding(
                    stack,
                    f"{logical_id}.Policies",
                    f"the role may {', '.join(sorted(set(actions)))} on {arn}, whose repository "
                    f"policy does not admit account {stack.account} or the role for it",
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


RULE = Rule(
    "ecr-cross-account-access",
    "a role that may pull from or push to a repository of another account is admitted by that "
    "repository's policy",
    "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policies.html",
    check,
)
