"""<app>-pipeline: the release pipeline and what it needs in the toolchain account.

The ReleasePlan says what happens in which order; this module only says how CodePipeline V2
expresses it. Every environment stack receives the pushed image by digest, never by tag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from awacs import awslambda as lambda_actions
from awacs import codebuild as codebuild_actions
from awacs import codepipeline as codepipeline_actions
from awacs import ecr as ecr_actions
from awacs import s3, sns
from awacs import sts as sts_actions
from awacs.aws import Statement
from troposphere import GetAtt, Join, Output, Parameter, Ref, Template, codepipeline, events, iam
from troposphere import sns as sns_resources

from pipelines import image_naming, naming
from pipelines.aws_facts import partition_of
from pipelines.builders.artifacts import ARTIFACT_BUCKET, ARTIFACT_KEY, add_artifact_store
from pipelines.builders.iam import (
    KEY_USE_ACTIONS,
    allow,
    role_policy,
    service_trust,
)
from pipelines.builders.marker import add_release_marker, marker_function_arn
from pipelines.builders.template import new_template
from pipelines.config.models import Environment, Project
from pipelines.config.runners import environment_steps
from pipelines.invoker.names import (
    ENVIRONMENT_VARIABLE,
    RUNNER_ARGV_VARIABLE,
    SKIP_ON_ROLLBACK,
)
from pipelines.release.plan import ReleasePlan, Stage, Step, StepKind

CAPABILITIES = "CAPABILITY_NAMED_IAM"
APPROVAL_TOPIC = "ApprovalTopic"
DIGEST_VARIABLE = f"#{{{naming.SOURCE_NAMESPACE}.ImageDigest}}"
EXECUTION_VARIABLE = "#{codepipeline.PipelineExecutionId}"
MAX_PLANS_IN_APPROVAL = 3


def build_pipeline(project: Project, plans: Mapping[str | None, ReleasePlan]) -> Template:
    """The pipeline stack: the artifact store and approvals topic every pipeline shares, and per
    image (`plans` holds each image's plan, by name; None for the one `image`) its pipeline,
    its role, its release marker and the rule a push to its repository fires."""
    app = project.app
    if project.images:
        described = "Each image's pipeline is started by a push to that image's repository"
    else:
        described = (
            f"A push of {project.pipeline_image.repository}:{project.pipeline_image.release_tag}"
        )
    template = new_template(
        f"{app}: release pipeline. {described} deploys to {project.environments[0].name} and is "
        "promoted through each later environment."
    )
    add_artifact_store(template, project, project.toolchain.region)
    for region in project.regions[1:]:
        template.add_parameter(artifact_key_parameter(project, region))
    topic = template.add_resource(
        sns_resources.Topic(
            APPROVAL_TOPIC,
            TopicName=naming.approvals_topic(app),
            DisplayName=f"{app} release approvals",
            KmsMasterKeyId=GetAtt(ARTIFACT_KEY, "Arn"),
        )
    )
    for i, email in enumerate(sorted(project.notifications.approvals), start=1):
        template.add_resource(
            sns_resources.SubscriptionResource(
                f"ApprovalSubscription{i}", Protocol="email", Endpoint=email, TopicArn=Ref(topic)
            )
        )
    for name, plan in plans.items():
        _add_image_pipeline(template, project.for_image(name), plan)
    template.add_output(Output("ArtifactBucketName", Value=Ref(ARTIFACT_BUCKET)))
    template.add_output(Output("ArtifactKeyArn", Value=GetAtt(ARTIFACT_KEY, "Arn")))
    template.add_output(Output("ApprovalTopicArn", Value=Ref(topic)))
    return template


def _add_image_pipeline(template: Template, project: Project, plan: ReleasePlan) -> None:
    """One image's pipeline and what is its alone (`project` is that image's view)."""
    sfx = image_naming.logical_suffix(project.image_name)
    role = template.add_resource(_pipeline_role(project))
    add_release_marker(template, project)
    pipeline = template.add_resource(
        codepipeline.Pipeline(
            f"Pipeline{sfx}",
            Name=image_naming.pipeline_name(project.app, project.image_name),
            RoleArn=GetAtt(role, "Arn"),
            PipelineType="V2",
            # One execution per stage at a time, in push order: an approval always belongs to
            # the execution the console shows, and a later push never overtakes an earlier one.
            ExecutionMode="QUEUED",
            RestartExecutionOnUpdate=False,
            Stages=_stages(project, plan),
            **_artifact_stores(project),
        )
    )
    _add_trigger(template, project)
    template.add_output(Output(f"PipelineName{sfx}", Value=Ref(pipeline)))


def artifact_key_parameter(project: Project, region: str) -> Parameter:
    """Another region's artifact key, by ARN (its stack makes it; deploy looks it up)."""
    account = project.toolchain.account
    return Parameter(
        naming.artifact_key_parameter(region),
        Type="String",
        Description=f"ARN of the artifact key in {region}; pipelines deploy sets it",
        AllowedPattern=artifact_key_pattern(partition_of(region), region, account),
        ConstraintDescription=f"a KMS key ARN of account {account} in {region}",
    )


