"""Every name the tool gives to AWS: stacks, roles, buckets, ARNs, pipeline stages and actions.

This is the only place names are made, so a rename is one edit, and config validation can check
the lengths AWS allows before anything is synthesized.
"""

from __future__ import annotations

# AWS limits for the names below.
MAX_ROLE_NAME = 64
MAX_STACK_NAME = 128
MAX_BUCKET_NAME = 63
MAX_ECS_NAME = 255

IMAGE_URI_PARAMETER = "ImageUri"
SOURCE_NAMESPACE = "SourceVariables"
IMAGE_ARTIFACT = "Image"
TEMPLATES_ARTIFACT = "Templates"
TEMPLATES_BUNDLE_KEY = "templates.zip"


# Stacks
def source_stack(app: str) -> str:
    return f"{app}-source"


def pipeline_stack(app: str) -> str:
    return f"{app}-pipeline"


def artifacts_stack(app: str, region: str) -> str:
    return f"{app}-artifacts-{region}"


def deploy_stack(app: str, env: str) -> str:
    return f"{app}-{env}-deploy"


def service_stack(app: str, env: str, service: str) -> str:
    return f"{app}-{env}-{service}"


def template_file(stack: str) -> str:
    return f"{stack}.json"


# The pipeline and its toolchain resources
def pipeline_name(app: str) -> str:
    return f"{app}-release"


def pipeline_role(app: str) -> str:
    return f"{app}-pipeline"


def trigger_role(app: str) -> str:
    return f"{app}-pipeline-trigger"


def trigger_rule(app: str) -> str:
    return f"{app}-release-on-push"


def push_role(app: str) -> str:
    return f"{app}-image-push"


def approvals_topic(app: str) -> str:
    return f"{app}-approvals"


def artifact_bucket(app: str, account: str, region: str) -> str:
    return f"{app}-artifacts-{account}-{region}"


def artifact_key_alias(app: str) -> str:
    return f"alias/{app}-artifacts"


def artifact_key_parameter(region: str) -> str:
    """The pipeline stack's parameter holding the ARN of another region's artifact key: an alias
    names a key only in the key's own account, and cross-account actions use the key."""
    return "ArtifactKey" + "".join(part.capitalize() for part in region.split("-"))


# Per environment
def deploy_role(app: str, env: str) -> str:
    """The role the pipeline assumes in the environment's account."""
    return f"{app}-{env}-deploy"


def cloudformation_role(app: str, env: str) -> str:
    """The role CloudFormation uses to change the environment's service stacks."""
    return f"{app}-{env}-cfn"


def service_boundary(app: str, env: str) -> str:
    """The managed policy every service role of the environment carries as its permissions
    boundary: the most any role the CloudFormation role creates may ever be allowed."""
    return f"{app}-{env}-service-boundary"


def policy_arn(partition: str, account: str, policy: str) -> str:
    return arn(partition, "iam", "", account, f"policy/{policy}")


def service_boundary_arn(partition: str, account: str, app: str, env: str) -> str:
    return policy_arn(partition, account, service_boundary(app, env))


def log_key_alias(app: str, env: str) -> str:
    return f"alias/{app}-{env}-logs"


def log_key_export(app: str, env: str) -> str:
    return f"{app}-{env}-LogKeyArn"


def env_resource_prefix(app: str, env: str) -> str:
    """Every resource of one environment starts with this, which is what its IAM is scoped to."""
    return f"{app}-{env}-"


# Per service in an environment
def service_name(app: str, env: str, service: str) -> str:
    return f"{app}-{env}-{service}"


def cluster_name(app: str, env: str, service: str) -> str:
    return f"{app}-{env}-{service}"


def task_family(app: str, env: str, service: str) -> str:
    return f"{app}-{env}-{service}"


def execution_role(app: str, env: str, service: str) -> str:
    return f"{app}-{env}-{service}-exec"


def task_role(app: str, env: str, service: str) -> str:
    return f"{app}-{env}-{service}-task"


def traffic_shift_role(app: str, env: str, service: str) -> str:
    """The role ECS shifts a service's traffic as (blue/green, canary, linear); no longer than
    the execution role's name, so the name-length checks cover it."""
    return f"{app}-{env}-{service}-lb"


