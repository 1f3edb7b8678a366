"""<app>-runner and <app>-<env>-runner: where deploy-runner jobs run, and their gatekeeper.

`<app>-runner` (toolchain account and region) holds the invoker Lambda, which CodePipeline's
runner steps and `pipelines run` call and which admits only allow-listed requests; one CodeBuild
project per `on: codebuild` runner; and, when `runner.network` is set, an ECS cluster with a task
definition per ECS runner for jobs started without an environment.

`<app>-<env>-runner` (the environment's account and region) holds what the ECS runners of that
environment's steps need: a cluster, a task definition and a role per runner with the runner's
permissions narrowed to the environment, and the role the invoker assumes there to start, watch
and stop exactly those tasks. Jobs of an environment run in its account and network.

Every role is one runner's or one purpose's; no statement has a "*" action, and `Resource: "*"`
appears only for APIs without resource-level permissions (each says which; a built-in runner's
are made by `Permission.on_any_resource`, and a user-written runner cannot ask for it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from awacs import awslambda as lambda_actions
from awacs import cloudformation as cfn_actions
from awacs import codepipeline as codepipeline_actions
from awacs import ecs as ecs_actions
from awacs import iam as iam_actions
from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs import sts as sts_actions
from awacs.aws import Statement
from troposphere import (
    GetAtt,
    Output,
    Ref,
    Template,
    awslambda,
    codebuild,
    ec2,
    ecs,
    encode_to_dict,
    iam,
    logs,
)
from troposphere import kms as kms_resources

from pipelines import image_naming, invoker_package, naming, patterns
from pipelines.aws_facts import partition_of
from pipelines.builders import fargate
from pipelines.builders.iam import (
    ACCOUNT_ROOT_TRUST_REASON,
    ECS_TASKS,
    aliased_key_statement,
    allow,
    ecs_task_trust,
    granted_statements,
    image_pull_statements,
    logs_key,
    principals_trust,
    role_policy,
    secret_read_statements,
    service_trust,
)
from pipelines.builders.template import new_template, suppress_checkov
from pipelines.config import runners as config_runners
from pipelines.config.models import Environment, Network, Project
from pipelines.config.permissions import Permission
from pipelines.config.runner_spec import RunnerSpec
from pipelines.invoker import forwarder, names
from pipelines.invoker.defaults import RELEASE_IMAGE

LOG_RETENTION_DAYS = 365
INVOKER_RUNTIME = "python3.12"
INVOKER_TIMEOUT_SECONDS = 60
INVOKER_MEMORY_MB = 256
CODEBUILD_MIN_TIMEOUT_MINUTES = 5  # CodeBuild's lowest allowed build timeout

# The output variables a CodeBuild runner step hands to CodePipeline (see runner/jobs.py emit).
EXPORTED_VARIABLES = (
    "summary",
    "changeSet",
    "changeSetId",
    "planSha256",
    "stackStatus",
)
CODEBUILD_OUTPUT_FILE = "/tmp/pipelines-outputs"

# CodeBuild LINUX_CONTAINER sizes: (compute type, vCPU as Fargate CPU units, memory MiB).
CODEBUILD_SIZES = (
    ("BUILD_GENERAL1_SMALL", 2 * 1024, 3 * 1024),
    ("BUILD_GENERAL1_MEDIUM", 4 * 1024, 7 * 1024),
    ("BUILD_GENERAL1_LARGE", 8 * 1024, 15 * 1024),
    ("BUILD_GENERAL1_2XLARGE", 72 * 1024, 145 * 1024),
)

_ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@"
    + patterns.DIGEST
    + ")?"
)

# checkov findings that do not apply to the invoker Lambda.
INVOKER_REASONS = {
    "CKV_AWS_115": "reserving concurrency fails outright in accounts whose Lambda quota is low "
    "(AWS keeps 10 unreserved, and new accounts may have only 10 in all), which would break the "
    "first deploy; each call starts or checks one job and returns within seconds, and the "
    "allow-list, not a concurrency cap, bounds what jobs can do",
    "CKV_AWS_116": "invoked by CodePipeline jobs and `pipelines run`: a failed CodePipeline call "
    "is retried or reported by CodePipeline itself (the job times out and the action fails), "
    "and `pipelines run` sees the error synchronously, so a dead-letter queue would hold "
    "nothing anyone reads",
    "CKV_AWS_117": "the invoker calls only AWS APIs (ECS, CloudWatch Logs, CodePipeline, STS); "
    "inside a VPC it would need NAT or interface endpoints for each, adding cost and no "
    "protection",
}


@dataclass(frozen=True)
class _Place:
    """Where a runner stack lives."""

    partition: str
    account: str
    region: str

    def arn(self, service: str, resource: str) -> str:
        return naming.arn(self.partition, service, self.region, self.account, resource)


# <app>-runner ---------------------------------------------------------------------------------


def build_runner(project: Project, invoker_code_key: str) -> Template:
    """The toolchain's runner stack: invoker Lambda, CodeBuild runners, optional ECS runners."""
    app, toolchain = project.app, project.toolchain
    place = _Place(partition_of(toolchain.region), toolchain.account, toolchain.region)
    allowed = config_runners.allow_list(project)
    builds = {n: s for n, s in allowed.items() if s.on == "codebuild"}
    network = project.runner.network if project.runner else None
    tasks = {n: s for n, s in allowed.items() if s.on == "ecs" and s.image != RELEASE_IMAGE}
    if network is None:
        tasks = {}
    _check_logical_ids([*builds, *tasks])

    template = new_template(
        f"{app}: the deploy runner's invoker, which admits only allow-listed jobs, and the "
        "runners of the toolchain account."
    )
    function_name = naming.invoker_function(app)
    log_group_names = [naming.lambda_log_group(function_name)]
    if builds or tasks:
        log_group_names.append(naming.runner_log_group(app))
    key = template.add_resource(
        _log_key(
            place,
            "RunnerLogKey",
            f"Encrypts {app}'s deploy-runner and invoker logs",
            log_group_names,
        )
    )
    invoker_logs = template.add_resource(
        _log_group("InvokerLogGroup", naming.lambda_log_group(function_name), key)
    )
    runner_logs = None
    if builds or tasks:
        runner_logs = template.add_resource(
            _log_group("RunnerLogGroup", naming.runner_log_group(app), key)
        )

    invoker_statements = [
        allow(
            [logs_actions.CreateLogStream, logs_actions.PutLogEvents],
            [GetAtt(invoker_logs, "Arn")],
        ),
        # CodePipeline's job result APIs have no resource-level permissions.
        allow(
            [codepipeline_actions.PutJobFailureResult, codepipeline_actions.PutJobSuccessResult],
            ["*"],
        ),
    ]
    skipping = [
        name
        for name in project.image_names()
        if any(
            s.on_rollback == "skip" and s.image == name
            for env in project.environments
            for s in config_runners.environment_steps(project, env)
        )
    ]
    if skipping:
        # A step that skips rollbacks: the invoker reads its execution's type (handler.py), in
        # the pipeline of that step's image only.
        invoker_statements.append(
            allow(
                [codepipeline_actions.GetPipelineExecution],
                [
                    place.arn("codepipeline", image_naming.pipeline_name(app, name))
                    for name in skipping
                ],
            )
        )
    invoke_roles = sorted(
        {
            naming.role_arn(place.partition, env.account, naming.runner_invoke_role(app, env.name))
            for env in config_runners.ecs_environments(project)
        }
    )
    if invoke_roles:
        invoker_statements.append(allow([sts_actions.AssumeRole], invoke_roles))

    if tasks:
        assert network is not None and runner_logs is not None
        invoker_statements += _add_toolchain_tasks(
            template, project, place, tasks, network, runner_logs
        )

    for name, spec in sorted(builds.items()):
        assert runner_logs is not None
        _add_codebuild_runner(template, project, place, name, spec, runner_logs)

    role = template.add_resource(
        iam.Role(
            "InvokerRole",
            RoleName=naming.invoker_role(app),
            Description=f"{app}'s deploy-runner invoker Lambda runs as this role",
            AssumeRolePolicyDocument=service_trust("lambda.amazonaws.com"),
            Policies=[role_policy("start-and-watch-runner-jobs", *invoker_statements)],
        )
    )
    function = awslambda.Function(
        "InvokerFunction",
        FunctionName=function_name,
        Description=f"{app}'s deploy-runner gatekeeper: starts only allow-listed jobs",
        Runtime=INVOKER_RUNTIME,
        Handler=invoker_package.HANDLER,
        Code=awslambda.Code(
            S3Bucket=naming.artifact_bucket(app, toolchain.account, toolchain.region),
            S3Key=invoker_code_key,
        ),
        Role=GetAtt(role, "Arn"),
        Timeout=INVOKER_TIMEOUT_SECONDS,
        MemorySize=INVOKER_MEMORY_MB,
        # Lambda would create /aws/lambda/<function> itself, unencrypted and kept forever, if
        # the function ran before the group above existed.
        DependsOn=[invoker_logs.title],
    )
    suppress_checkov(function, INVOKER_REASONS)
    template.add_resource(function)
    for env in config_runners.hook_environments(project):
        # Lambda admits a role of another account through the function's resource-based
        # policy; the hook function's role also needs lambda:InvokeFunction on this function
        # in its own policy (https://docs.aws.amazon.com/lambda/latest/dg/
        # permissions-function-cross-account.html).
        template.add_resource(
            awslambda.Permission(
                f"HookInvoke{_camel(env.name)}",
                FunctionName=Ref(function),
                Action="lambda:InvokeFunction",
                Principal=naming.role_arn(
                    partition_of(env.region),
                    env.account,
                    naming.hook_function_role(app, env.name),
                ),
            )
        )
    return template


