"""<app>-<env>-<service>: one ECS Fargate service in one environment, owned by its stack.

The pipeline changes only the ImageUri parameter; everything else changes through this template.
"""

from __future__ import annotations

from typing import NamedTuple

from awacs import elasticloadbalancing as elb_actions
from awacs import logs as logs_actions
from awacs import ssm
from troposphere import (
    AWSObject,
    GetAtt,
    ImportValue,
    Output,
    Parameter,
    Ref,
    Template,
    ec2,
    ecs,
    iam,
    logs,
)
from troposphere import elasticloadbalancingv2 as elb

from pipelines import naming, patterns
from pipelines.aws_facts import partition_of
from pipelines.builders import fargate
from pipelines.builders.iam import (
    allow,
    ecs_task_trust,
    granted_statements,
    image_pull_statements,
    role_policy,
    secret_read_statements,
    service_trust,
)
from pipelines.builders.template import new_template, suppress_checkov
from pipelines.config.models import Environment, Project, ResolvedRollout

LOG_RETENTION_DAYS = 365
DIGEST_PATTERN = f"^{patterns.IMAGE_BY_DIGEST}$"  # CloudFormation anchors nothing


def build_service(project: Project, env: Environment, service: str) -> Template:
    app, spec = project.app, project.services[service]
    settings = project.settings(env, service)
    rollout = project.rollout(env, service)
    template = new_template(f"{app}: the {service} service in {env.name}.")
    image = template.add_parameter(
        Parameter(
            naming.IMAGE_URI_PARAMETER,
            Type="String",
            Description="The image to run, pinned by digest. The release pipeline sets it.",
            AllowedPattern=DIGEST_PATTERN,
            ConstraintDescription="an image URI pinned by digest: <repository>@sha256:<64 hex>",
        )
    )

    if env.cluster:
        cluster_ref: object = env.cluster
    else:
        cluster = template.add_resource(
            ecs.Cluster(
                "Cluster",
                ClusterName=naming.cluster_name(app, env.name, service),
                ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="enabled")],
            )
        )
        cluster_ref = Ref(cluster)

    log_group = template.add_resource(
        logs.LogGroup(
            "LogGroup",
            LogGroupName=naming.log_group(app, env.name, service),
            RetentionInDays=LOG_RETENTION_DAYS,
            KmsKeyId=ImportValue(naming.log_key_export(app, env.name)),
        )
    )
    execution_role = template.add_resource(_execution_role(project, env, service, log_group))
    task_role = template.add_resource(_task_role(project, env, service))
    task_definition = template.add_resource(
        _task_definition(project, env, service, image, log_group, execution_role, task_role)
    )
    security_group = template.add_resource(_security_group(project, env, service))

    load_balancers = []
    depends_on = []
    attached = env.load_balancer is not None and spec.port is not None
    if attached:
        routing = _routing(project, env, service)
        for resource in routing.resources:
            template.add_resource(resource)
        balancer = ecs.LoadBalancer(
            ContainerName=service,
            ContainerPort=spec.port,
            TargetGroupArn=Ref(routing.target_group),
        )
        if routing.shifting is not None:
            balancer.AdvancedConfiguration = routing.shifting
        load_balancers = [balancer]
        # ECS refuses a target group that is not yet attached to a load balancer.
        depends_on = routing.rule_titles

    deployment = ecs.DeploymentConfiguration(
        MinimumHealthyPercent=rollout.minimum_healthy_percent,
        MaximumPercent=rollout.maximum_percent,
    )
    if rollout.strategy in ("rolling", "blue_green"):
        # ECS documents the circuit breaker for rolling and blue/green deployments only
        # (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
        # deployment-failure-detection.html); see docs/rollouts.md.
        deployment.DeploymentCircuitBreaker = ecs.DeploymentCircuitBreaker(
            Enable=True, Rollback=True
        )
    if rollout.shifts_traffic:
        _add_strategy(deployment, rollout)
    if rollout.hooks:
        deployment.LifecycleHooks = _lifecycle_hooks(project, env, service)
    if env.alarms:
        deployment.Alarms = ecs.DeploymentAlarms(
            AlarmNames=list(env.alarms), Enable=True, Rollback=True
        )
    ecs_service = ecs.Service(
        "Service",
        ServiceName=naming.service_name(app, env.name, service),
        Cluster=cluster_ref,
        LaunchType="FARGATE",
        TaskDefinition=Ref(task_definition),
        DesiredCount=settings.desired_count,
        DeploymentConfiguration=deployment,
        NetworkConfiguration=ecs.NetworkConfiguration(
            AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                AssignPublicIp="ENABLED" if env.network.public_ip else "DISABLED",
                SecurityGroups=[Ref(security_group)],
                Subnets=list(env.network.subnets),
            )
        ),
        PropagateTags="SERVICE",
        EnableECSManagedTags=True,
    )
    if load_balancers:
        ecs_service.LoadBalancers = load_balancers
        ecs_service.HealthCheckGracePeriodSeconds = rollout.health_check_grace_period
    if depends_on:
        ecs_service.DependsOn = depends_on
    if env.network.public_ip:
        suppress_checkov(
            ecs_service,
            {"CKV_AWS_333": f"network.public_ip is true in {env.name}.yaml: the user chose it"},
        )
    template.add_resource(ecs_service)

    template.add_output(Output("ServiceName", Value=GetAtt(ecs_service, "Name")))
    template.add_output(Output("ClusterName", Value=cluster_ref if env.cluster else Ref("Cluster")))
    template.add_output(Output("TaskDefinitionArn", Value=Ref(task_definition)))
    template.add_output(Output("ImageUri", Value=Ref(image)))
    return template