def artifact_key_pattern(partition: str, region: str, account: str) -> str:
    return f"^arn:{partition}:kms:{region}:{account}:key/[0-9a-f-]{{36}}$"


def image_uri_expression(project: Project) -> str:
    """The released image as the pipeline sees it: repository@digest, never a tag."""
    return f"{project.repository_uri}@{DIGEST_VARIABLE}"


def parameter_overrides(project: Project) -> str:
    return json.dumps({naming.IMAGE_URI_PARAMETER: image_uri_expression(project)})


def _artifact_stores(project: Project) -> dict[str, object]:
    def store(region: str) -> codepipeline.ArtifactStore:
        if region == project.toolchain.region:
            location, key = Ref(ARTIFACT_BUCKET), GetAtt(ARTIFACT_KEY, "Arn")
        else:
            location = naming.artifact_bucket(project.app, project.toolchain.account, region)
            key = Ref(naming.artifact_key_parameter(region))
        return codepipeline.ArtifactStore(
            Type="S3",
            Location=location,
            EncryptionKey=codepipeline.EncryptionKey(Id=key, Type="KMS"),
        )

    if len(project.regions) == 1:
        return {"ArtifactStore": store(project.toolchain.region)}
    return {
        "ArtifactStores": [
            codepipeline.ArtifactStoreMap(Region=region, ArtifactStore=store(region))
            for region in project.regions
        ]
    }


def _stages(project: Project, plan: ReleasePlan) -> list[codepipeline.Stages]:
    declarations = []
    entered: set[str] = set()
    for stage in plan.stages:
        declaration = _stage(project, stage)
        env = stage.environment
        if env is not None and env.name not in entered:
            entered.add(env.name)
            if env.deploy_window is not None:
                declaration.BeforeEntry = _window_entry(env)
        declarations.append(declaration)
    return declarations


def _window_entry(env: Environment) -> codepipeline.BeforeEntryConditions:
    """The environment's first stage is entered only inside its deployment window: an entry
    condition with CodePipeline's DeploymentWindow rule, whose result for an entry condition is
    FAIL (SKIP is for LambdaInvoke and VariableCheck rules only). A release waits at the entry
    until the window opens: AWS's rule reference notes that an alarm rule beside it is not
    checked again once the window opens
    (https://docs.aws.amazon.com/codepipeline/latest/userguide/rule-reference-DeploymentWindow.html,
    https://docs.aws.amazon.com/codepipeline/latest/userguide/stage-conditions.html)."""
    assert env.deploy_window is not None
    return codepipeline.BeforeEntryConditions(
        Conditions=[
            codepipeline.Condition(
                Result="FAIL",
                Rules=[
                    codepipeline.RuleDeclaration(
                        Name=naming.deploy_window_rule(env.name),
                        RuleTypeId=codepipeline.RuleTypeId(
                            Category="Rule", Owner="AWS", Provider="DeploymentWindow", Version="1"
                        ),
                        Configuration={
                            "Cron": env.deploy_window.cron,
                            "TimeZone": env.deploy_window.timezone,
                        },
                    )
                ],
            )
        ]
    )


