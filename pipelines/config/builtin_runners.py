"""Built-in runners, usable by name: change-set and terraform plan/apply, image and AMI builds.

Each is an ordinary RunnerSpec made from a few facts about the app (BuiltinContext), so the
allow-list regexes and IAM resources name the app's own stacks, roles, buckets and repository.
The split that matters: a planner may create, read and delete plans but never execute one; only
an applier executes, and only what a planner made (a change set by name or id, a terraform plan
file whose SHA-256 the approver saw).

Pure (no boto3): synth imports this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pipelines import naming
from pipelines.config.permissions import Permission
from pipelines.config.runner_spec import BUILTIN_NAMES, Platform, RunnerSpec, ScriptSpec

JOBS = ("python", "-m", "pipelines.jobs")

# Allow-list patterns shared by several builtins. No pattern admits a leading '-', whitespace,
# quotes or shell metacharacters; paths are relative and never contain '..'.
_PATH = r"(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_./-]{0,255}"
# `Artifact::path` reads a file of a CodePipeline input artifact, like CloudFormation actions do.
# `Artifact::.` is the artifact's root.
_ARTIFACT_PATH = rf"(?:[A-Za-z][A-Za-z0-9_-]{{0,99}}::(?:\.|{_PATH})|{_PATH})"
_SAFE_VALUE = r"[A-Za-z0-9_./:@+=,-]{0,1024}"
_KEY_VALUE = rf"[A-Za-z_][A-Za-z0-9_]{{0,127}}={_SAFE_VALUE}"
_CHANGE_SET_NAME = r"[A-Za-z][A-Za-z0-9-]{0,127}"
_SHA256 = r"[0-9a-f]{64}"


@dataclass(frozen=True)
class BuiltinContext:
    """What the builtins need to know about the app they serve."""

    app: str
    account: str  # the toolchain account: the runner, the app's repositories
    region: str
    runner_image: str  # an image with python, this package, terraform, packer, kaniko
    # Every release repository of the app (one per image), for image-builder.
    repositories: tuple[str, ...] = ()
    partition: str = "aws"
    artifact_bucket: str | None = None  # templates bundle, build contexts, terraform plans
    environments: tuple[str, ...] = ()  # narrows stack names to <app>-<env>-*
    # (account, region) pairs whose stacks the CloudFormation runners act on; default: the
    # toolchain's. The runner role acts there only if it can reach them (same account, or a
    # role to assume in each, which the runner stack must provide).
    targets: tuple[tuple[str, str], ...] = ()
    terraform_state_bucket: str | None = None
    terraform_lock_table: str | None = None
    # An environment's runners get input artifacts (`Artifact::path`) as links the invoker signs
    # with the job's artifact credentials, so their roles read no artifact directly; the
    # toolchain's runners read `s3://` artifacts with their own role.
    artifacts_by_link: bool = False

    @property
    def stack_targets(self) -> tuple[tuple[str, str], ...]:
        return self.targets or ((self.account, self.region),)

    @property
    def registry(self) -> str:
        suffix = ".amazonaws.com.cn" if self.partition == "aws-cn" else ".amazonaws.com"
        return f"{self.account}.dkr.ecr.{self.region}{suffix}"


def builtin_runner(name: str, context: BuiltinContext, on: Platform | None = None) -> RunnerSpec:
    """The built-in runner `name`; `on` switches image-builder to CodeBuild (docker)."""
    try:
        make = _BUILDERS[name]
    except KeyError:
        raise KeyError(
            f"no built-in runner {name!r}; built-ins: {', '.join(BUILTIN_NAMES)}"
        ) from None
    if on is None:
        return make(context)
    if name != "image-builder":
        raise ValueError(f"built-in runner {name!r} runs on ecs only")
    return _image_builder(context, on)


def builtin_runners(context: BuiltinContext) -> dict[str, RunnerSpec]:
    return {name: builtin_runner(name, context) for name in BUILTIN_NAMES}


# CloudFormation


# Stacks of an environment that hold what the pipeline and the runner themselves run as: a job
# that could change them could widen its own permissions.
_OWN_STACKS = ("deploy", "runner")


def _stack_name(context: BuiltinContext) -> str:
    app = re.escape(context.app)
    own = "|".join(_OWN_STACKS)
    if context.environments:
        envs = "|".join(re.escape(e) for e in context.environments)
        return rf"{app}-(?:{envs})-(?!(?:{own})$)[a-z0-9][a-z0-9-]{{0,100}}"
    return rf"{app}-(?!(?:[a-z0-9-]+-)?(?:{own})$)[a-z0-9][a-z0-9-]{{0,100}}"


def _stack_arns(context: BuiltinContext) -> list[str]:
    globs = [f"{context.app}-{env}-*" for env in context.environments] or [f"{context.app}-*"]
    return [
        f"arn:{context.partition}:cloudformation:{region}:{account}:stack/{glob}/*"
        for account, region in context.stack_targets
        for glob in globs
    ]


def _own_stack_arns(context: BuiltinContext) -> list[str]:
    """The stacks pipelines deploys beside the environment's own: the deploy roles and the
    runners. The stack patterns of the allow-list refuse them too."""
    if context.environments:
        names = [
            f"{context.app}-{env}-{own}" for env in context.environments for own in _OWN_STACKS
        ]
    else:
        names = [f"{context.app}{infix}-{own}" for infix in ("", "-*") for own in _OWN_STACKS]
    return [
        f"arn:{context.partition}:cloudformation:{region}:{account}:stack/{name}/*"
        for account, region in context.stack_targets
        for name in names
    ]


def _own_stacks_untouched(context: BuiltinContext) -> Permission:
    """Whatever else the role is allowed, no change set of pipelines' own stacks: a planner
    that could plan the deploy stack could plan itself more rights for the applier to apply."""
    return Permission(
        effect="Deny",
        actions=[
            "cloudformation:CreateChangeSet",
            "cloudformation:DeleteChangeSet",
            "cloudformation:ExecuteChangeSet",
        ],
        resources=_own_stack_arns(context),
    )


def _change_set(context: BuiltinContext) -> str:
    # A name, or the id the planner printed: applying by id pins the very change set approved.
    arn = (
        rf"arn:{context.partition}:cloudformation:[a-z0-9-]+:[0-9]{{12}}:changeSet/"
        rf"{_CHANGE_SET_NAME}/[0-9a-f-]{{36}}"
    )
    return rf"{_CHANGE_SET_NAME}|{arn}"


def _artifact_read(context: BuiltinContext, key: bool = True) -> list[Permission]:
    """Reading input artifacts with the runner's own role: on the toolchain only (see
    BuiltinContext.artifacts_by_link). `key=False` for a runner granted the artifact key
    already."""
    return [] if context.artifacts_by_link else _artifact_objects_read(context, key)


def _artifact_objects_read(context: BuiltinContext, key: bool = True) -> list[Permission]:
    """Reading objects of the artifact bucket, which its KMS key encrypts by default: reading
    an SSE-KMS object takes kms:Decrypt with its key as well. The key statement is the one a
    CodeBuild runner's role holds anyway, so the two are written once."""
    if not context.artifact_bucket:
        return []
    return [
        Permission(
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[f"arn:{context.partition}:s3:::{context.artifact_bucket}/*"],
        ),
        *(_artifact_key(context, ("kms:Decrypt", "kms:DescribeKey")) if key else []),
    ]