def _add_toolchain_tasks(
    template: Template,
    project: Project,
    place: _Place,
    tasks: Mapping[str, RunnerSpec],
    network: Network,
    log_group: logs.LogGroup,
) -> list[Statement]:
    """The toolchain's ECS runners; returns what the invoker needs to run them."""
    app = project.app
    cells = _TaskCells(
        where="the toolchain account",
        whose="the toolchain's",
        starts=f"ECS starts {app}'s toolchain runner jobs with this role",
        vpc=network.vpc,
        cluster=naming.runner_cluster(app),
        execution_role=naming.runner_execution_role(app),
        log_group=naming.runner_log_group(app),
        stack=naming.runner_stack(app),
        task_role=lambda name: naming.runner_task_role(app, name),
        family=lambda name: naming.runner_task_family(app, name),
    )
    return _add_runner_tasks(template, project, place, tasks, log_group, cells, _own_image)


class _TaskCells(NamedTuple):
    """Where one cluster of runner tasks runs: what its parts are named and called there."""

    where: str  # "in <where>": the toolchain account, or the environment
    whose: str  # "<whose> runner tasks"
    starts: str  # the execution role's description
    vpc: str
    cluster: str
    execution_role: str
    log_group: str
    stack: str
    task_role: Callable[[str], str]  # runner name -> role name
    family: Callable[[str], str]  # runner name -> task definition family


