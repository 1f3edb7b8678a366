"""One Permission, one rule for `*`, wherever a user writes a permission: a service's task role
(pipeline.yaml and an environment's file) or a runner's job role."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipelines.config.builtin_runners import builtin_runner
from pipelines.config.models import Service, ServiceSettings
from pipelines.config.permissions import ANY_RESOURCE, Permission
from pipelines.config.runner_spec import BUILTIN_NAMES, RunnerSpec
from tests.invoker.fixture_runners import CONTEXT


def _service(permission: dict) -> object:
    return Service(permissions=[permission])


def _environment_service(permission: dict) -> object:
    return ServiceSettings(permissions=[permission])


def _runner(permission: dict) -> object:
    return RunnerSpec(
        on="ecs",
        image="release",
        scripts={"migrate": {"command": ["python", "-m", "app.migrate"]}},
        permissions=[permission],
    )


WHERE = [_service, _environment_service, _runner]


@pytest.mark.parametrize("where", WHERE)
def test_any_resource_is_refused_wherever_a_user_writes_a_permission(where) -> None:
    with pytest.raises(ValidationError, match="'\\*' alone is not accepted: name the resources"):
        where({"actions": ["s3:GetObject"], "resources": ["*"]})


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("resource", ["shop-uploads", "arn:aws:s3:::", "s3://shop-uploads/*"])
def test_a_resource_is_an_arn_wherever_a_user_writes_a_permission(where, resource) -> None:
    with pytest.raises(ValidationError, match="is not a resource ARN"):
        where({"actions": ["s3:GetObject"], "resources": [resource]})


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("action", ["s3:*", "*", "s3:Get*", "GetObject"])
def test_an_action_is_named_in_full_wherever_a_user_writes_a_permission(where, action) -> None:
    with pytest.raises(ValidationError, match="not an IAM action named in full, with no wildcard"):
        where({"actions": [action], "resources": ["arn:aws:s3:::shop-uploads/*"]})


@pytest.mark.parametrize("where", WHERE)
def test_wildcards_inside_an_arn_are_accepted(where) -> None:
    where({"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::shop-uploads/*"]})


def test_any_resource_is_made_only_on_purpose_and_with_named_actions() -> None:
    permission = Permission.on_any_resource(["ecr:GetAuthorizationToken"])
    assert (permission.effect, permission.resources) == ("Allow", [ANY_RESOURCE])
    assert permission.conditions == {}
    with pytest.raises(ValidationError, match="not an IAM action named in full"):
        Permission.on_any_resource(["ecr:*"])
    with pytest.raises(ValidationError):
        Permission.on_any_resource([])


def test_the_built_in_runners_use_any_resource_only_for_the_calls_without_resource_arns() -> None:
    specs = [builtin_runner(name, CONTEXT) for name in BUILTIN_NAMES]
    specs.append(builtin_runner("image-builder", CONTEXT, "codebuild"))
    unscoped = {
        action
        for spec in specs
        for p in spec.permissions
        if ANY_RESOURCE in p.resources
        for action in p.actions
    }
    assert "ecr:GetAuthorizationToken" in unscoped
    assert all(
        a == "ecr:GetAuthorizationToken" or a.startswith("ec2:Describe") for a in unscoped
    ), unscoped