def _boundary(project: Project, env: Environment) -> str:
    """Every service role carries the environment's boundary: the CloudFormation role may create
    and change roles only with it (the deploy stack makes it)."""
    return naming.service_boundary_arn(partition_of(env.region), env.account, project.app, env.name)


def _task_role(project: Project, env: Environment, service: str) -> iam.Role:
    role = iam.Role(
        "TaskRole",
        RoleName=naming.task_role(project.app, env.name, service),
        Description=f"The {service} containers in {env.name} run as this role",
        AssumeRolePolicyDocument=ecs_task_trust(partition_of(env.region), env.region, env.account),
        PermissionsBoundary=_boundary(project, env),
    )
    statements = granted_statements(project.permissions(env, service))
    if statements:
        role.Policies = [role_policy("app-permissions", *statements)]
    return role


def _execution_role(
    project: Project, env: Environment, service: str, log_group: logs.LogGroup
) -> iam.Role:
    partition = partition_of(env.region)
    # Only the repository of the image this service runs.
    repository = naming.repository_arn(
        partition,
        project.toolchain.region,
        project.toolchain.account,
        project.image_of(service).repository,
    )
    secrets = project.settings(env, service).secrets
    parameter_arns = sorted(a for a in secrets.values() if ":ssm:" in a)
    statements = [
        *image_pull_statements([repository]),
        allow(
            [logs_actions.CreateLogStream, logs_actions.PutLogEvents],
            [GetAtt(log_group, "Arn")],
        ),
        *secret_read_statements([a for a in secrets.values() if ":secretsmanager:" in a]),
    ]
    if parameter_arns:
        statements.append(allow([ssm.GetParameters], parameter_arns))
    return iam.Role(
        "ExecutionRole",
        RoleName=naming.execution_role(project.app, env.name, service),
        Description=f"ECS starts the {service} tasks in {env.name} with this role",
        AssumeRolePolicyDocument=service_trust("ecs-tasks.amazonaws.com"),
        PermissionsBoundary=_boundary(project, env),
        Policies=[role_policy("pull-image-write-logs-read-secrets", *statements)],
    )


def _task_definition(
    project: Project,
    env: Environment,
    service: str,
    image: Parameter,
    log_group: logs.LogGroup,
    execution_role: iam.Role,
    task_role: iam.Role,
) -> ecs.TaskDefinition:
    spec = project.services[service]
    settings = project.settings(env, service)
    container = ecs.ContainerDefinition(
        Name=service,
        Image=Ref(image),
        Essential=True,
        StopTimeout=project.rollout(env, service).stop_timeout,
        # The root filesystem is read-only; /tmp is a writable scratch volume.
        ReadonlyRootFilesystem=True,
        MountPoints=[fargate.tmp_mount()],
        Environment=[
            ecs.Environment(Name=k, Value=v)
            for k, v in sorted(project.variables(env, service).items())
        ],
        LogConfiguration=fargate.awslogs(log_group, env.region, service),
    )
    if spec.port is not None:
        container.PortMappings = [ecs.PortMapping(ContainerPort=spec.port, Protocol="tcp")]
    if spec.command:
        container.Command = list(spec.command)
    if settings.secrets:
        container.Secrets = [
            ecs.Secret(Name=k, ValueFrom=v) for k, v in sorted(settings.secrets.items())
        ]
    return fargate.task_definition(
        "TaskDefinition",
        family=naming.task_family(project.app, env.name, service),
        cpu=spec.cpu,
        memory=spec.memory,
        execution_role=execution_role,
        task_role=task_role,
        container=container,
    )


