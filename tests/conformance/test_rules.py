"""Every conformance rule, table-style: the example keeps it, and an edit that breaks exactly
that AWS rule is found by it, naming the stack and the resource."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pipelines.conformance.datasets import ALL_RULES
from pipelines.conformance.model import Rule, StackTemplate
from pipelines.conformance.rules import SYNTH_RULES, findings
from tests.conformance.support import padded, resource, stack, stack_templates, statements_of
from tests.support import CONFIGURATIONS, EXAMPLE, FIXTURES, config_id

Templates = list[StackTemplate]


class Case(NamedTuple):
    rule: str
    breaks: Callable[[Templates], None]
    stack: str  # the stack the finding names
    where: str  # the start of the finding's place
    message: str  # a part of the message
    config: Path = EXAMPLE  # the configuration whose templates are edited


def _cfn_role(t: Templates) -> dict[str, Any]:
    return resource(t, "shop-prod-deploy", "CloudFormationRole")


def _pipeline_role(t: Templates) -> dict[str, Any]:
    return resource(t, "shop-pipeline", "PipelineRole")


def _drop_action(role: dict[str, Any], action: str) -> None:
    for statement in statements_of(role):
        if action in statement["Action"]:
            statement["Action"].remove(action)


def _grow_inline(t: Templates) -> None:
    policy = _cfn_role(t)["Properties"]["Policies"][0]
    policy["PolicyDocument"] = padded(policy["PolicyDocument"], 10_240)


def _grow_boundary(t: Templates) -> None:
    boundary = resource(t, "shop-prod-deploy", "ServiceBoundary")["Properties"]
    boundary["PolicyDocument"] = padded(boundary["PolicyDocument"], 6_144)


def _grow_trust(t: Templates) -> None:
    trust = _cfn_role(t)["Properties"]["AssumeRolePolicyDocument"]
    trust["Statement"][0]["Principal"]["Service"] = [f"s{i:04d}.amazonaws.com" for i in range(120)]


def _many_managed_policies(t: Templates) -> None:
    _cfn_role(t)["Properties"]["ManagedPolicyArns"] = [
        f"arn:aws:iam::333333333333:policy/p{i}" for i in range(11)
    ]


def _grow_key_policy(t: Templates) -> None:
    key = resource(t, "shop-prod-deploy", "LogKey")["Properties"]
    key["KeyPolicy"] = padded(key["KeyPolicy"], 33_000)


def _grow_bucket_policy(t: Templates) -> None:
    policy = resource(t, "shop-pipeline", "ArtifactBucketPolicy")["Properties"]
    policy["PolicyDocument"] = padded(policy["PolicyDocument"], 21_000)


def _grow_repository_policy(t: Templates) -> None:
    repository = resource(t, "shop-source", "Repository")["Properties"]
    repository["RepositoryPolicyText"] = padded(repository["RepositoryPolicyText"], 10_300)


def _grow_topic_policy(t: Templates) -> None:
    stack(t, "shop-pipeline").body["Resources"]["ApprovalTopicPolicy"] = {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "Topics": [{"Ref": "ApprovalTopic"}],
            "PolicyDocument": padded({"Version": "2012-10-17", "Statement": []}, 31_000),
        },
    }


def _grow_environment_template(t: Templates) -> None:
    stack(t, "shop-prod-web").body["Metadata"] = {"padding": "x" * 52_000}


def _alias_store_key(t: Templates) -> None:
    pipeline = resource(t, "shop-pipeline", "Pipeline")["Properties"]
    pipeline["ArtifactStore"]["EncryptionKey"]["Id"] = (
        "arn:aws:kms:eu-west-1:111111111111:alias/shop-artifacts"
    )


def _pass_foreign_role(t: Templates) -> None:
    _pipeline_role(t)["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": ["arn:aws:iam::333333333333:role/shop-prod-cfn"],
        }
    )


def _bucket_forgets_prod(t: Templates) -> None:
    document = resource(t, "shop-pipeline", "ArtifactBucketPolicy")["Properties"]["PolicyDocument"]
    for statement in document["Statement"]:
        arns = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:PrincipalArn")
        if arns:
            arns.remove("arn:aws:iam::333333333333:role/shop-prod-deploy")


def _source_account_on_cloudformation(t: Templates) -> None:
    trust = _cfn_role(t)["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    trust["Condition"] = {"StringEquals": {"aws:SourceAccount": "333333333333"}}


def _unbounded_create_role(t: Templates) -> None:
    for statement in statements_of(_cfn_role(t)):
        if "iam:CreateRole" in statement["Action"] and statement["Effect"] == "Allow":
            del statement["Condition"]


def _role_without_boundary(t: Templates) -> None:
    del resource(t, "shop-prod-web", "TaskRole")["Properties"]["PermissionsBoundary"]


def _may_remove_boundaries(t: Templates) -> None:
    for statement in statements_of(_cfn_role(t)):
        if "iam:GetRole" in statement["Action"]:
            statement["Action"].append("iam:DeleteRolePermissionsBoundary")


def _reach_the_runner_cluster(t: Templates) -> None:
    policy = _cfn_role(t)["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Effect"] != "Deny"]


def _grant(t: Templates, action: str, resource: str) -> None:
    _cfn_role(t)["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": [action], "Resource": [resource]}
    )


def _register_on_a_cluster(t: Templates) -> None:
    _grant(t, "ecs:RegisterTaskDefinition", "arn:aws:ecs:eu-west-1:333333333333:cluster/shop-*")


def _describe_by_arn(t: Templates) -> None:
    _grant(
        t,
        "ecs:DescribeTaskDefinition",
        "arn:aws:ecs:eu-west-1:333333333333:task-definition/shop-prod-*:*",
    )


def _register_anything(t: Templates) -> None:
    _grant(t, "ecs:RegisterTaskDefinition", "*")


def _lose_own_log_groups(t: Templates) -> None:
    _drop_action(_cfn_role(t), "logs:DeleteLogGroup")


HOOKS = FIXTURES / "valid" / "hooks"


def _hook_role_cannot_invoke(t: Templates) -> None:
    _drop_action(resource(t, "shop-prod-runner", "HookRole"), "lambda:InvokeFunction")


def _hook_role_not_passable(t: Templates) -> None:
    role = _cfn_role(t)
    for policy in role["Properties"]["Policies"]:
        policy["PolicyDocument"]["Statement"] = [
            s
            for s in policy["PolicyDocument"]["Statement"]
            if not str(s["Resource"]).endswith("shop-prod-runner-hook']")
        ]


def _invoker_forgets_prod_hooks(t: Templates) -> None:
    del stack(t, "shop-runner").body["Resources"]["HookInvokeProd"]


def _repository_forgets_prod(t: Templates) -> None:
    [pull] = resource(t, "shop-source", "Repository")["Properties"]["RepositoryPolicyText"][
        "Statement"
    ]
    pull["Principal"]["AWS"].remove("arn:aws:iam::333333333333:root")


def _prod_role_pushes(t: Templates) -> None:
    """A task role of prod allowed to push to the toolchain's repository, which admits the
    environment accounts to pull only."""
    role = resource(t, "shop-prod-web", "TaskRole")
    role["Properties"].setdefault("Policies", []).append(
        {
            "PolicyName": "push",
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["ecr:PutImage", "ecr:BatchGetImage"],
                        "Resource": "arn:aws:ecr:eu-west-1:111111111111:repository/shop-web",
                    }
                ]
            },
        }
    )


def _without_prod(statement: dict[str, Any]) -> None:
    statement["Principal"]["AWS"].remove("arn:aws:iam::333333333333:root")


def _bucket_forgets_prod_reads(t: Templates) -> None:
    policy = resource(t, "shop-pipeline", "ArtifactBucketPolicy")["Properties"]["PolicyDocument"]
    _without_prod(next(s for s in policy["Statement"] if s["Effect"] == "Allow"))


def _key_forgets_prod_reads(t: Templates) -> None:
    policy = resource(t, "shop-pipeline", "ArtifactKey")["Properties"]["KeyPolicy"]
    _without_prod(
        next(s for s in policy["Statement"] if s.get("Sid", "").startswith("Environment"))
    )


CASES = [
    Case("iam-role-inline-policies-size", _grow_inline, "shop-prod-deploy",
         "CloudFormationRole.Policies", "IAM allows 10,240 per role"),
    Case("iam-managed-policy-size", _grow_boundary, "shop-prod-deploy",
         "ServiceBoundary.PolicyDocument", "AWS allows 6,144 characters"),
    Case("iam-trust-policy-size", _grow_trust, "shop-prod-deploy",
         "CloudFormationRole.AssumeRolePolicyDocument", "AWS allows 2,048 characters"),
    Case("iam-managed-policies-per-role", _many_managed_policies, "shop-prod-deploy",
         "CloudFormationRole.ManagedPolicyArns", "11 managed policies"),
    Case("kms-key-policy-size", _grow_key_policy, "shop-prod-deploy",
         "LogKey.KeyPolicy", "AWS allows 32,768 bytes"),
    Case("s3-bucket-policy-size", _grow_bucket_policy, "shop-pipeline",
         "ArtifactBucketPolicy.PolicyDocument", "AWS allows 20,480 bytes"),
    Case("ecr-repository-policy-size", _grow_repository_policy, "shop-source",
         "Repository.RepositoryPolicyText", "AWS allows 10,240 characters"),
    Case("sns-topic-policy-size", _grow_topic_policy, "shop-pipeline",
         "ApprovalTopicPolicy.PolicyDocument", "AWS allows 30,720 bytes"),
    Case("cloudformation-template-body-size", _grow_environment_template, "shop-prod-web",
         "template", "cannot read the toolchain's artifact bucket"),
    Case("codepipeline-lambda-permissions",
         lambda t: _drop_action(_pipeline_role(t), "lambda:ListFunctions"), "shop-pipeline",
         "PipelineRole.Policies", "lambda:ListFunctions"),
    Case("kms-alias-same-account", _alias_store_key, "shop-pipeline",
         "Pipeline.ArtifactStore.EncryptionKey.Id", "name it by key ARN"),
    Case("iam-pass-role-same-account", _pass_foreign_role, "shop-pipeline",
         "PipelineRole.Policies", "a role of account 333333333333"),
    Case("artifact-store-admits-action-roles", _bucket_forgets_prod, "shop-pipeline",
         "ArtifactBucketPolicy.PolicyDocument", "does not admit "
         "arn:aws:iam::333333333333:role/shop-prod-deploy (s3:GetObject)"),
    Case("trust-condition-keys", _source_account_on_cloudformation, "shop-prod-deploy",
         "CloudFormationRole.AssumeRolePolicyDocument",
         "aws:sourceaccount of cloudformation.amazonaws.com"),
    Case("permissions-boundary", _unbounded_create_role, "shop-prod-deploy",
         "CloudFormationRole.Policies", "without an iam:PermissionsBoundary condition"),
    Case("permissions-boundary", _role_without_boundary, "shop-prod-web",
         "TaskRole.PermissionsBoundary", "it has none"),
    Case("permissions-boundary", _may_remove_boundaries, "shop-prod-deploy",
         "CloudFormationRole.Policies", "iam:DeleteRolePermissionsBoundary is allowed"),
    Case("cloudformation-role-scope", _reach_the_runner_cluster, "shop-prod-deploy",
         "CloudFormationRole.Policies",
         "may ecs:DeleteCluster arn:aws:ecs:eu-west-1:333333333333:cluster/shop-prod-runner"),
    Case("cloudformation-role-scope", _lose_own_log_groups, "shop-prod-deploy",
         "CloudFormationRole.Policies", "cannot logs:DeleteLogGroup"),
    Case("cloudformation-handler-permissions",
         lambda t: _drop_action(_cfn_role(t), "ecs:DescribeServiceDeployments"),
         "shop-prod-deploy", "CloudFormationRole.Policies",
         "ecs:DescribeServiceDeployments is missing: the update handler of AWS::ECS::Service"),
    Case("iam-actions",
         lambda t: next(statements_of(_cfn_role(t)))["Action"].append("ecs:DescribeEverything"),
         "shop-prod-deploy", "CloudFormationRole.Policies", "ecs:DescribeEverything is not an"),
    Case("iam-actions", _register_on_a_cluster, "shop-prod-deploy", "CloudFormationRole.Policies",
         "ecs:RegisterTaskDefinition applies to task-definition, and none of "
         "arn:aws:ecs:eu-west-1:333333333333:cluster/shop-* is one"),
    Case("iam-actions", _describe_by_arn, "shop-prod-deploy", "CloudFormationRole.Policies",
         "ecs:DescribeTaskDefinition takes no resource-level permissions"),
    Case("iam-actions", _register_anything, "shop-prod-deploy", "CloudFormationRole.Policies",
         'ecs:RegisterTaskDefinition is allowed on "*" but takes resource-level permissions'),
    Case("ecs-lifecycle-hook-role", _hook_role_cannot_invoke, "shop-prod-web",
         "Service.DeploymentConfiguration.LifecycleHooks[0].RoleArn",
         "may not lambda:InvokeFunction arn:aws:lambda:eu-west-1:333333333333:function:"
         "shop-prod-runner-hook", HOOKS),
    Case("ecs-lifecycle-hook-role", _hook_role_not_passable, "shop-prod-web",
         "Service.DeploymentConfiguration.LifecycleHooks[0].RoleArn",
         "may not pass arn:aws:iam::333333333333:role/shop-prod-runner-hook to ecs.amazonaws.com",
         HOOKS),
    Case("lambda-cross-account-invoke", _invoker_forgets_prod_hooks, "shop-prod-runner",
         "HookFunctionRole.Policies", "whose resource-based policy does not admit it", HOOKS),
    Case("ecr-cross-account-access", _repository_forgets_prod, "shop-prod-web",
         "ExecutionRole.Policies", "may ecr:BatchCheckLayerAvailability, ecr:BatchGetImage, "
         "ecr:GetDownloadUrlForLayer on arn:aws:ecr:eu-west-1:111111111111:repository/shop-web, "
         "whose repository policy does not admit account 333333333333"),
    Case("s3-cross-account-access", _bucket_forgets_prod_reads, "shop-prod-deploy",
         "DeployRole.Policies", "which the policy of bucket ArtifactBucket (account "
         "111111111111) does not admit account 333333333333"),
    Case("s3-cross-account-access", _key_forgets_prod_reads, "shop-prod-deploy",
         "DeployRole.Policies", "which key ArtifactKey (account 111111111111) encrypts, whose key "
         "policy does not admit account 333333333333 or the role to kms:Decrypt"),
    Case("s3-cross-account-access", lambda t: _drop_action(_pipeline_role(t), "kms:Decrypt"),
         "shop-pipeline", "PipelineRole.Policies",
         "which key ArtifactKey encrypts, but its own policy does not allow kms:Decrypt with it"),
    Case("ecr-cross-account-access", _prod_role_pushes, "shop-prod-web", "TaskRole.Policies",
         "the role may ecr:PutImage on arn:aws:ecr:eu-west-1:111111111111:repository/shop-web,"),
]  # fmt: skip


def _rule(rule_id: str) -> Rule:
    return next(r for r in ALL_RULES if r.id == rule_id)


def test_every_rule_has_a_case_and_its_aws_documentation() -> None:
    assert sorted({c.rule for c in CASES}) == sorted(r.id for r in ALL_RULES)
    for rule in ALL_RULES:
        assert rule.doc.startswith("https://docs.aws.amazon.com/"), rule.id


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}:{c.breaks.__name__}")
def test_the_rule_finds_what_breaks_it_and_only_that(case: Case) -> None:
    templates = stack_templates(case.config)
    rule = _rule(case.rule)
    assert rule.findings(templates) == []

    case.breaks(templates)

    found = rule.findings(templates)
    assert found, f"{case.rule} missed {case.breaks.__name__}"
    assert any(
        f.stack == case.stack and f.where.startswith(case.where) and case.message in f.message
        for f in found
    ), "\n".join(map(str, found))
    assert all(f.rule == rule.id and f.doc == rule.doc for f in found)


@pytest.mark.parametrize("directory", CONFIGURATIONS, ids=config_id)
def test_every_valid_configuration_keeps_every_rule(directory: Any) -> None:
    assert findings(stack_templates(directory), ALL_RULES) == []


def test_the_synth_rules_need_neither_cfn_lint_nor_the_iam_dataset() -> None:
    dataset_rules = {r.id for r in ALL_RULES} - {r.id for r in SYNTH_RULES}
    assert dataset_rules == {"cloudformation-handler-permissions", "iam-actions"}


def test_a_template_body_over_the_inline_limit_is_fine_in_the_toolchain_account() -> None:
    templates = stack_templates(EXAMPLE)
    stack(templates, "shop-source").body["Metadata"] = {"padding": "x" * 52_000}
    assert _rule("cloudformation-template-body-size").findings(templates) == []


def test_a_cross_account_pipeline_with_another_regions_store_names_its_key_by_arn() -> None:
    templates = stack_templates(FIXTURES / "valid" / "multi-account")
    pipeline = next(t for t in templates if t.kind == "pipeline")
    stores = pipeline.body["Resources"]["Pipeline"]["Properties"].get("ArtifactStores", [])
    others = [s for s in stores if s["Region"] != pipeline.region]
    assert others, "the fixture should have an artifact store in a second region"
    for store in others:
        assert store["ArtifactStore"]["EncryptionKey"]["Id"] == {
            "Ref": "ArtifactKey" + "".join(p.capitalize() for p in store["Region"].split("-"))
        }
    assert _rule("kms-alias-same-account").findings(templates) == []