def _artifact_key(
    context: BuiltinContext,
    actions: tuple[str, ...] = ("kms:Decrypt", "kms:GenerateDataKey"),
) -> list[Permission]:
    """Using the artifact bucket's KMS key (SSE-KMS). The key is the pipeline stack's and its
    ARN is not known here, so the statement names the keys of the toolchain's account and
    region and admits only the one known by the artifact key's alias."""
    if not context.artifact_bucket:
        return []
    return [
        Permission(
            actions=list(actions),
            resources=[f"arn:{context.partition}:kms:{context.region}:{context.account}:key/*"],
            conditions={
                "ForAnyValue:StringEquals": {
                    "kms:ResourceAliases": [naming.artifact_key_alias(context.app)]
                }
            },
        )
    ]


def _cloudformation_planner(context: BuiltinContext) -> RunnerSpec:
    cfn_roles = [
        f"arn:{context.partition}:iam::{account}:role/{context.app}-*-cfn"
        for account in sorted({a for a, _ in context.stack_targets})
    ]
    plan = ScriptSpec(
        command=[*JOBS, "cloudformation", "plan"],
        allowed_options={
            "--stack": _stack_name(context),
            "--template": _ARTIFACT_PATH,
            "--parameter": r"[A-Za-z0-9]{1,255}=" + _SAFE_VALUE,
            "--change-set": _CHANGE_SET_NAME,
            # Only the CloudFormation roles of the accounts the runner acts in: a role of
            # another account could never be passed, and naming one would be a probe.
            "--role-arn": (
                rf"arn:{context.partition}:iam::"
                rf"(?:{'|'.join(sorted({a for a, _ in context.stack_targets}))}):role/"
                rf"{re.escape(context.app)}-[a-z0-9-]+-cfn"
            ),
        },
    )
    return RunnerSpec(
        on="ecs",
        image=context.runner_image,
        cpu=256,
        memory=512,
        max_wait_minutes=30,
        permissions=[
            # Change sets only: no ExecuteChangeSet, no Create/Update/DeleteStack.
            Permission(
                actions=[
                    "cloudformation:CreateChangeSet",
                    "cloudformation:DeleteChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:DescribeStacks",
                    "cloudformation:GetTemplate",
                    "cloudformation:ListChangeSets",
                ],
                resources=_stack_arns(context),
            ),
            # A change set made with the stack's CloudFormation role runs as that role when
            # the applier executes it; the planner may name it but gains nothing by itself.
            Permission(
                actions=["iam:PassRole"],
                resources=cfn_roles,
                conditions={
                    "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
                },
            ),
            *_artifact_read(context),
            _own_stacks_untouched(context),
        ],
        scripts={"plan": plan},
    )