def _own_image(spec: RunnerSpec) -> str:
    return spec.image


def _add_runner_tasks(
    template: Template,
    project: Project,
    place: _Place,
    tasks: Mapping[str, RunnerSpec],
    log_group: logs.LogGroup,
    cells: _TaskCells,
    image_of: Callable[[RunnerSpec], str],
    release_images: Sequence[str] = (),
) -> list[Statement]:
    """A cluster, its security group, and per runner a task role and task definition; returns
    the statements that start, watch and stop those tasks."""
    app = project.app
    template.add_resource(_cluster("RunnerCluster", cells.cluster))
    group = template.add_resource(
        _security_group(
            "RunnerSecurityGroup", f"{app} deploy-runner jobs in {cells.where}", cells.vpc
        )
    )
    execution_role = template.add_resource(
        _execution_role(
            "RunnerExecutionRole",
            cells.execution_role,
            cells.starts,
            place,
            tasks,
            log_group,
            release_images,
        )
    )
    task_roles = []
    families = []
    for name, spec in sorted(tasks.items()):
        task_role = template.add_resource(
            _task_role(
                f"Runner{_camel(name)}TaskRole",
                cells.task_role(name),
                f"{app}'s {name} runner jobs in {cells.where} run as this role",
                place,
                spec,
            )
        )
        task_roles.append(task_role)
        family = cells.family(name)
        families.append(family)
        template.add_resource(
            _task_definition(
                f"Runner{_camel(name)}TaskDefinition",
                family,
                name,
                spec,
                image_of(spec),
                place.region,
                log_group,
                execution_role,
                task_role,
            )
        )
    template.add_output(
        Output(
            naming.RUNNER_SECURITY_GROUP_OUTPUT,
            Description=f"The security group of {cells.whose} runner tasks",
            Value=Ref(group),
        )
    )
    return _task_control_statements(
        place,
        cells.cluster,
        families,
        [execution_role, *task_roles],
        cells.log_group,
        cells.stack,
    )