def _security_group(project: Project, env: Environment, service: str) -> ec2.SecurityGroup:
    spec = project.services[service]
    group = ec2.SecurityGroup(
        "SecurityGroup",
        GroupDescription=f"{project.app} {service} tasks in {env.name}",
        VpcId=env.network.vpc,
        SecurityGroupEgress=[
            ec2.SecurityGroupRule(
                Description="Tasks reach the image registry, logs, secrets and their own "
                "dependencies",
                IpProtocol="-1",
                CidrIp="0.0.0.0/0",
            )
        ],
    )
    if env.load_balancer is not None and spec.port is not None:
        group.SecurityGroupIngress = [
            ec2.SecurityGroupRule(
                Description="Traffic from the load balancer only",
                IpProtocol="tcp",
                FromPort=spec.port,
                ToPort=spec.port,
                SourceSecurityGroupId=env.load_balancer.security_group,
            )
        ]
    return group


class Routing(NamedTuple):
    """What puts a service behind the environment's listener."""

    target_group: elb.TargetGroup
    resources: list[AWSObject]  # target groups, listener rules and the traffic-shift role
    rule_titles: list[str]  # rules the service must wait for that it does not already refer to
    shifting: ecs.AdvancedConfiguration | None  # for a strategy other than rolling


def _routing(project: Project, env: Environment, service: str) -> Routing:
    spec = project.services[service]
    load_balancer = env.load_balancer
    assert load_balancer is not None and spec.port is not None
    rollout = project.rollout(env, service)
    target_group = _target_group("TargetGroup", project, env, service)
    conditions = [
        elb.Condition(
            Field="host-header",
            HostHeaderConfig=elb.HostHeaderConfig(Values=[load_balancer.host]),
        )
    ]
    if spec.path:
        conditions.append(
            elb.Condition(
                Field="path-pattern", PathPatternConfig=elb.PathPatternConfig(Values=[spec.path])
            )
        )
    if not rollout.shifts_traffic:
        rule = elb.ListenerRule(
            "ListenerRule",
            ListenerArn=load_balancer.listener_arn,
            Priority=project.listener_priority(env, service),
            Conditions=conditions,
            Actions=[elb.ListenerRuleAction(Type="forward", TargetGroupArn=Ref(target_group))],
        )
        return Routing(target_group, [target_group, rule], [rule.title], None)

    # Blue/green, canary and linear: ECS moves the weights of the rules' forward action between
    # the primary and the alternate target group, as the role below
    # (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html).
    alternate = _target_group("AlternateTargetGroup", project, env, service)
    rule = elb.ListenerRule(
        "ListenerRule",
        ListenerArn=load_balancer.listener_arn,
        Priority=project.listener_priority(env, service),
        Conditions=conditions,
        Actions=[_weighted_forward(target_group, alternate)],
    )
    rules = [rule]
    header = rollout.test_traffic_header
    if header is not None:
        rules.append(
            elb.ListenerRule(
                "TestListenerRule",
                ListenerArn=load_balancer.listener_arn,
                Priority=project.listener_priority(env, service, test=True),
                Conditions=[
                    *conditions,
                    elb.Condition(
                        Field="http-header",
                        HttpHeaderConfig=elb.HttpHeaderConfig(
                            HttpHeaderName=header.name, Values=[header.value]
                        ),
                    ),
                ],
                Actions=[_weighted_forward(target_group, alternate)],
            )
        )
    role = _traffic_shift_role(project, env, service, [target_group, alternate], rules)
    shifting = ecs.AdvancedConfiguration(
        AlternateTargetGroupArn=Ref(alternate),
        ProductionListenerRule=Ref(rule),
        RoleArn=GetAtt(role, "Arn"),
    )
    if header is not None:
        shifting.TestListenerRule = Ref(rules[1])
    # The service refers to its rules (AdvancedConfiguration), so it waits for them already.
    return Routing(target_group, [target_group, alternate, *rules, role], [], shifting)


def _target_group(title: str, project: Project, env: Environment, service: str) -> elb.TargetGroup:
    spec = project.services[service]
    assert spec.port is not None
    health_path = spec.health_check.path if spec.health_check else "/"
    rollout = project.rollout(env, service)
    return elb.TargetGroup(
        title,
        TargetType="ip",
        Protocol="HTTP",
        Port=spec.port,
        VpcId=env.network.vpc,
        HealthCheckEnabled=True,
        HealthCheckPath=health_path,
        HealthCheckProtocol="HTTP",
        HealthCheckIntervalSeconds=rollout.health_check_interval,
        HealthCheckTimeoutSeconds=rollout.health_check_timeout,
        HealthyThresholdCount=rollout.healthy_threshold,
        UnhealthyThresholdCount=rollout.unhealthy_threshold,
        Matcher=elb.Matcher(HttpCode="200-399"),
        TargetGroupAttributes=[
            elb.TargetGroupAttribute(
                Key="deregistration_delay.timeout_seconds",
                Value=str(rollout.deregistration_delay),
            )
        ],
    )