def _cloudformation_applier(context: BuiltinContext) -> RunnerSpec:
    apply = ScriptSpec(
        command=[*JOBS, "cloudformation", "apply"],
        allowed_options={"--stack": _stack_name(context), "--change-set": _change_set(context)},
    )
    return RunnerSpec(
        on="ecs",
        image=context.runner_image,
        cpu=256,
        memory=512,
        max_wait_minutes=120,
        permissions=[
            # Executes change sets someone else created; cannot create or change one.
            Permission(
                actions=[
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DescribeStacks",
                    "cloudformation:ExecuteChangeSet",
                ],
                resources=_stack_arns(context),
            ),
            _own_stacks_untouched(context),
        ],
        scripts={"apply": apply},
    )


# Terraform


def _plan_store(context: BuiltinContext) -> str:
    bucket = re.escape(context.artifact_bucket or "invalid-no-artifact-bucket")
    return rf"s3://{bucket}/plans/(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_./-]{{0,200}}"


def _state(context: BuiltinContext, write: bool) -> list[Permission]:
    p = context.partition
    permissions: list[Permission] = []
    if context.terraform_state_bucket:
        bucket = context.terraform_state_bucket
        permissions += [
            Permission(actions=["s3:ListBucket"], resources=[f"arn:{p}:s3:::{bucket}"]),
            Permission(actions=["s3:GetObject"], resources=[f"arn:{p}:s3:::{bucket}/*"]),
            # S3-native state locking writes and deletes a `.tflock` object next to the state.
            Permission(
                actions=["s3:DeleteObject", "s3:PutObject"],
                resources=[f"arn:{p}:s3:::{bucket}/{'*' if write else '*.tflock'}"],
            ),
        ]
    if context.terraform_lock_table:
        permissions.append(
            Permission(
                actions=["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"],
                resources=[
                    f"arn:{p}:dynamodb:{context.region}:{context.account}:table/"
                    f"{context.terraform_lock_table}"
                ],
            )
        )
    return permissions