def _task_control_statements(
    place: _Place,
    cluster: str,
    families: Sequence[str],
    roles: Sequence[iam.Role],
    log_group: str,
    stack: str,
) -> list[Statement]:
    """Start, watch and stop the runner tasks of one cluster, and read their logs."""
    return [
        allow(
            [ecs_actions.RunTask],
            [place.arn("ecs", f"task-definition/{f}:*") for f in families],
            ArnEquals={"ecs:cluster": place.arn("ecs", f"cluster/{cluster}")},
        ),
        allow(
            [ecs_actions.DescribeTasks, ecs_actions.StopTask],
            [place.arn("ecs", f"task/{cluster}/*")],
        ),
        # The invoker finds a job's task before starting one (CodePipeline may deliver a job
        # twice). ListTasks names only container instances, which Fargate tasks have none of:
        # the cluster condition is what scopes it.
        allow(
            [ecs_actions.ListTasks],
            ["*"],
            ArnEquals={"ecs:cluster": place.arn("ecs", f"cluster/{cluster}")},
        ),
        allow(
            [iam_actions.PassRole],
            [GetAtt(role, "Arn") for role in roles],
            StringEquals={"iam:PassedToService": ECS_TASKS},
        ),
        allow(
            [logs_actions.GetLogEvents],
            [place.arn("logs", f"log-group:{log_group}:log-stream:*")],
        ),
        # The invoker reads the runner stack's security group output.
        allow([cfn_actions.DescribeStacks], [place.arn("cloudformation", f"stack/{stack}/*")]),
    ]


def _add_codebuild_runner(
    template: Template,
    project: Project,
    place: _Place,
    name: str,
    spec: RunnerSpec,
    log_group: logs.LogGroup,
) -> None:
    app = project.app
    log_group_name = naming.runner_log_group(app)
    stream_prefix = names.log_stream_prefix(name)
    bucket = naming.artifact_bucket(app, place.account, place.region)
    # The artifact key is the pipeline stack's, which exports nothing: its alias identifies it,
    # so the two stacks can be deployed in either order.
    artifact_key_alias = place.arn("kms", naming.artifact_key_alias(app))
    statements = [
        *granted_statements(spec.permissions),
        allow([logs_actions.CreateLogStream], [GetAtt(log_group, "Arn")]),
        allow(
            [logs_actions.PutLogEvents],
            [place.arn("logs", f"log-group:{log_group_name}:log-stream:{stream_prefix}/*")],
        ),
        # CodeBuild downloads the action's input artifacts from the pipeline's bucket.
        allow(
            [s3_actions.GetObject, s3_actions.GetObjectVersion],
            [f"arn:{place.partition}:s3:::{bucket}/*"],
        ),
        aliased_key_statement(
            [kms_actions.Decrypt, kms_actions.DescribeKey],
            [place.arn("kms", "key/*")],
            naming.artifact_key_alias(app),
        ),
        *_pull_statements(place, [spec.image]),
        *secret_read_statements(spec.secrets.values()),
    ]
    role = template.add_resource(
        iam.Role(
            f"Runner{_camel(name)}BuildRole",
            RoleName=naming.runner_build_role(app, name),
            Description=f"{app}'s {name} runner builds in CodeBuild run as this role",
            AssumeRolePolicyDocument=service_trust("codebuild.amazonaws.com"),
            Policies=[role_policy("runner-permissions", *_unique(statements))],
        )
    )
    variables = [
        codebuild.EnvironmentVariable(Name=names.RUNNER_VARIABLE, Type="PLAINTEXT", Value=name),
        *(
            codebuild.EnvironmentVariable(Name=var, Type="SECRETS_MANAGER", Value=arn)
            for var, arn in sorted(spec.secrets.items())
        ),
    ]
    project_resource = codebuild.Project(
        f"Runner{_camel(name)}Project",
        Name=naming.runner_codebuild_project(app, name),
        Description=f"{app}'s {name} runner: runs one allow-listed job per build",
        ServiceRole=GetAtt(role, "Arn"),
        Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec=codebuild_buildspec()),
        Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
        Environment=codebuild.Environment(
            Type="LINUX_CONTAINER",
            ComputeType=codebuild_compute_type(spec),
            Image=spec.image,
            # An ECR image is pulled with the role's permissions (granted above); anything else
            # is a public image CodeBuild pulls itself.
            ImagePullCredentialsType="SERVICE_ROLE" if _ecr_repository(spec.image) else "CODEBUILD",
            # Only docker-build runners ask for it (RunnerSpec allows it for CodeBuild only).
            PrivilegedMode=spec.privileged,
            EnvironmentVariables=variables,
        ),
        TimeoutInMinutes=max(CODEBUILD_MIN_TIMEOUT_MINUTES, spec.max_wait_minutes),
        EncryptionKey=artifact_key_alias,
        LogsConfig=codebuild.LogsConfig(
            CloudWatchLogs=codebuild.CloudWatchLogs(
                Status="ENABLED", GroupName=Ref(log_group), StreamName=stream_prefix
            ),
            S3Logs=codebuild.S3Logs(Status="DISABLED"),
        ),
    )
    template.add_resource(project_resource)


