"""The release marker in `<app>-pipeline`: a small Lambda function that CodePipeline invokes after
each environment's deployment, and what it needs.

The function (pipelines/release_marker.py, inlined as `Code.ZipFile`) tags the released digest
`deployed-<env>` in the repository and the digest that carried that tag before
`deployed-<env>-previous`. The repository's lifecycle policy (source.py) never expires an image
with a `deployed-` tag, so what every environment runs, and what it would roll back to, stays
pullable however many images are pushed after it. See docs/releases-and-images.md.
"""

from __future__ import annotations

from importlib import resources

from awacs import codepipeline as codepipeline_actions
from awacs import ecr as ecr_actions
from awacs import logs as logs_actions
from troposphere import GetAtt, Template, awslambda, iam, logs

from pipelines import image_naming, naming
from pipelines.aws_facts import partition_of
from pipelines.builders.iam import allow, logs_key, role_policy, service_trust
from pipelines.builders.service import LOG_RETENTION_DAYS
from pipelines.builders.template import suppress_checkov
from pipelines.config.models import Project
from pipelines.release.lead_time import MARKER_TIMEOUT_SECONDS

MARKER_FUNCTION = "ReleaseMarkerFunction"
MARKER_RUNTIME = "python3.12"
MARKER_MEMORY_MB = 128
MARKER_HANDLER = "index.handler"  # CloudFormation writes inline code to a file named index
MARKER_SOURCE = "release_marker.py"  # in the pipelines package
MAX_INLINE_CODE_CHARS = 4096  # CloudFormation's historic ZipFile limit, kept as the bound

# checkov findings that do not apply to the release marker Lambda.
MARKER_REASONS = {
    "CKV_AWS_115": "reserving concurrency fails outright in accounts whose Lambda quota is low "
    "(AWS keeps 10 unreserved, and new accounts may have only 10 in all), which would break the "
    "first deploy; the marker runs once per environment per release (QUEUED: one execution per "
    "stage at a time) and each call is three ECR requests",
    "CKV_AWS_116": "invoked only by CodePipeline, asynchronously: a failed call is retried by "
    "Lambda and then reported by CodePipeline itself (the job times out and the action fails), "
    "so a dead-letter queue would hold nothing anyone reads",
    "CKV_AWS_117": "the marker calls only AWS APIs (ECR, CodePipeline); inside a VPC it would need "
    "NAT or interface endpoints for each, adding cost and no protection",
}


def marker_source() -> str:
    """The function's code, as the package holds it (read at synth; never imported here, so the
    synth path does not load boto3)."""
    return resources.files("pipelines").joinpath(MARKER_SOURCE).read_text(encoding="utf-8")


def marker_function_arn(project: Project) -> str:
    toolchain = project.toolchain
    return naming.arn(
        partition_of(toolchain.region),
        "lambda",
        toolchain.region,
        toolchain.account,
        f"function:{image_naming.release_marker_function(project.app, project.image_name)}",
    )


def add_release_marker(template: Template, project: Project) -> awslambda.Function:
    """The marker function, its role, and its KMS-encrypted log group with retention."""
    app, toolchain = project.app, project.toolchain
    partition = partition_of(toolchain.region)
    function_name = image_naming.release_marker_function(app, project.image_name)
    # One marker per image's pipeline, each allowed only its own repository.
    sfx = image_naming.logical_suffix(project.image_name)
    log_group_name = naming.lambda_log_group(function_name)
    key = template.add_resource(
        logs_key(
            f"ReleaseMarkerLogKey{sfx}",
            f"Encrypts the logs of {app}'s release marker",
            partition=partition,
            region=toolchain.region,
            sid=f"CloudWatchLogsEncryptsReleaseMarker{sfx}Logs",
            log_groups=[
                naming.arn(
                    partition,
                    "logs",
                    toolchain.region,
                    toolchain.account,
                    f"log-group:{log_group_name}",
                )
            ],
        )
    )
    log_group = template.add_resource(
        logs.LogGroup(
            f"ReleaseMarkerLogGroup{sfx}",
            LogGroupName=log_group_name,
            RetentionInDays=LOG_RETENTION_DAYS,
            KmsKeyId=GetAtt(key, "Arn"),
        )
    )
    repository = naming.repository_arn(
        partition, toolchain.region, toolchain.account, project.pipeline_image.repository
    )
    role = template.add_resource(
        iam.Role(
            f"ReleaseMarkerRole{sfx}",
            RoleName=image_naming.release_marker_role(app, project.image_name),
            Description=f"{app}'s release marker Lambda runs as this role",
            # No aws:SourceAccount condition: AWS does not document that Lambda sets it when it
            # assumes an execution role, and a condition on a key the request lacks denies it.
            AssumeRolePolicyDocument=service_trust("lambda.amazonaws.com"),
            Policies=[
                role_policy(
                    "move-release-tags",
                    allow(
                        [logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                        [GetAtt(log_group, "Arn")],
                    ),
                    allow(
                        [
                            ecr_actions.BatchGetImage,
                            ecr_actions.DescribeImages,
                            ecr_actions.PutImage,
                        ],
                        [repository],
                    ),
                    # CodePipeline's job result APIs have no resource-level permissions.
                    allow(
                        [
                            codepipeline_actions.PutJobFailureResult,
                            codepipeline_actions.PutJobSuccessResult,
                        ],
                        ["*"],
                    ),
                )
            ],
        )
    )
    function = awslambda.Function(
        f"{MARKER_FUNCTION}{sfx}",
        FunctionName=function_name,
        Description=f"{app}'s release marker: tags the digest each environment runs as "
        f"{naming.deployed_tag('<env>')} in {project.pipeline_image.repository}",
        Runtime=MARKER_RUNTIME,
        Handler=MARKER_HANDLER,
        Code=awslambda.Code(ZipFile=marker_source()),
        Role=GetAtt(role, "Arn"),
        Timeout=MARKER_TIMEOUT_SECONDS,
        MemorySize=MARKER_MEMORY_MB,
        # Lambda would create /aws/lambda/<function> itself, unencrypted and kept forever, if
        # the function ran before the group above existed.
        DependsOn=[log_group.title],
    )
    suppress_checkov(function, MARKER_REASONS)
    return template.add_resource(function)