def _terraform_planner(context: BuiltinContext) -> RunnerSpec:
    plan = ScriptSpec(
        command=[*JOBS, "terraform", "plan"],
        allowed_options={
            "--dir": _ARTIFACT_PATH,
            "--out": _PATH,
            "--var-file": _PATH,
            "--store": _plan_store(context),
        },
    )
    store = []
    if context.artifact_bucket:
        store = [
            Permission(
                actions=["s3:PutObject"],
                resources=[f"arn:{context.partition}:s3:::{context.artifact_bucket}/plans/*"],
            ),
            *_artifact_key(context),
        ]
    return RunnerSpec(
        on="ecs",
        image=context.runner_image,
        cpu=1024,
        memory=2048,
        max_wait_minutes=60,
        # Read access to the infrastructure itself is the team's to add: which services a
        # configuration reads cannot be known here.
        permissions=[*_state(context, write=False), *store, *_artifact_read(context, key=False)],
        scripts={"plan": plan},
    )


def _plan_read(context: BuiltinContext) -> list[Permission]:
    """The applier reads the stored plan with its own role (`--store`), in an environment too,
    where the artifact bucket's policy admits it to plans/ (builders/artifacts.py)."""
    if not context.artifact_bucket or not context.artifacts_by_link:
        return []  # on the toolchain, _artifact_read covers plans/
    return [
        Permission(
            actions=["s3:GetObject"],
            resources=[f"arn:{context.partition}:s3:::{context.artifact_bucket}/plans/*"],
        )
    ]


def _terraform_applier(context: BuiltinContext) -> RunnerSpec:
    apply = ScriptSpec(
        command=[*JOBS, "terraform", "apply"],
        allowed_options={
            "--dir": _ARTIFACT_PATH,
            "--plan": _PATH,
            "--plan-sha256": _SHA256,
            "--store": _plan_store(context),
        },
    )
    return RunnerSpec(
        on="ecs",
        image=context.runner_image,
        cpu=1024,
        memory=2048,
        max_wait_minutes=120,
        permissions=[
            *_state(context, write=True),
            *_artifact_read(context, key=False),
            *_plan_read(context),
            *_artifact_key(context),
        ],
        scripts={"apply": apply},
    )


# Images


def _image_builder(context: BuiltinContext, on: Platform = "ecs") -> RunnerSpec:
    if on not in ("ecs", "codebuild"):
        raise ValueError("image-builder runs on ecs (kaniko) or codebuild (docker)")
    registry = re.escape(context.registry)
    pushed = context.repositories or (context.app,)
    escaped = [re.escape(r) for r in pushed]
    repository = escaped[0] if len(escaped) == 1 else "(?:" + "|".join(escaped) + ")"
    bucket = re.escape(context.artifact_bucket or "invalid-no-artifact-bucket")
    build = ScriptSpec(
        command=[*JOBS, "build"],
        options=["--engine", "kaniko" if on == "ecs" else "docker"],
        allowed_options={
            "--context": rf"s3://{bucket}/(?!.*\.\.)[A-Za-z0-9_./-]{{1,900}}\.tar\.gz|"
            + _ARTIFACT_PATH,
            "--dockerfile": _PATH,
            # Only the app's repositories: a push of a release tag starts that image's release.
            "--destination": rf"{registry}/{repository}:[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}",
            "--build-arg": _KEY_VALUE,
        },
    )
    p = context.partition
    return RunnerSpec(
        on=on,
        image=context.runner_image,
        cpu=2048,
        memory=8192,
        max_wait_minutes=60,
        privileged=on == "codebuild",  # docker needs it; kaniko on Fargate does not
        permissions=[
            # GetAuthorizationToken has no resource-level permissions in IAM.
            Permission.on_any_resource(["ecr:GetAuthorizationToken"]),
            Permission(
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:CompleteLayerUpload",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:InitiateLayerUpload",
                    "ecr:PutImage",
                    "ecr:UploadLayerPart",
                ],
                resources=[
                    f"arn:{p}:ecr:{context.region}:{context.account}:repository/{r}" for r in pushed
                ],
            ),
            # `--context s3://...` is read with the runner's own role wherever it runs.
            *_artifact_objects_read(context),
        ],
        scripts={"build": build},
    )