def codebuild_compute_type(spec: RunnerSpec) -> str:
    """The smallest CodeBuild Linux size with at least the runner's CPU and memory."""
    for compute_type, cpu, memory in CODEBUILD_SIZES:
        if spec.cpu <= cpu and spec.memory <= memory:
            return compute_type
    return CODEBUILD_SIZES[-1][0]


# The job runs from its argv list, never through a shell; no single quote appears below (the
# programs are single-quoted for `python3 -c`).
_RUN_ARGV = f"""import json, os, subprocess, sys
argv = json.loads(os.environ["{names.RUNNER_ARGV_VARIABLE}"])
if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
    sys.exit("{names.RUNNER_ARGV_VARIABLE} must be a non-empty JSON list of strings")
print("pipelines: running " + json.dumps(argv), flush=True)
sys.exit(subprocess.run(argv).returncode)"""

_EXPORT_OUTPUTS = f"""import os, re, shlex
declared = {json.dumps(EXPORTED_VARIABLES)}
found = {{}}
with open(os.environ["{names.OUTPUT_FILE_VARIABLE}"], encoding="utf-8") as lines:
    for line in lines:
        name, equals, value = line.rstrip("\\n").partition("=")
        if equals and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name in declared:
            found[name] = value
summary = found.get("summary", "")
if len(summary) > {names.MAX_SUMMARY}:  # approvals quote it; CodePipeline caps them at 500
    found["summary"] = summary[: {names.MAX_SUMMARY - 3}] + "..."
for name in declared:
    print("export " + name + "=" + shlex.quote(found.get(name, "")))"""


def codebuild_buildspec() -> str:
    """The inline buildspec of every CodeBuild runner (deterministic text).

    It runs the argv the pipeline action passes in PIPELINES_ARGV (a JSON list) without a shell,
    with PIPELINES_OUTPUT_FILE set so the job may append NAME=VALUE lines; then it turns the
    declared names among those lines into shell-quoted exports, which CodeBuild hands to
    CodePipeline as the action's output variables.
    """
    for program in (_RUN_ARGV, _EXPORT_OUTPUTS):
        assert "'" not in program
    output = f'"${names.OUTPUT_FILE_VARIABLE}"'
    exports = f'"${names.OUTPUT_FILE_VARIABLE}.sh"'
    spec = {
        "version": "0.2",
        "env": {
            "variables": {names.OUTPUT_FILE_VARIABLE: CODEBUILD_OUTPUT_FILE},
            "exported-variables": list(EXPORTED_VARIABLES),
        },
        "phases": {
            "build": {
                "on-failure": "ABORT",
                "commands": [
                    f": > {output}",
                    f"python3 -c '{_RUN_ARGV}'",
                    f"python3 -c '{_EXPORT_OUTPUTS}' > {exports}",
                    f". {exports}",
                ],
            }
        },
    }
    return json.dumps(spec, indent=2)


# <app>-<env>-runner ---------------------------------------------------------------------------