def log_group(app: str, env: str, service: str) -> str:
    return f"/ecs/{app}/{env}/{service}"


def log_group_prefix(app: str, env: str) -> str:
    return f"/ecs/{app}/{env}/"


def change_set(app: str, env: str, service: str) -> str:
    return f"{app}-{env}-{service}-release"


# Pipeline stages and actions
SOURCE_STAGE = "Source"
APPROVAL_ACTION = "Approve"


def stage_name(env: str, part: int = 1) -> str:
    """`<env>`: the environment's stage (holding its approval), `<env>-2`... for more of it."""
    return env if part == 1 else f"{env}-{part}"


def plan_stage(env: str, part: int = 1) -> str:
    return f"{env}-plan" if part == 1 else f"{env}-plan-{part}"


def apply_stage(env: str, part: int = 1) -> str:
    return f"{env}-apply" if part == 1 else f"{env}-apply-{part}"


def prepare_stage(env: str) -> str:
    """Runner steps before a direct deployment, when they do not fit the deploy stage."""
    return f"{env}-prepare"


def verify_stage(env: str) -> str:
    """Runner steps after the deployment, when they do not fit the last deploy stage."""
    return f"{env}-verify"


def deploy_action(service: str) -> str:
    return f"Deploy-{service}"


def plan_action(service: str) -> str:
    return f"Plan-{service}"


def apply_action(service: str) -> str:
    return f"Apply-{service}"


# The release marker: after each environment's deployment, a Lambda action moves image tags that
# say what the environment runs, and the repository's lifecycle policy keeps what they tag.
MARKER_ACTION = "Mark-deployed"
DEPLOYED_TAG_PREFIX = "deployed-"
DEPLOYED_TAG_WILDCARD = f"{DEPLOYED_TAG_PREFIX}*"  # an ECR tag mutability exclusion filter


def deployed_tag(env: str) -> str:
    """The image tag on the digest the environment runs."""
    return f"{DEPLOYED_TAG_PREFIX}{env}"


def previous_deployed_tag(env: str) -> str:
    """The image tag on the digest the environment ran before: its rollback target."""
    return f"{DEPLOYED_TAG_PREFIX}{env}-previous"


def release_marker_function(app: str) -> str:
    return f"{app}-release-marker"


def release_marker_role(app: str) -> str:
    return f"{app}-release-marker"


def deploy_window_rule(env: str) -> str:
    """A rule name: CodePipeline allows [A-Za-z0-9.@_-], up to 100 characters (an environment
    name is at most MAX_ENVIRONMENT_NAME of a-z, 0-9 and -)."""
    return f"DeployWindow-{env}"


def bake_rule(alarm: str) -> str:
    """A rule name: CodePipeline allows [A-Za-z0-9.@_-], up to 100 characters."""
    cleaned = "".join(c if c.isalnum() or c in ".@_-" else "-" for c in alarm)
    return f"Bake-{cleaned}"[:100]


def longest_names(app: str, env: str, service: str) -> list[tuple[str, str, int]]:
    """(what, name, limit) for every length-limited name one (env, service) pair produces."""
    return [
        ("IAM role", execution_role(app, env, service), MAX_ROLE_NAME),
        ("IAM role", task_role(app, env, service), MAX_ROLE_NAME),
        ("IAM role", cloudformation_role(app, env), MAX_ROLE_NAME),
        ("IAM role", deploy_role(app, env), MAX_ROLE_NAME),
        ("stack", service_stack(app, env, service), MAX_STACK_NAME),
        ("ECS service", service_name(app, env, service), MAX_ECS_NAME),
    ]


# The deploy runner
def runner_stack(app: str) -> str:
    return f"{app}-runner"


def runner_cluster(app: str) -> str:
    return f"{app}-runner"


def runner_task_family(app: str, runner: str) -> str:
    return f"{app}-runner-{runner}"


def runner_log_group(app: str) -> str:
    return f"/pipelines/{app}/runner"


def invoker_function(app: str) -> str:
    return f"{app}-runner-invoker"