# The actions Packer's amazon-ebs builder documents as its minimum. EC2 scopes most of them only
# with conditions, which Permission does not express, hence "*".
_PACKER_EC2 = (
    "AttachVolume",
    "AuthorizeSecurityGroupIngress",
    "CopyImage",
    "CreateImage",
    "CreateKeyPair",
    "CreateSecurityGroup",
    "CreateSnapshot",
    "CreateTags",
    "CreateVolume",
    "DeleteKeyPair",
    "DeleteSecurityGroup",
    "DeleteSnapshot",
    "DeleteVolume",
    "DeregisterImage",
    "DescribeImageAttribute",
    "DescribeImages",
    "DescribeInstanceStatus",
    "DescribeInstances",
    "DescribeRegions",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeSubnets",
    "DescribeTags",
    "DescribeVolumes",
    "DetachVolume",
    "GetPasswordData",
    "ModifyImageAttribute",
    "ModifyInstanceAttribute",
    "ModifySnapshotAttribute",
    "RegisterImage",
    "RunInstances",
    "StopInstances",
    "TerminateInstances",
)


def _packer_describe(action: str) -> bool:
    """A Describe call without resource-level permissions (DescribeImageAttribute names its
    image, per the Service Authorization Reference)."""
    return action.startswith("Describe") and action != "DescribeImageAttribute"


def _ami_builder(context: BuiltinContext) -> RunnerSpec:
    p = context.partition
    # Packer parses flags with Go's flag package: single dash, and flags before the template.
    build = ScriptSpec(
        command=["packer", "build"],
        options=["-color=false"],
        allowed_options={
            "-var": _KEY_VALUE,
            "-var-file": _PATH,
            "-only": r"[A-Za-z0-9_.,-]{1,256}",
        },
        positional=True,
        positional_pattern=_PATH,
    )
    return RunnerSpec(
        on="ecs",
        image=context.runner_image,
        cpu=512,
        memory=1024,
        max_wait_minutes=120,
        permissions=[
            # The Describe calls have no resource-level permissions in IAM (but one).
            Permission.on_any_resource([f"ec2:{a}" for a in _PACKER_EC2 if _packer_describe(a)]),
            # Everything else on this account's EC2 resources in this region, and the public or
            # shared images and snapshots a build starts from.
            Permission(
                actions=[f"ec2:{a}" for a in _PACKER_EC2 if not _packer_describe(a)],
                resources=[
                    f"arn:{p}:ec2:{context.region}:{context.account}:*",
                    f"arn:{p}:ec2:{context.region}::image/*",
                    f"arn:{p}:ec2:{context.region}::snapshot/*",
                ],
            ),
            *_artifact_read(context),
        ],
        scripts={"build": build},
    )


_BUILDERS: dict[str, Callable[[BuiltinContext], RunnerSpec]] = {
    "cloudformation-planner": _cloudformation_planner,
    "cloudformation-applier": _cloudformation_applier,
    "terraform-planner": _terraform_planner,
    "terraform-applier": _terraform_applier,
    "image-builder": _image_builder,
    "ami-builder": _ami_builder,
}