def build_environment_runner(project: Project, env: Environment) -> Template:
    """The ECS runners of env's steps, in env's account and network, and the invoker's way in."""
    app = project.app
    place = _Place(partition_of(env.region), env.account, env.region)
    tasks = {
        n: s for n, s in config_runners.environment_runners(project, env).items() if s.on == "ecs"
    }
    if not tasks:
        raise ValueError(f"{env.name} has no steps on ECS runners: it needs no runner stack")
    _check_logical_ids(tasks)

    template = new_template(
        f"{app}: the deploy-runner jobs of {env.name}, and the role the invoker starts them with."
    )
    log_group_name = naming.env_runner_log_group(app, env.name)
    hooked = bool(config_runners.hook_steps(project, env))
    hook_log_group = naming.lambda_log_group(naming.hook_function(app, env.name))
    key = template.add_resource(
        _log_key(
            place,
            "RunnerLogKey",
            f"Encrypts {app}'s {env.name} runner logs",
            [log_group_name, hook_log_group] if hooked else [log_group_name],
        )
    )
    log_group = template.add_resource(_log_group("RunnerLogGroup", log_group_name, key))
    if hooked:
        _add_hook_function(template, project, env, place, key)
    cells = _TaskCells(
        where=env.name,
        whose=f"{env.name}'s",
        starts=f"ECS starts {app}'s runner jobs in {env.name} with this role",
        vpc=env.network.vpc,
        cluster=naming.env_runner_cluster(app, env.name),
        execution_role=naming.env_runner_execution_role(app, env.name),
        log_group=log_group_name,
        stack=naming.env_runner_stack(app, env.name),
        task_role=lambda name: naming.env_runner_task_role(app, env.name, name),
        family=lambda name: naming.env_runner_task_family(app, env.name, name),
    )
    # The release images env's steps may run: with several images, only those of the images
    # whose steps in env use a runner of the `release` image (least privilege).
    release_images = [
        f"{view.repository_uri}:{view.pipeline_image.release_tag}"
        for view in map(project.for_image, config_runners.release_step_images(project, env))
    ]

    def image_of(spec: RunnerSpec) -> str:
        # A release runner runs the image being promoted: this base revision names the release
        # tag (with several images, the first image's whose steps here use a release runner),
        # and before each run the invoker registers a new revision of the family with the
        # promoted image's digest, so a job never runs a tag that moved.
        return release_images[0] if spec.image == RELEASE_IMAGE else spec.image

    statements = _add_runner_tasks(
        template, project, place, tasks, log_group, cells, image_of, release_images
    )
    # Registering a revision (for release runners' digests) names its family; reading one has
    # no resource-level permissions in ECS.
    families = [
        place.arn("ecs", f"task-definition/{cells.family(name)}:*") for name in sorted(tasks)
    ]
    statements[1:1] = [
        allow([ecs_actions.DescribeTaskDefinition], ["*"]),
        allow([ecs_actions.RegisterTaskDefinition], families),
    ]
    invoker_role = naming.role_arn(
        place.partition, project.toolchain.account, naming.invoker_role(app)
    )
    invoke_role = iam.Role(
        "RunnerInvokeRole",
        RoleName=naming.runner_invoke_role(app, env.name),
        Description=f"{app}'s runner invoker assumes this role to run jobs in {env.name}",
        AssumeRolePolicyDocument=principals_trust(place.partition, [invoker_role]),
        Policies=[role_policy("start-and-watch-runner-jobs", *statements)],
    )
    suppress_checkov(invoke_role, ACCOUNT_ROOT_TRUST_REASON)
    template.add_resource(invoke_role)
    return template


# The hook function: ECS's lifecycle hooks of env's services, forwarded to the invoker.

HOOK_RUNTIME = "python3.12"
# The invoker answers within its 60 s; the function waits a little longer for that answer.
HOOK_TIMEOUT_SECONDS = 90
HOOK_MEMORY_MB = 128
# Kept under the 4,096 characters CloudFormation long capped inline code (Code.ZipFile) at; see
# docs/rollouts.md for what AWS's pages say of it now.
MAX_INLINE_CODE = 4096

HOOK_REASONS = {
    "CKV_AWS_115": "reserving concurrency fails outright in accounts whose Lambda quota is low; "
    "ECS calls the function once per hook stage of a deployment, every 30 s at most",
    "CKV_AWS_116": "ECS calls the function synchronously and reads its answer; a failed call "
    "rolls the deployment back, so a dead-letter queue would hold nothing anyone reads",
    "CKV_AWS_117": "the function calls only the Lambda API (the invoker); inside a VPC it would "
    "need NAT or an interface endpoint, adding cost and no protection",
}


def hook_function_code(invoker_arn: str) -> str:
    """The hook function's source (invoker/forwarder.py) with the invoker's ARN set."""
    source = Path(forwarder.__file__).read_text(encoding="utf-8")
    placeholder = 'INVOKER_ARN = ""\n'
    if source.count(placeholder) != 1:
        raise ValueError("invoker/forwarder.py must set INVOKER_ARN once, to an empty string")
    code = source.replace(placeholder, f"INVOKER_ARN = {json.dumps(invoker_arn)}\n")
    if len(code) > MAX_INLINE_CODE:
        raise ValueError(f"the hook function is {len(code)} characters, over {MAX_INLINE_CODE}")
    return code


