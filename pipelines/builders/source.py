"""<app>-source: the ECR repository (one per image) whose release tag starts a release."""

from __future__ import annotations

import json

from awacs import ecr as ecr_actions
from awacs.aws import Allow, Principal, Statement
from troposphere import GetAtt, Output, Ref, Template, ecr, iam

from pipelines import image_naming, naming
from pipelines.aws_facts import partition_of
from pipelines.builders.iam import (
    ACCOUNT_ROOT_TRUST_REASON,
    PULL_ACTIONS,
    allow,
    document,
    principals_trust,
    role_policy,
)
from pipelines.builders.template import new_template, suppress_checkov
from pipelines.config.models import Project

# The lifecycle rule that keeps every image with a `deployed-` tag expires such images only beyond
# this many. The release flow tags at most two images per environment (`deployed-<env>`, the
# digest it runs, and `deployed-<env>-previous`, its rollback target), and a pipeline holds at
# most 49 environments (50 stages, one of them the source), so at most 98 images: ten times
# that leaves room for the tags of environments since removed from promotion, which no release
# moves again. Past it, ECR would expire the oldest-pushed tagged image, possibly one an
# environment still runs; see docs/releases-and-images.md.
DEPLOYED_IMAGES_KEPT = 1000

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
        if not project.images
        else f"{project.app}: image repositories; a push of an image's release tag starts "
        "that image's release."
    )
    for index, name in enumerate(project.image_names()):
        _add_repository(template, project.for_image(name), first=index == 0)
    return template


def _add_repository(template: Template, project: Project, first: bool) -> None:
    """One image's repository (`project` is its view), its push role, and their outputs.

    The first image's repository keeps the logical ID the one `image` has: a repository is
    retained and named, so under a new ID CloudFormation would try to create it again, and fail,
    when an app of one image lists it first under `images` (docs/images.md)."""
    sfx = image_naming.logical_suffix(project.image_name)
    image = project.pipeline_image
    repository = ecr.Repository(
        "Repository" if first else f"Repository{sfx}",
        RepositoryName=image.repository,
        ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
        EncryptionConfiguration=ecr.EncryptionConfiguration(EncryptionType="KMS"),
        # Every tag is immutable except the release tag, which each push moves, and the
        # `deployed-` tags, which the release marker moves after each deployment.
        ImageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        ImageTagMutabilityExclusionFilters=[
            ecr.ImageTagMutabilityExclusionFilter(
                ImageTagMutabilityExclusionFilterType="WILDCARD",
                ImageTagMutabilityExclusionFilterValue=value,
            )
            for value in (image.release_tag, naming.DEPLOYED_TAG_WILDCARD)
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
            "which each push moves, and the deployed-* tags, which the release marker moves to "
            "what each environment runs; both by design, and releases are pinned by digest",
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
        push_role = template.add_resource(_push_role(project))
        template.add_output(
            Output(
                f"PushRoleArn{sfx}",
                Value=GetAtt(push_role, "Arn"),
                Description="Role an external CI assumes to push",
            )
        )
    template.add_output(Output(f"RepositoryName{sfx}", Value=Ref(repository)))
    template.add_output(Output(f"RepositoryArn{sfx}", Value=GetAtt(repository, "Arn")))
    template.add_output(Output(f"RepositoryUri{sfx}", Value=GetAtt(repository, "RepositoryUri")))


def _lifecycle(keep: int) -> str:
    """Rule 1 keeps every image the release marker tagged `deployed-...` (what an environment
    runs, or would roll back to); rule 2 keeps the newest `keep` images of the rest.

    ECR never lets a rule expire an image that a higher-priority rule selects by its tags, and
    requires the rule with tagStatus `any` to be evaluated last (the highest rulePriority).
    """
    deployed = {
        "rulePriority": 1,
        "description": "Keep every image an environment runs or would roll back to "
        f"(tags {naming.DEPLOYED_TAG_WILDCARD}, moved by the release marker)",
        "selection": {
            "tagStatus": "tagged",
            "tagPrefixList": [naming.DEPLOYED_TAG_PREFIX],
            "countType": "imageCountMoreThan",
            "countNumber": DEPLOYED_IMAGES_KEPT,
        },
        "action": {"type": "expire"},
    }
    newest = {
        "rulePriority": 2,
        "description": f"Keep the {keep} most recent images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
        "action": {"type": "expire"},
    }
    return json.dumps({"rules": [deployed, newest]}, sort_keys=True)


def _push_role(project: Project) -> iam.Role:
    partition = partition_of(project.toolchain.region)
    repository = naming.repository_arn(
        partition,
        project.toolchain.region,
        project.toolchain.account,
        project.pipeline_image.repository,
    )
    role = iam.Role(
        f"PushRole{image_naming.logical_suffix(project.image_name)}",
        RoleName=image_naming.push_role(project.app, project.image_name),
        Description=f"Lets an external CI push images to {project.pipeline_image.repository}",
        AssumeRolePolicyDocument=principals_trust(
            partition, project.pipeline_image.push_principals
        ),
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