def _stage(project: Project, stage: Stage) -> codepipeline.Stages:
    declaration = codepipeline.Stages(
        Name=stage.name, Actions=[_action(project, stage.environment, step) for step in stage.steps]
    )
    env = stage.environment
    if env is not None and env.bake_minutes is not None and stage.final:
        # Bake: the stage succeeds only once its alarms stayed quiet for bake_minutes, so the next
        # environment's approval appears only after that; an alarm, or any failure, rolls the
        # stage back to the digest of its last successful execution.
        declaration.OnSuccess = codepipeline.SuccessConditions(
            Conditions=[codepipeline.Condition(Result="ROLLBACK", Rules=_bake_rules(project, env))]
        )
        declaration.OnFailure = codepipeline.FailureConditions(Result="ROLLBACK")
    return declaration


def _bake_rules(project: Project, env: Environment) -> list[codepipeline.RuleDeclaration]:
    assert env.bake_minutes is not None
    rules = []
    for alarm in env.alarms:
        rule = codepipeline.RuleDeclaration(
            Name=naming.bake_rule(alarm),
            RuleTypeId=codepipeline.RuleTypeId(
                Category="Rule", Owner="AWS", Provider="CloudWatchAlarm", Version="1"
            ),
            Configuration={
                "AlarmName": alarm,
                "AlarmStates": "ALARM",
                "WaitTime": str(env.bake_minutes),
            },
            # The alarm lives in the environment's account: read it as the deploy role there.
            RoleArn=naming.role_arn(
                partition_of(env.region), env.account, naming.deploy_role(project.app, env.name)
            ),
        )
        if env.region != project.toolchain.region:
            rule.Region = env.region
        rules.append(rule)
    return rules


def _action(project: Project, env: Environment | None, step: Step) -> codepipeline.Actions:
    if step.kind is StepKind.SOURCE_IMAGE:
        return codepipeline.Actions(
            Name=step.name,
            ActionTypeId=_type("Source", "ECR"),
            Configuration={
                "RepositoryName": project.pipeline_image.repository,
                "ImageTag": project.pipeline_image.release_tag,
            },
            OutputArtifacts=[codepipeline.OutputArtifacts(Name=naming.IMAGE_ARTIFACT)],
            Namespace=naming.SOURCE_NAMESPACE,
            RunOrder=step.run_order,
        )
    if step.kind is StepKind.SOURCE_TEMPLATES:
        return codepipeline.Actions(
            Name=step.name,
            ActionTypeId=_type("Source", "S3"),
            Configuration={
                "S3Bucket": Ref(ARTIFACT_BUCKET),
                "S3ObjectKey": naming.TEMPLATES_BUNDLE_KEY,
                # Only image pushes start releases; new templates wait for the next one.
                "PollForSourceChanges": "false",
            },
            OutputArtifacts=[codepipeline.OutputArtifacts(Name=naming.TEMPLATES_ARTIFACT)],
            RunOrder=step.run_order,
        )
    assert env is not None
    if step.kind is StepKind.APPROVE:
        return _approval(project, env, step)
    if step.kind is StepKind.RUN:
        return _runner_action(project, env, step)
    if step.kind is StepKind.MARK:
        return _marker_action(project, env, step)
    return _cloudformation(project, env, step)


def _marker_action(project: Project, env: Environment, step: Step) -> codepipeline.Actions:
    """The release marker (builders/marker.py) after the environment's deployment: the released
    digest becomes `deployed-<env>`, and the digest that tag named before becomes
    `deployed-<env>-previous`, so the repository's lifecycle policy keeps both."""
    request = {
        "repository": project.pipeline_image.repository,
        "digest": DIGEST_VARIABLE,
        "tag": naming.deployed_tag(env.name),
        "previous": naming.previous_deployed_tag(env.name),
    }
    return _invoke(
        step, image_naming.release_marker_function(project.app, project.image_name), request
    )