def _add_hook_function(
    template: Template, project: Project, env: Environment, place: _Place, key: kms_resources.Key
) -> None:
    """The function ECS calls as env's lifecycle hooks, the role it runs as (it may invoke the
    invoker and nothing else) and the role ECS calls it with (LifecycleHooks[].RoleArn: it may
    invoke this function and nothing else)."""
    app = project.app
    toolchain = project.toolchain
    name = naming.hook_function(app, env.name)
    invoker_arn = naming.arn(
        partition_of(toolchain.region),
        "lambda",
        toolchain.region,
        toolchain.account,
        f"function:{naming.invoker_function(app)}",
    )
    log_group = template.add_resource(
        _log_group("HookLogGroup", naming.lambda_log_group(name), key)
    )
    role = template.add_resource(
        iam.Role(
            "HookFunctionRole",
            RoleName=naming.hook_function_role(app, env.name),
            Description=f"{app}'s {env.name} hook function runs as this role",
            AssumeRolePolicyDocument=service_trust("lambda.amazonaws.com"),
            Policies=[
                role_policy(
                    "forward-to-the-invoker",
                    allow(
                        [logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                        [GetAtt(log_group, "Arn")],
                    ),
                    allow([lambda_actions.InvokeFunction], [invoker_arn]),
                )
            ],
        )
    )
    function = awslambda.Function(
        "HookFunction",
        FunctionName=name,
        Description=f"{app}'s {env.name} lifecycle hooks: ECS's events, answered by the invoker",
        Runtime=HOOK_RUNTIME,
        Handler="index.handler",
        Code=awslambda.Code(ZipFile=hook_function_code(invoker_arn)),
        Role=GetAtt(role, "Arn"),
        Timeout=HOOK_TIMEOUT_SECONDS,
        MemorySize=HOOK_MEMORY_MB,
        # Lambda would create the group itself, unencrypted and kept forever, if the function
        # ran before it existed.
        DependsOn=[log_group.title],
    )
    suppress_checkov(function, HOOK_REASONS)
    template.add_resource(function)
    template.add_resource(
        iam.Role(
            "HookRole",
            RoleName=naming.hook_role(app, env.name),
            Description=f"ECS calls {app}'s {env.name} hook function as this role",
            AssumeRolePolicyDocument=service_trust("ecs.amazonaws.com"),
            Policies=[
                role_policy(
                    "call-the-hook-function",
                    # By name, as the services' LifecycleHooks name it.
                    allow(
                        [lambda_actions.InvokeFunction], [place.arn("lambda", f"function:{name}")]
                    ),
                )
            ],
        )
    )


# Shared parts ---------------------------------------------------------------------------------


def _log_key(
    place: _Place, title: str, description: str, log_groups: Sequence[str]
) -> kms_resources.Key:
    return logs_key(
        title,
        description,
        partition=place.partition,
        region=place.region,
        sid="CloudWatchLogsEncryptsRunnerLogs",
        log_groups=[place.arn("logs", f"log-group:{name}") for name in log_groups],
    )


def _log_group(title: str, name: str, key: kms_resources.Key) -> logs.LogGroup:
    return logs.LogGroup(
        title,
        LogGroupName=name,
        RetentionInDays=LOG_RETENTION_DAYS,
        KmsKeyId=GetAtt(key, "Arn"),
    )


def _cluster(title: str, name: str) -> ecs.Cluster:
    return ecs.Cluster(
        title,
        ClusterName=name,
        ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="enabled")],
    )


def _security_group(title: str, description: str, vpc: str) -> ec2.SecurityGroup:
    # No ingress: nothing connects to a job. Jobs reach databases, registries and AWS APIs.
    return ec2.SecurityGroup(
        title,
        GroupDescription=description,
        VpcId=vpc,
        SecurityGroupEgress=[
            ec2.SecurityGroupRule(
                Description="Jobs reach the image registry, AWS APIs, logs, secrets and the "
                "databases they migrate",
                IpProtocol="-1",
                CidrIp="0.0.0.0/0",
            )
        ],
    )


def _execution_role(
    title: str,
    name: str,
    description: str,
    place: _Place,
    tasks: Mapping[str, RunnerSpec],
    log_group: logs.LogGroup,
    release_images: Sequence[str],
) -> iam.Role:
    """Pull the runners' images (for a runner of the `release` image, each of
    `release_images`), write their logs, read their secrets: nothing else."""
    images: list[str] = []
    for spec in tasks.values():
        if spec.image == RELEASE_IMAGE:
            images += release_images
        else:
            images.append(spec.image)
    statements = [
        *_pull_statements(place, images),
        allow(
            [logs_actions.CreateLogStream, logs_actions.PutLogEvents],
            [GetAtt(log_group, "Arn")],
        ),
        *secret_read_statements(a for spec in tasks.values() for a in spec.secrets.values()),
    ]
    return iam.Role(
        title,
        RoleName=name,
        Description=description,
        AssumeRolePolicyDocument=service_trust(ECS_TASKS),
        Policies=[role_policy("pull-images-write-logs-read-secrets", *_unique(statements))],
    )