def invoker_role(app: str) -> str:
    return f"{app}-runner-invoker"


def invoker_code_key(digest: str) -> str:
    """The invoker's code package in the artifact bucket, named by its SHA-256 so a new
    package is a new key (CloudFormation updates the function only when the key changes)."""
    return f"runner/invoker-{digest[:16]}.zip"


def runner_codebuild_project(app: str, runner: str) -> str:
    return f"{app}-runner-{runner}"


def runner_execution_role(app: str) -> str:
    return f"{app}-runner-exec"


def runner_task_role(app: str, runner: str) -> str:
    return f"{app}-runner-{runner}-task"


def runner_build_role(app: str, runner: str) -> str:
    return f"{app}-runner-{runner}-build"


def lambda_log_group(function: str) -> str:
    """The group Lambda writes a function's logs to (Lambda fixes the name)."""
    return f"/aws/lambda/{function}"


# Runner jobs of an environment run in its account and network, from its own runner stack.
def env_runner_stack(app: str, env: str) -> str:
    return f"{app}-{env}-runner"


def env_runner_cluster(app: str, env: str) -> str:
    return f"{app}-{env}-runner"


def env_runner_task_family(app: str, env: str, runner: str) -> str:
    return f"{app}-{env}-runner-{runner}"


def env_runner_log_group(app: str, env: str) -> str:
    return f"/pipelines/{app}/{env}/runner"


def env_runner_execution_role(app: str, env: str) -> str:
    return f"{app}-{env}-runner-exec"


def env_runner_task_role(app: str, env: str, runner: str) -> str:
    return f"{app}-{env}-runner-{runner}-task"


def runner_role_names(app: str, env: str | None, runner: str) -> list[str]:
    """The IAM role names a runner gets: in the toolchain (env None) or in an environment."""
    if env is None:
        return [runner_task_role(app, runner), runner_build_role(app, runner)]
    return [
        env_runner_task_role(app, env, runner),
        env_runner_execution_role(app, env),
        runner_invoke_role(app, env),
    ]


def runner_invoke_role(app: str, env: str) -> str:
    """The role the invoker assumes in an environment's account to start and watch its jobs."""
    return f"{app}-{env}-runner-invoke"


RUNNER_SECURITY_GROUP_OUTPUT = "SecurityGroup"  # output of a runner stack the invoker reads


def step_action(runner: str, script: str, occurrence: int = 1) -> str:
    """A runner step's action name; the same step twice in one environment gets -2, -3, ..."""
    name = f"{runner}.{script}"
    return name if occurrence == 1 else f"{name}-{occurrence}"


def step_namespace(env: str, runner: str, script: str, occurrence: int = 1) -> str:
    """Where a step's output variables live: `#{<env>-<runner>-<script>.summary}`."""
    name = f"{env}-{runner}-{script}"
    return name if occurrence == 1 else f"{name}-{occurrence}"


# ARNs of things in other stacks or accounts, which a template cannot reference directly
def arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def role_arn(partition: str, account: str, role: str) -> str:
    return arn(partition, "iam", "", account, f"role/{role}")


def account_root(partition: str, account: str) -> str:
    return arn(partition, "iam", "", account, "root")


def repository_arn(partition: str, region: str, account: str, repository: str) -> str:
    return arn(partition, "ecr", region, account, f"repository/{repository}")


def image_registry(account: str, region: str) -> str:
    suffix = ".com.cn" if region.startswith("cn-") else ".com"
    return f"{account}.dkr.ecr.{region}.amazonaws{suffix}"


def hook_function(app: str, env: str) -> str:
    """The function ECS calls as an environment's lifecycle hooks; it forwards to the invoker."""
    return f"{app}-{env}-runner-hook"


def hook_role(app: str, env: str) -> str:
    """The role ECS calls the hook function as (LifecycleHooks[].RoleArn)."""
    return f"{app}-{env}-runner-hook"


def hook_function_role(app: str, env: str) -> str:
    """The role the hook function runs as: it may invoke the invoker, nothing else."""
    return f"{app}-{env}-runner-hook-fn"