def _runner_action(project: Project, env: Environment, step: Step) -> codepipeline.Actions:
    """A deploy-runner job: a CodeBuild build, or an ECS task started by the invoker Lambda.

    Both run in the toolchain's region (where the project and the invoker are); the invoker
    starts the task in the environment's own account. Their outputs (`summary`, `changeSetId`,
    `planSha256`, ...) land in the step's namespace for later steps and the approval.
    """
    run = step.run
    assert run is not None
    if run.on == "codebuild":
        # The argv was admitted at synth (with no variables: the loader refuses them here); the
        # project's buildspec runs it as an argv list, never through a shell.
        variables = [
            {
                "name": RUNNER_ARGV_VARIABLE,
                "value": json.dumps(list(run.argv)),
                "type": "PLAINTEXT",
            },
            {"name": ENVIRONMENT_VARIABLE, "value": env.name, "type": "PLAINTEXT"},
        ]
        return codepipeline.Actions(
            Name=step.name,
            ActionTypeId=_type("Build", "CodeBuild"),
            Configuration={
                "ProjectName": naming.runner_codebuild_project(project.app, run.runner),
                "PrimarySource": naming.TEMPLATES_ARTIFACT,
                "EnvironmentVariables": json.dumps(variables, separators=(",", ":")),
            },
            InputArtifacts=[codepipeline.InputArtifacts(Name=naming.TEMPLATES_ARTIFACT)],
            Namespace=run.namespace,
            RunOrder=step.run_order,
        )
    # The invoker admits the request again once CodePipeline has resolved its variables.
    request: dict[str, object] = {
        "runner": run.runner,
        "script": run.script,
        "args": list(run.args),
        "environment": env.name,
    }
    if run.release_image:
        request["image"] = image_uri_expression(project)
    if run.on_rollback == "skip":
        # The invoker asks CodePipeline whether this execution is a stage rollback.
        request[SKIP_ON_ROLLBACK] = {
            "pipeline": image_naming.pipeline_name(project.app, project.image_name),
            "execution": EXECUTION_VARIABLE,
        }
    return _invoke(
        step,
        naming.invoker_function(project.app),
        request,
        InputArtifacts=[codepipeline.InputArtifacts(Name=naming.TEMPLATES_ARTIFACT)],
        Namespace=run.namespace,
    )


def _invoke(
    step: Step, function: str, request: Mapping[str, object], **extra: object
) -> codepipeline.Actions:
    """A Lambda invoke action whose UserParameters are `request` as compact, sorted JSON."""
    return codepipeline.Actions(
        Name=step.name,
        ActionTypeId=_type("Invoke", "Lambda"),
        Configuration={
            "FunctionName": function,
            "UserParameters": json.dumps(request, sort_keys=True, separators=(",", ":")),
        },
        RunOrder=step.run_order,
        **extra,
    )


def _cloudformation(project: Project, env: Environment, step: Step) -> codepipeline.Actions:
    assert step.service is not None and step.stack is not None
    app, partition = project.app, partition_of(env.region)
    configuration: dict[str, str] = {"StackName": step.stack}
    if step.kind is StepKind.APPLY:
        configuration |= {
            "ActionMode": "CHANGE_SET_EXECUTE",
            "ChangeSetName": naming.change_set(app, env.name, step.service),
        }
        inputs = []
    else:
        configuration |= {
            "ActionMode": "CREATE_UPDATE" if step.kind is StepKind.DEPLOY else "CHANGE_SET_REPLACE",
            "TemplatePath": f"{naming.TEMPLATES_ARTIFACT}::{naming.template_file(step.stack)}",
            "ParameterOverrides": parameter_overrides(project),
            "Capabilities": CAPABILITIES,
            "RoleArn": naming.role_arn(
                partition, env.account, naming.cloudformation_role(app, env.name)
            ),
        }
        if step.kind is StepKind.PLAN:
            configuration["ChangeSetName"] = naming.change_set(app, env.name, step.service)
        inputs = [codepipeline.InputArtifacts(Name=naming.TEMPLATES_ARTIFACT)]
    action = codepipeline.Actions(
        Name=step.name,
        ActionTypeId=_type("Deploy", "CloudFormation"),
        Configuration=configuration,
        InputArtifacts=inputs,
        RoleArn=naming.role_arn(partition, env.account, naming.deploy_role(app, env.name)),
        RunOrder=step.run_order,
    )
    if env.region != project.toolchain.region:
        action.Region = env.region
    return action