def _weighted_forward(
    primary: elb.TargetGroup, alternate: elb.TargetGroup
) -> elb.ListenerRuleAction:
    """All traffic to the primary group; ECS changes the weights during a deployment."""
    return elb.ListenerRuleAction(
        Type="forward",
        ForwardConfig=elb.ForwardConfig(
            TargetGroups=[
                elb.TargetGroupTuple(TargetGroupArn=Ref(primary), Weight=1),
                elb.TargetGroupTuple(TargetGroupArn=Ref(alternate), Weight=0),
            ]
        ),
    )


def _traffic_shift_role(
    project: Project,
    env: Environment,
    service: str,
    target_groups: list[elb.TargetGroup],
    rules: list[elb.ListenerRule],
) -> iam.Role:
    """The role ECS shifts traffic as: the actions of AWS's managed policy
    AmazonECSInfrastructureRolePolicyForLoadBalancers that an ALB listener rule needs, on this
    service's two target groups and its rules only
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
    AmazonECSInfrastructureRolePolicyForLoadBalancers.html)."""
    return iam.Role(
        "TrafficShiftRole",
        RoleName=naming.traffic_shift_role(project.app, env.name, service),
        Description=f"ECS shifts the {service} traffic in {env.name} between target groups",
        AssumeRolePolicyDocument=service_trust("ecs.amazonaws.com"),
        PermissionsBoundary=_boundary(project, env),
        Policies=[
            role_policy(
                "shift-traffic",
                # Describe calls have no resource-level permissions.
                allow(TRAFFIC_SHIFT_READS, ["*"]),
                allow(
                    [elb_actions.DeregisterTargets, elb_actions.RegisterTargets],
                    [Ref(group) for group in target_groups],
                ),
                allow([elb_actions.ModifyRule], [Ref(rule) for rule in rules]),
            )
        ],
    )


TRAFFIC_SHIFT_READS = [
    elb_actions.DescribeListeners,
    elb_actions.DescribeRules,
    elb_actions.DescribeTargetGroups,
    elb_actions.DescribeTargetHealth,
]

STRATEGY_NAMES = {"blue_green": "BLUE_GREEN", "canary": "CANARY", "linear": "LINEAR"}


def _add_strategy(deployment: ecs.DeploymentConfiguration, rollout: ResolvedRollout) -> None:
    """ECS's own strategy and its timing (AWS::ECS::Service DeploymentConfiguration:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/
    aws-properties-ecs-service-deploymentconfiguration.html)."""
    deployment.Strategy = STRATEGY_NAMES[rollout.strategy]
    deployment.BakeTimeInMinutes = rollout.bake_minutes
    if rollout.strategy == "canary":
        deployment.CanaryConfiguration = ecs.CanaryConfiguration(
            CanaryPercent=rollout.canary_percent,
            CanaryBakeTimeInMinutes=rollout.canary_bake_minutes,
        )
    elif rollout.strategy == "linear":
        deployment.LinearConfiguration = ecs.LinearConfiguration(
            StepPercent=rollout.linear_step_percent,
            StepBakeTimeInMinutes=rollout.linear_step_bake_minutes,
        )


def _lifecycle_hooks(
    project: Project, env: Environment, service: str
) -> list[ecs.DeploymentLifecycleHook]:
    """One hook per stage with jobs, each calling the environment's hook function as its hook
    role (both on the environment's runner stack). ECS's event does not name the stage, so each
    hook's HookDetails do: ECS passes them to every call
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/lambda-lifecycle-hooks.html)."""
    app, partition = project.app, partition_of(env.region)
    name = naming.hook_function(app, env.name)
    function = naming.arn(partition, "lambda", env.region, env.account, f"function:{name}")
    role = naming.role_arn(partition, env.account, naming.hook_role(app, env.name))
    return [
        ecs.DeploymentLifecycleHook(
            HookTargetArn=function,
            RoleArn=role,
            LifecycleStages=[stage.upper()],
            HookDetails={"environment": env.name, "service": service, "stage": stage.upper()},
        )
        for stage in project.rollout(env, service).hooks
    ]
