"""<app>-source: the ECR repository whose release tag starts a release."""

from __future__ import annotations

import json

from awacs import ecr as ecr_actions
from awacs.aws import Allow, Principal, Statement
from troposphere import GetAtt, Output, Ref, Template, ecr, iam

from pipelines import naming
from pipelines.builders.iam import (
    ACCOUNT_ROOT_TRUST_REASON,
    PULL_ACTIONS,
    allow,
    document,
    principals_trust,
    role_policy,
)
from pipelines.builders.template import new_template, suppress_checkov
from pipelines.config.aws_facts import partition_of
from pipelines.config.models import Project

PUSH_ACTIONS = [
    *PULL_ACTIONS,
    ecr_actions.CompleteLayerUpload,
    ecr_actions.DescribeImages,
    ecr_actions.InitiateLayerUpload,
    ecr_actions.PutImage,
    ecr_actions.UploadLayerPart,
]


def build_source(project: Project) -> Template:
    template = new_template(
        f"{project.app}: image repository; a push of the release tag starts a release."
    )
    image = project.image
    repository = ecr.Repository(
        "Repository",
        RepositoryName=image.repository,
        ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
        EncryptionConfiguration=ecr.EncryptionConfiguration(EncryptionType="KMS"),
        # Every tag is immutable except the release tag, which each release moves.
        ImageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        ImageTagMutabilityExclusionFilters=[
            ecr.ImageTagMutabilityExclusionFilter(
                ImageTagMutabilityExclusionFilterType="WILDCARD",
                ImageTagMutabilityExclusionFilterValue=image.release_tag,
            )
        ],
        LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=_lifecycle(image.keep_images)),
        # Images may still run in an environment: never delete them with the stack.
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    )
    suppress_checkov(
        repository,
        {
            "CKV_AWS_51": "tags are immutable (IMMUTABLE_WITH_EXCLUSION) except the release tag, "
            "which each release moves by design; releases are pinned by digest",
        },
    )
    pulling_accounts = project.accounts
    if pulling_accounts:
        partition = partition_of(project.toolchain.region)
        repository.RepositoryPolicyText = document(
            Statement(
                Sid="EnvironmentAccountsPull",
                Effect=Allow,
                Principal=Principal(
                    "AWS", [naming.account_root(partition, a) for a in pulling_accounts]
                ),
                Action=PULL_ACTIONS,
            )
        )
    template.add_resource(repository)
    if image.push_principals:
        template.add_resource(_push_role(project))
        template.add_output(
            Output(
                "PushRoleArn",
                Value=GetAtt("PushRole", "Arn"),
                Description="Role an external CI assumes to push",
            )
        )
    template.add_output(Output("RepositoryName", Value=Ref(repository)))
    template.add_output(Output("RepositoryArn", Value=GetAtt(repository, "Arn")))
    template.add_output(Output("RepositoryUri", Value=GetAtt(repository, "RepositoryUri")))
    return template


def _lifecycle(keep: int) -> str:
    rule = {
        "rulePriority": 1,
        "description": f"Keep the {keep} most recent images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
        "action": {"type": "expire"},
    }
    return json.dumps({"rules": [rule]}, sort_keys=True)


def _push_role(project: Project) -> iam.Role:
    partition = partition_of(project.toolchain.region)
    repository = naming.repository_arn(
        partition, project.toolchain.region, project.toolchain.account, project.image.repository
    )
    role = iam.Role(
        "PushRole",
        RoleName=naming.push_role(project.app),
        Description=f"Lets an external CI push images to {project.image.repository}",
        AssumeRolePolicyDocument=principals_trust(partition, project.image.push_principals),
        Policies=[
            role_policy(
                "push-images",
                # GetAuthorizationToken has no resource-level permissions.
                allow([ecr_actions.GetAuthorizationToken], ["*"]),
                allow(PUSH_ACTIONS, [repository]),
            )
        ],
    )
    suppress_checkov(role, ACCOUNT_ROOT_TRUST_REASON)
    return role