def _approval(project: Project, env: Environment, step: Step) -> codepipeline.Actions:
    region, account = project.toolchain.region, project.toolchain.account
    repository = project.pipeline_image.repository
    plans = [s.namespace for s in environment_steps(project, env) if s.phase == "before_approval"]
    if plans:
        # CustomData holds at most 500 characters once CodePipeline resolves the variables, so
        # with plans the message is short and shows the first few plans' summaries (each at
        # most MAX_SUMMARY characters, which the invoker enforces).
        shown = plans[:MAX_PLANS_IN_APPROVAL]
        more = len(plans) - len(shown)
        message = (
            f"{project.app}: promote {repository}@{DIGEST_VARIABLE} to {env.name} "
            f"({env.account}, {env.region}), execution {EXECUTION_VARIABLE}. Plans: "
            + " | ".join(f"#{{{ns}.summary}}" for ns in shown)
            + (f" (+{more} more in the actions' details)" if more else "")
        )
    else:
        message = (
            f"{project.app}: promote image {repository}@{DIGEST_VARIABLE} to "
            f"{env.name} (account {env.account}, {env.region}). Pipeline execution "
            f"{EXECUTION_VARIABLE}. The change sets named "
            f"{naming.change_set(project.app, env.name, '<service>')} in that account show what "
            "will change; approving applies exactly those change sets."
        )
    link = (
        f"https://{region}.console.aws.amazon.com/ecr/repositories/private/{account}/"
        f"{repository}/_/image/{DIGEST_VARIABLE}/details?region={region}"
    )
    approval = codepipeline.Actions(
        Name=step.name,
        ActionTypeId=_type("Approval", "Manual"),
        Configuration={
            "NotificationArn": Ref(APPROVAL_TOPIC),
            "CustomData": message,
            "ExternalEntityLink": link,
        },
        RunOrder=step.run_order,
    )
    if env.approval_timeout_minutes is not None:
        # Manual approval actions only: 5 minutes to 86,400 (60 days) instead of the fixed 7 days
        # (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ActionDeclaration.html,
        # https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html).
        approval.TimeoutInMinutes = env.approval_timeout_minutes
    return approval


def _type(category: str, provider: str) -> codepipeline.ActionTypeId:
    return codepipeline.ActionTypeId(Category=category, Owner="AWS", Provider=provider, Version="1")


def _pipeline_role(project: Project) -> iam.Role:
    app = project.app
    toolchain = project.toolchain
    partition = partition_of(toolchain.region)
    bucket_arn = GetAtt(ARTIFACT_BUCKET, "Arn")
    other_regions = project.regions[1:]
    other_buckets = [
        f"arn:{partition}:s3:::{naming.artifact_bucket(app, toolchain.account, r)}"
        for r in other_regions
    ]
    objects = [Join("", [bucket_arn, "/*"]), *(f"{b}/*" for b in other_buckets)]
    deploy_roles = sorted(
        {
            naming.role_arn(partition, env.account, naming.deploy_role(app, env.name))
            for env in project.environments
        }
    )
    statements = [
        allow(
            [s3.GetBucketLocation, s3.GetBucketVersioning, s3.ListBucket],
            [bucket_arn, *other_buckets],
        ),
        allow([s3.GetObject, s3.GetObjectVersion, s3.PutObject], objects),
        allow(
            KEY_USE_ACTIONS,
            [GetAtt(ARTIFACT_KEY, "Arn")],
        ),
        allow(
            [ecr_actions.DescribeImages],
            [
                naming.repository_arn(
                    partition,
                    toolchain.region,
                    toolchain.account,
                    project.pipeline_image.repository,
                )
            ],
        ),
        allow([sns.Publish], [Ref(APPROVAL_TOPIC)]),
        allow([sts_actions.AssumeRole], deploy_roles),
        *_runner_statements(project),
        *_lambda_statements(project),
    ]
    if other_regions:
        # Regional keys are created by their own stacks; deploy passes in their ARNs.
        statements.append(
            allow(KEY_USE_ACTIONS, [Ref(naming.artifact_key_parameter(r)) for r in other_regions])
        )
    return iam.Role(
        f"PipelineRole{image_naming.logical_suffix(project.image_name)}",
        RoleName=image_naming.pipeline_role(app, project.image_name),
        Description=f"{image_naming.pipeline_name(app, project.image_name)} runs as this role"
        if project.image_name
        else f"{app}'s release pipeline runs as this role",
        AssumeRolePolicyDocument=service_trust("codepipeline.amazonaws.com"),
        Policies=[role_policy("run-release-pipeline", *statements)],
    )


