"""The pipeline's artifact store in one region: a KMS key and a private, versioned bucket.

The pipeline stack holds the store of the toolchain region; each other region an environment
lives in gets `<app>-artifacts-<region>`, a small stack with the same resources, because
CodePipeline needs a bucket and key in every region it acts in.
"""

from __future__ import annotations

from awacs import kms, s3
from troposphere import GetAtt, Join, Output, Ref, Template
from troposphere import kms as kms_resources
from troposphere import s3 as s3_resources

from pipelines import naming
from pipelines.aws_facts import partition_of
from pipelines.builders.iam import (
    deny_insecure_transport,
    document,
    key_owner_statement,
    principals_statement,
)
from pipelines.builders.template import new_template, suppress_checkov
from pipelines.config.models import BuiltinRunner, Project

ARTIFACT_KEY = "ArtifactKey"
ARTIFACT_BUCKET = "ArtifactBucket"
NONCURRENT_VERSION_DAYS = 30
READ_ARTIFACTS = "EnvironmentDeployRolesReadArtifacts"
PLAN_STORE = "EnvironmentTerraformRunnersUsePlanStore"


def build_artifacts(project: Project, region: str) -> Template:
    template = new_template(
        f"{project.app}: the release pipeline's artifact bucket and key in {region}."
    )
    add_artifact_store(template, project, region)
    template.add_output(Output("ArtifactBucketName", Value=Ref(ARTIFACT_BUCKET)))
    template.add_output(Output("ArtifactKeyArn", Value=GetAtt(ARTIFACT_KEY, "Arn")))
    return template


def add_artifact_store(template: Template, project: Project, region: str) -> None:
    partition = partition_of(region)
    deploy_roles = sorted(
        naming.role_arn(partition, env.account, naming.deploy_role(project.app, env.name))
        for env in project.environments
        if env.region == region and env.account != project.toolchain.account
    )
    plan_roles = _plan_store_roles(project, region)
    key_statements = [key_owner_statement(partition)]
    if plan_roles:
        key_statements.append(
            principals_statement(
                partition,
                plan_roles,
                [kms.Decrypt, kms.DescribeKey, kms.GenerateDataKey],
                ["*"],  # in a key policy "*" means this key
                sid=PLAN_STORE,
            )
        )
    if deploy_roles:
        key_statements.append(
            principals_statement(
                partition,
                deploy_roles,
                [kms.Decrypt, kms.DescribeKey],
                ["*"],  # in a key policy "*" means this key
                sid=READ_ARTIFACTS,
            )
        )
    key = template.add_resource(
        kms_resources.Key(
            ARTIFACT_KEY,
            Description=f"Encrypts {project.app}'s release artifacts and approval messages",
            EnableKeyRotation=True,
            KeyPolicy=document(*key_statements),
        )
    )
    template.add_resource(
        kms_resources.Alias(
            "ArtifactKeyAlias",
            AliasName=naming.artifact_key_alias(project.app),
            TargetKeyId=Ref(key),
        )
    )
    bucket = s3_resources.Bucket(
        ARTIFACT_BUCKET,
        BucketName=naming.artifact_bucket(project.app, project.toolchain.account, region),
        VersioningConfiguration=s3_resources.VersioningConfiguration(Status="Enabled"),
        BucketEncryption=s3_resources.BucketEncryption(
            ServerSideEncryptionConfiguration=[
                s3_resources.ServerSideEncryptionRule(
                    BucketKeyEnabled=True,
                    ServerSideEncryptionByDefault=s3_resources.ServerSideEncryptionByDefault(
                        SSEAlgorithm="aws:kms", KMSMasterKeyID=GetAtt(key, "Arn")
                    ),
                )
            ]
        ),
        PublicAccessBlockConfiguration=s3_resources.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3_resources.OwnershipControls(
            Rules=[s3_resources.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
        LifecycleConfiguration=s3_resources.LifecycleConfiguration(
            Rules=[
                s3_resources.LifecycleRule(
                    Id="expire-old-artifact-versions",
                    Status="Enabled",
                    NoncurrentVersionExpiration=s3_resources.NoncurrentVersionExpiration(
                        NoncurrentDays=NONCURRENT_VERSION_DAYS
                    ),
                    AbortIncompleteMultipartUpload=s3_resources.AbortIncompleteMultipartUpload(
                        DaysAfterInitiation=7
                    ),
                )
            ]
        ),
    )
    suppress_checkov(
        bucket,
        {
            "CKV_AWS_18": "holds only pipeline artifacts, written and read by the pipeline's own "
            "roles; object access is auditable with CloudTrail data events, and an access-log "
            "bucket would itself be unlogged",
        },
    )
    template.add_resource(bucket)
    objects = Join("", [GetAtt(bucket, "Arn"), "/*"])
    statements = [deny_insecure_transport([GetAtt(bucket, "Arn"), objects])]
    if deploy_roles:
        statements.append(
            principals_statement(
                partition,
                deploy_roles,
                [s3.GetObject, s3.GetObjectVersion],
                [objects],
                sid=READ_ARTIFACTS,
            )
        )
    if plan_roles:
        statements.append(
            principals_statement(
                partition,
                plan_roles,
                [s3.GetObject, s3.PutObject],
                [Join("", [GetAtt(bucket, "Arn"), "/plans/*"])],
                sid=PLAN_STORE,
            )
        )
    template.add_resource(
        s3_resources.BucketPolicy(
            "ArtifactBucketPolicy", Bucket=Ref(bucket), PolicyDocument=document(*statements)
        )
    )


def _plan_store_roles(project: Project, region: str) -> list[str]:
    """Terraform runner roles of other accounts that keep plans in this (the toolchain's) bucket
    under plans/: the plan's file and its SHA-256 pass from the planner to the applier here."""
    if region != project.toolchain.region or not project.runners:
        return []
    from pipelines.config.runners import environment_steps

    partition = partition_of(region)
    terraform = {
        name
        for name, entry in project.runners.items()
        if isinstance(entry, BuiltinRunner) and entry.builtin.startswith("terraform-")
    }
    return sorted(
        {
            naming.role_arn(
                partition, env.account, naming.env_runner_task_role(project.app, env.name, s.runner)
            )
            for env in project.environments
            if env.account != project.toolchain.account
            for s in environment_steps(project, env)
            if s.runner in terraform
        }
    )