def _task_role(
    title: str,
    name: str,
    description: str,
    place: _Place,
    spec: RunnerSpec,
) -> iam.Role:
    role = iam.Role(
        title,
        RoleName=name,
        Description=description,
        AssumeRolePolicyDocument=ecs_task_trust(place.partition, place.region, place.account),
    )
    statements = granted_statements(_passable_here(spec.permissions, place.account))
    if statements:
        role.Policies = [role_policy("runner-permissions", *statements)]
    return role


def _passable_here(permissions: Sequence[Permission], account: str) -> list[Permission]:
    """A runner's permissions for a role in `account`: IAM passes only roles of the caller's
    own account, so iam:PassRole keeps only this account's roles (and goes if none is left)."""
    kept = []
    for permission in permissions:
        if permission.actions == ["iam:PassRole"]:
            resources = [r for r in permission.resources if r.split(":")[4] in ("", account)]
            if not resources:
                continue
            permission = permission.model_copy(update={"resources": resources})
        kept.append(permission)
    return kept


def _task_definition(
    title: str,
    family: str,
    runner: str,
    spec: RunnerSpec,
    image: str,
    region: str,
    log_group: logs.LogGroup,
    execution_role: iam.Role,
    task_role: iam.Role,
) -> ecs.TaskDefinition:
    # Read-only root with a writable /tmp, except for kaniko image builds (see below).
    read_only = not _writes_root_filesystem(spec)
    container = ecs.ContainerDefinition(
        Name=names.CONTAINER,
        Image=image,
        Essential=True,
        # The invoker sets the command (the admitted argv) and the size of each run.
        ReadonlyRootFilesystem=read_only,
        MountPoints=[fargate.tmp_mount()],
        LogConfiguration=fargate.awslogs(log_group, region, names.log_stream_prefix(runner)),
    )
    if spec.secrets:
        container.Secrets = [
            ecs.Secret(Name=k, ValueFrom=v) for k, v in sorted(spec.secrets.items())
        ]
    return fargate.task_definition(
        title,
        family=family,
        cpu=spec.cpu,
        memory=spec.memory,
        execution_role=execution_role,
        task_role=task_role,
        container=container,
    )


def _writes_root_filesystem(spec: RunnerSpec) -> bool:
    """Whether a job needs a writable root: kaniko image builds unpack images over it."""
    for script in spec.scripts.values():
        tokens = [*script.command, *script.options]
        if "kaniko" in tokens or any(t.endswith("/kaniko/executor") for t in tokens):
            return True
    return False


def _unique(statements: Iterable[Statement]) -> list[Statement]:
    """The statements in order, each once (a runner's own permissions may repeat ours)."""
    seen: set[str] = set()
    unique = []
    for statement in statements:
        text = json.dumps(encode_to_dict(statement), sort_keys=True)
        if text not in seen:
            seen.add(text)
            unique.append(statement)
    return unique


def _ecr_repository(image: str) -> tuple[str, str, str] | None:
    """(account, region, repository) of an ECR image URI, or None for another registry."""
    match = _ECR_IMAGE.fullmatch(image)
    if not match:
        return None
    return match["account"], match["region"], match["repository"]


def _pull_statements(place: _Place, images: Iterable[str]) -> list[Statement]:
    """Pulling the images that are in ECR (any account's; public registries need nothing)."""
    return image_pull_statements(
        sorted(
            {
                naming.repository_arn(place.partition, region, account, repository)
                for account, region, repository in filter(None, map(_ecr_repository, images))
            }
        )
    )


def _camel(name: str) -> str:
    """A runner name as part of a logical ID (alphanumeric): db-migrate -> DbMigrate."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def _check_logical_ids(runners: Iterable[str]) -> None:
    seen: dict[str, str] = {}
    for name in sorted(runners):
        other = seen.setdefault(_camel(name), name)
        if other != name:
            raise ValueError(
                f"runners {other!r} and {name!r} would share the logical ID {_camel(name)!r}; "
                "rename one"
            )