def _lambda_statements(project: Project) -> list[Statement]:
    """Invoking the Lambda functions the pipeline's actions name: the release marker, and the
    runner's invoker if a step runs on ECS."""
    app, toolchain = project.app, project.toolchain
    functions = [marker_function_arn(project)]
    steps = [s for env in project.environments for s in environment_steps(project, env)]
    if any(s.on == "ecs" for s in steps):
        functions.append(
            naming.arn(
                partition_of(toolchain.region),
                "lambda",
                toolchain.region,
                toolchain.account,
                f"function:{naming.invoker_function(app)}",
            )
        )
    return _invoke_statements(functions)


def _invoke_statements(functions: list[str]) -> list[Statement]:
    """What a pipeline role needs for Lambda invoke actions on these functions."""
    return [
        allow([lambda_actions.InvokeFunction], sorted(functions)),
        # ListFunctions has no resource-level permissions; CodePipeline's service role policy
        # lists it for Lambda invoke actions.
        allow([lambda_actions.ListFunctions], ["*"]),
    ]


def _runner_statements(project: Project) -> list[Statement]:
    """Starting the CodeBuild runner steps (the invoker's are in _lambda_statements)."""
    app, toolchain = project.app, project.toolchain
    partition = partition_of(toolchain.region)
    steps = [s for env in project.environments for s in environment_steps(project, env)]
    statements = []
    projects = sorted({s.runner for s in steps if s.on == "codebuild"})
    if projects:
        statements.append(
            allow(
                [codebuild_actions.BatchGetBuilds, codebuild_actions.StartBuild],
                [
                    naming.arn(
                        partition,
                        "codebuild",
                        toolchain.region,
                        toolchain.account,
                        f"project/{naming.runner_codebuild_project(app, r)}",
                    )
                    for r in projects
                ],
            )
        )
    return statements


def _add_trigger(template: Template, project: Project) -> None:
    app, toolchain, image = project.app, project.toolchain, project.image_name
    released = project.pipeline_image
    sfx = image_naming.logical_suffix(image)
    pipeline_arn = naming.arn(
        partition_of(toolchain.region),
        "codepipeline",
        toolchain.region,
        toolchain.account,
        image_naming.pipeline_name(app, image),
    )
    role = template.add_resource(
        iam.Role(
            f"TriggerRole{sfx}",
            RoleName=image_naming.trigger_role(app, image),
            Description=f"EventBridge starts {image_naming.pipeline_name(app, image)} as this role"
            if image
            else f"EventBridge starts {app}'s release pipeline as this role",
            AssumeRolePolicyDocument=service_trust("events.amazonaws.com"),
            Policies=[
                role_policy(
                    "start-release",
                    allow([codepipeline_actions.StartPipelineExecution], [pipeline_arn]),
                )
            ],
        )
    )
    template.add_resource(
        events.Rule(
            f"TriggerRule{sfx}",
            Name=image_naming.trigger_rule(app, image),
            Description=f"A push of {released.repository}:{released.release_tag} starts a release",
            State="ENABLED",
            EventPattern={
                "source": ["aws.ecr"],
                "detail-type": ["ECR Image Action"],
                "detail": {
                    "action-type": ["PUSH"],
                    "result": ["SUCCESS"],
                    "repository-name": [released.repository],
                    "image-tag": [released.release_tag],
                },
            },
            Targets=[
                events.Target(Id="release-pipeline", Arn=pipeline_arn, RoleArn=GetAtt(role, "Arn"))
            ],
        )
    )
