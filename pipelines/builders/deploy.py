"""<app>-<env>-deploy: what the pipeline may do in one environment's account.

Two roles: the one the pipeline assumes (it may only manage this environment's service stacks'
change sets and hand them to CloudFormation) and the one CloudFormation runs as (it may only
create and change the named resources those stacks hold). Both are scoped to exact names, so
neither can touch this stack or its own role. It also holds the environment's log key.
"""

from __future__ import annotations

from collections.abc import Callable

from awacs import cloudformation as cfn
from awacs import cloudwatch, ec2, ecs, kms, logs, s3, secretsmanager, ssm
from awacs import elasticloadbalancing as elb
from awacs import iam as iam_actions
from awacs.aws import Statement
from troposphere import Export, GetAtt, Output, Ref, Template, iam
from troposphere import kms as kms_resources

from pipelines import image_naming, naming
from pipelines.aws_facts import partition_of
from pipelines.builders.iam import (
    ACCOUNT_ROOT_TRUST_REASON,
    allow,
    deny,
    distinct_actions,
    document,
    granted_statements,
    image_pull_statements,
    logs_key,
    principals_trust,
    role_policy,
    service_trust,
    shared_prefix_patterns,
)
from pipelines.builders.service import TRAFFIC_SHIFT_READS
from pipelines.builders.template import new_template, suppress_checkov
from pipelines.config.models import Environment, Project
from pipelines.config.permissions import Permission


def build_deploy(project: Project, env: Environment) -> Template:
    app, partition = project.app, partition_of(env.region)
    template = new_template(
        f"{app}: the roles the release pipeline uses in {env.name}, and {env.name}'s log key."
    )
    key = template.add_resource(_log_key(project, env))
    template.add_resource(
        kms_resources.Alias(
            "LogKeyAlias", AliasName=naming.log_key_alias(app, env.name), TargetKeyId=Ref(key)
        )
    )
    cfn_role = template.add_resource(
        iam.Role(
            "CloudFormationRole",
            RoleName=naming.cloudformation_role(app, env.name),
            Description=f"CloudFormation manages {app}'s {env.name} service stacks as this role",
            AssumeRolePolicyDocument=service_trust("cloudformation.amazonaws.com"),
            Policies=[role_policy("manage-service-stacks", *_stack_resources(project, env))],
        )
    )
    template.add_resource(
        iam.ManagedPolicy(
            "ServiceBoundary",
            ManagedPolicyName=naming.service_boundary(app, env.name),
            Description=f"The most any role of {app}'s {env.name} service stacks may do",
            PolicyDocument=document(*_service_boundary(project, env)),
        )
    )
    # Every image's pipeline deploys to the environment through this one role.
    pipeline_roles = [
        naming.role_arn(partition, project.toolchain.account, image_naming.pipeline_role(app, name))
        for name in project.image_names()
    ]
    deploy_role = template.add_resource(
        iam.Role(
            "DeployRole",
            RoleName=naming.deploy_role(app, env.name),
            Description=f"{app}'s release pipeline assumes this role to deploy to {env.name}",
            AssumeRolePolicyDocument=principals_trust(partition, pipeline_roles),
            Policies=[role_policy("deploy-service-stacks", *_deploy_statements(project, env))],
        )
    )
    suppress_checkov(deploy_role, ACCOUNT_ROOT_TRUST_REASON)
    template.add_output(
        Output(
            "LogKeyArn",
            Value=GetAtt(key, "Arn"),
            Export=Export(naming.log_key_export(app, env.name)),
        )
    )
    template.add_output(Output("CloudFormationRoleArn", Value=GetAtt(cfn_role, "Arn")))
    template.add_output(Output("DeployRoleArn", Value=GetAtt(deploy_role, "Arn")))
    return template


def _service_boundary(project: Project, env: Environment) -> list[Statement]:
    """Every permission the environment's service roles are given, by the same builders, with
    names widened to patterns so that its size does not grow with the number of services
    (IAM allows 6,144 characters in a managed policy)."""
    app, partition, region, account = project.app, partition_of(env.region), env.region, env.account
    repositories = [
        naming.repository_arn(
            partition, project.toolchain.region, project.toolchain.account, image.repository
        )
        for image in project.all_images
    ]
    log_groups = naming.arn(
        partition, "logs", region, account, f"log-group:{naming.log_group_prefix(app, env.name)}*"
    )
    secrets = {a for s in project.services for a in project.settings(env, s).secrets.values()}
    statements = [
        *image_pull_statements(repositories),
        allow([logs.CreateLogStream, logs.PutLogEvents], [log_groups]),
    ]
    secret_arns = [a for a in secrets if ":secretsmanager:" in a]
    if secret_arns:
        statements.append(
            allow([secretsmanager.GetSecretValue], shared_prefix_patterns(secret_arns, ":secret:"))
        )
    parameter_arns = [a for a in secrets if ":ssm:" in a]
    if parameter_arns:
        statements.append(
            allow([ssm.GetParameters], shared_prefix_patterns(parameter_arns, ":parameter/"))
        )
    # The services' own Allow statements, those with the same actions and no condition merged
    # into one, so that the boundary grows with distinct permissions, not with services.
    allows = [p for s in sorted(project.services) for p in project.permissions(env, s)]
    allows = [p for p in allows if p.effect == "Allow"]
    merged: dict[tuple[str, ...], set[str]] = {}
    conditional = []
    for permission in allows:
        if permission.conditions:
            conditional.append(permission)
        else:
            merged.setdefault(tuple(sorted(permission.actions)), set()).update(permission.resources)
    combined = [
        Permission(actions=list(actions), resources=sorted(resources))
        for actions, resources in sorted(merged.items())
    ]
    if _shifts_traffic(project, env) and env.load_balancer is not None:
        # The traffic-shift roles' permissions (service.py's _traffic_shift_role), widened to
        # the environment's target groups and its listener's rules.
        rules = env.load_balancer.listener_arn.replace(":listener/", ":listener-rule/") + "/*"
        statements += [
            allow(TRAFFIC_SHIFT_READS, ["*"]),
            allow(
                [elb.DeregisterTargets, elb.RegisterTargets],
                [naming.arn(partition, "elasticloadbalancing", region, account, "targetgroup/*/*")],
            ),
            allow([elb.ModifyRule], [rules]),
        ]
    granted = {s.to_json(): s for s in granted_statements([*combined, *conditional])}
    return statements + [granted[key] for key in sorted(granted)]


def _log_key(project: Project, env: Environment) -> kms_resources.Key:
    partition = partition_of(env.region)
    logs_arn = naming.arn(
        partition,
        "logs",
        env.region,
        env.account,
        f"log-group:{naming.log_group_prefix(project.app, env.name)}*",
    )
    return logs_key(
        "LogKey",
        f"Encrypts {project.app}'s {env.name} service logs",
        partition=partition,
        region=env.region,
        sid="CloudWatchLogsEncryptsServiceLogs",
        log_groups=[logs_arn],
    )


def _deploy_statements(project: Project, env: Environment) -> list[Statement]:
    app, partition = project.app, partition_of(env.region)

    def stack_arn(name: str) -> str:
        return naming.arn(partition, "cloudformation", env.region, env.account, f"stack/{name}/*")

    # By the prefix, so the policy does not grow with the services; minus the environment's
    # own deploy and runner stacks and those of environments whose names extend this one's.
    prefix = naming.env_resource_prefix(app, env.name)
    stacks = [stack_arn(f"{prefix}*")]
    not_services = [
        stack_arn(naming.deploy_stack(app, env.name)),
        stack_arn(naming.env_runner_stack(app, env.name)),
        *(stack_arn(f"{other}*") for other in _extending_prefixes(project, env)),
    ]
    bucket = naming.artifact_bucket(app, project.toolchain.account, env.region)
    toolchain_keys = naming.arn(partition, "kms", env.region, project.toolchain.account, "key/*")
    statements = [
        allow(
            STACK_ACTIONS,
            stacks,
        ),
        deny(STACK_ACTIONS, not_services),
        # ValidateTemplate has no resource-level permissions.
        allow([cfn.ValidateTemplate], ["*"]),
        allow(
            [iam_actions.PassRole],
            [naming.role_arn(partition, env.account, naming.cloudformation_role(app, env.name))],
            StringEquals={"iam:PassedToService": "cloudformation.amazonaws.com"},
        ),
        allow([s3.GetObject, s3.GetObjectVersion], [f"arn:{partition}:s3:::{bucket}/*"]),
        # The artifact key's ID is made at creation in another account; its own key policy is
        # what admits this account, so the statement names the account's keys, not the key.
        allow([kms.Decrypt, kms.DescribeKey], [toolchain_keys]),
    ]
    if env.bake_minutes is not None:
        # The pipeline's bake rules read the environment's alarms as this role.
        alarms = [
            naming.arn(partition, "cloudwatch", env.region, env.account, f"alarm:{name}")
            for name in env.alarms
        ]
        statements.append(allow([cloudwatch.DescribeAlarms], alarms))
    return statements


STACK_ACTIONS = [
    cfn.CreateChangeSet,
    cfn.CreateStack,
    cfn.DeleteChangeSet,
    cfn.DescribeChangeSet,
    cfn.DescribeStackEvents,
    cfn.DescribeStacks,
    cfn.ExecuteChangeSet,
    cfn.UpdateStack,
]

ROLE_CHANGES_UNDER_BOUNDARY = [
    iam_actions.CreateRole,
    iam_actions.DeleteRole,
    iam_actions.DeleteRolePolicy,
    iam_actions.PutRolePermissionsBoundary,
    iam_actions.PutRolePolicy,
    iam_actions.UpdateAssumeRolePolicy,
]


def _extending_prefixes(project: Project, env: Environment) -> list[str]:
    """Name prefixes of the other environments of this account that start with this one's."""
    prefix = naming.env_resource_prefix(project.app, env.name)
    return [
        other_prefix
        for other in project.environments
        if other is not env
        and other.account == env.account
        and (other_prefix := naming.env_resource_prefix(project.app, other.name)).startswith(prefix)
    ]


def _foreign_resources(
    project: Project, env: Environment, arn: Callable[[str, str], str]
) -> list[str]:
    """ECS resources whose names start with the environment's prefix but which its service
    stacks do not own: its runner's cluster and task families, and everything of another
    environment in the same account whose name extends this one's (`dev` and `dev-eu`)."""
    app = project.app
    found = [
        arn("ecs", f"cluster/{naming.env_runner_cluster(app, env.name)}"),
        arn("ecs", f"task-definition/{naming.env_runner_task_family(app, env.name, '*')}:*"),
    ]
    for other_prefix in _extending_prefixes(project, env):
        found += [
            arn("ecs", f"cluster/{other_prefix}*"),
            arn("ecs", f"service/*/{other_prefix}*"),
            arn("ecs", f"task-definition/{other_prefix}*:*"),
        ]
    return found


def _stack_resources(project: Project, env: Environment) -> list[Statement]:
    """What CloudFormation needs to create, change and delete the service stacks.

    Resources are named by the environment's name prefix, never one by one, so the policy's
    size does not grow with the number of services (IAM allows 10,240 characters of inline
    policy per role). The prefix also covers the environment's runner resources and any other
    environment of the same account whose name extends this one's; those are denied by name.
    Roles may be created and changed only with the environment's permissions boundary, so no
    template the pipeline deploys can give a role more than the configuration grants.
    """
    app, partition, region, account = project.app, partition_of(env.region), env.region, env.account

    def arn(service: str, resource: str) -> str:
        return naming.arn(partition, service, region, account, resource)

    prefix = naming.env_resource_prefix(app, env.name)
    foreign = _foreign_resources(project, env, arn)
    clusters = [arn("ecs", f"cluster/{prefix}*")]
    ecs_services = [arn("ecs", f"service/*/{prefix}*")]
    families = [arn("ecs", f"task-definition/{prefix}*:*")]
    shifting = _shifts_traffic(project, env)
    suffixes = ("exec", "task", "lb") if shifting else ("exec", "task")
    roles = [naming.role_arn(partition, account, f"{prefix}*-{suffix}") for suffix in suffixes]
    boundary = {
        "StringEquals": {
            "iam:PermissionsBoundary": naming.service_boundary_arn(
                partition, account, app, env.name
            )
        }
    }
    log_groups = [arn("logs", f"log-group:{naming.log_group_prefix(app, env.name)}*")]
    vpc = arn("ec2", f"vpc/{env.network.vpc}")
    in_vpc = {"ArnEquals": {"ec2:Vpc": vpc}}
    cluster_actions = [
        ecs.CreateCluster,
        ecs.DeleteCluster,
        ecs.DescribeClusters,
        ecs.PutClusterCapacityProviders,
        ecs.TagResource,
        ecs.UntagResource,
        ecs.UpdateCluster,
        ecs.UpdateClusterSettings,
    ]
    service_actions = [
        ecs.CreateService,
        ecs.DeleteService,
        ecs.DescribeServiceDeployments,
        ecs.DescribeServices,
        ecs.ListServiceDeployments,
        ecs.StopServiceDeployment,
        ecs.TagResource,
        ecs.UntagResource,
        ecs.UpdateService,
    ]
    family_actions = [ecs.RegisterTaskDefinition, ecs.TagResource, ecs.UntagResource]
    role_settings = [
        iam_actions.TagRole,
        iam_actions.UntagRole,
        iam_actions.UpdateRole,
        iam_actions.UpdateRoleDescription,
    ]
    # An existing cluster is only looked at; a created one is the stacks' to manage.
    cluster_statement = (
        allow([ecs.DescribeClusters], [arn("ecs", f"cluster/{env.cluster}")])
        if env.cluster
        else allow(cluster_actions, clusters)
    )
    statements = [
        cluster_statement,
        allow(service_actions, ecs_services),
        # Deployments of a service are named by its cluster, service and deployment id.
        allow(
            [ecs.DescribeServiceDeployments, ecs.StopServiceDeployment],
            [arn("ecs", f"service-deployment/*/{prefix}*/*")],
        ),
        allow(family_actions, families),
        # Task definition deregistration and lookup have no resource-level permissions.
        allow([ecs.DeregisterTaskDefinition, ecs.DescribeTaskDefinition], ["*"]),
        allow([ecs.ListTagsForResource], [*clusters, *ecs_services, *families]),
        # Every change to a role's permissions or trust needs the environment's boundary on it.
        allow(ROLE_CHANGES_UNDER_BOUNDARY, roles, **boundary),
        allow(
            [
                iam_actions.GetRole,
                iam_actions.GetRolePolicy,
                iam_actions.ListAttachedRolePolicies,
                iam_actions.ListRolePolicies,
                *role_settings,
            ],
            roles,
        ),
        allow(
            [iam_actions.PassRole],
            roles[:2],
            StringEquals={"iam:PassedToService": "ecs-tasks.amazonaws.com"},
        ),
        allow(
            [iam_actions.CreateServiceLinkedRole],
            [
                naming.role_arn(
                    partition, account, "aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
                )
            ],
            StringEquals={"iam:AWSServiceName": "ecs.amazonaws.com"},
        ),
        allow(
            [
                logs.AssociateKmsKey,
                logs.CreateLogGroup,
                logs.DeleteLogGroup,
                logs.DeleteRetentionPolicy,
                logs.DisassociateKmsKey,
                logs.ListTagsForResource,
                logs.ListTagsLogGroup,
                logs.PutRetentionPolicy,
                logs.TagLogGroup,
                logs.TagResource,
                logs.UntagLogGroup,
                logs.UntagResource,
            ],
            log_groups,
        ),
        allow([logs.GetDataProtectionPolicy], log_groups),
        # The log group handlers list groups and read index and resource policies: these
        # calls have no resource-level permissions.
        allow(
            [logs.DescribeIndexPolicies, logs.DescribeLogGroups, logs.DescribeResourcePolicies],
            ["*"],
        ),
        # The cluster handlers describe the key of managed storage encryption (none is set).
        allow([kms.DescribeKey], [arn("kms", "key/*")]),
        allow([ec2.CreateSecurityGroup], [vpc, arn("ec2", "security-group/*")]),
        allow(
            [
                ec2.AuthorizeSecurityGroupEgress,
                ec2.AuthorizeSecurityGroupIngress,
                ec2.CreateTags,
                ec2.DeleteSecurityGroup,
                ec2.DeleteTags,
                ec2.ModifySecurityGroupRules,
                ec2.RevokeSecurityGroupEgress,
                ec2.RevokeSecurityGroupIngress,
                ec2.UpdateSecurityGroupRuleDescriptionsEgress,
                ec2.UpdateSecurityGroupRuleDescriptionsIngress,
            ],
            [arn("ec2", "security-group/*"), arn("ec2", "security-group-rule/*")],
            **in_vpc,
        ),
        # EC2 and ELB Describe calls have no resource-level permissions.
        allow(
            [
                ec2.DescribeInstances,
                ec2.DescribeNetworkInterfaces,
                ec2.DescribeSecurityGroupRules,
                ec2.DescribeSecurityGroups,
                ec2.DescribeSubnets,
                ec2.DescribeVpcs,
                elb.DescribeListeners,
                elb.DescribeLoadBalancers,
                elb.DescribeRules,
                elb.DescribeTags,
                elb.DescribeTargetGroupAttributes,
                elb.DescribeTargetGroups,
                elb.DescribeTargetHealth,
            ],
            ["*"],
        ),
    ]
    # What the prefix reaches but this environment's service stacks do not own.
    statements.append(
        deny(
            distinct_actions(cluster_actions, service_actions, family_actions),
            foreign,
        )
    )
    statements.append(
        deny(
            distinct_actions(ROLE_CHANGES_UNDER_BOUNDARY, role_settings),
            [
                naming.role_arn(partition, account, f"{prefix}runner-*"),
                *(
                    naming.role_arn(partition, account, f"{p}*")
                    for p in _extending_prefixes(project, env)
                ),
            ],
        )
    )
    if env.load_balancer:
        listener = env.load_balancer.listener_arn
        rules = listener.replace(":listener/", ":listener-rule/") + "/*"
        statements += [
            allow(
                [
                    elb.AddTags,
                    elb.CreateTargetGroup,
                    elb.DeleteTargetGroup,
                    elb.ModifyTargetGroup,
                    elb.ModifyTargetGroupAttributes,
                    elb.RemoveTags,
                ],
                [arn("elasticloadbalancing", "targetgroup/*/*")],
            ),
            allow([elb.AddTags, elb.CreateRule], [listener, rules]),
            allow([elb.DeleteRule, elb.ModifyRule, elb.RemoveTags, elb.SetRulePriorities], [rules]),
        ]
    if shifting:
        # The service hands ECS its traffic-shift role (AdvancedConfiguration.RoleArn).
        statements.append(
            allow(
                [iam_actions.PassRole],
                roles[2:],
                StringEquals={"iam:PassedToService": "ecs.amazonaws.com"},
            )
        )
    if _hooked(project, env):
        # A service with lifecycle hooks hands ECS the hook role of the environment's runner
        # stack (LifecycleHooks[].RoleArn), as it hands over its traffic-shift role.
        statements.append(
            allow(
                [iam_actions.PassRole],
                [naming.role_arn(partition, account, naming.hook_role(app, env.name))],
                StringEquals={"iam:PassedToService": "ecs.amazonaws.com"},
            )
        )
    if env.alarms:
        statements.append(
            allow(
                [cloudwatch.DescribeAlarms],
                [arn("cloudwatch", f"alarm:{name}") for name in env.alarms],
            )
        )
    return statements


def _hooked(project: Project, env: Environment) -> bool:
    """Some service of the environment runs lifecycle hooks."""
    return any(project.rollout(env, s).hooks for s in project.services)


def _shifts_traffic(project: Project, env: Environment) -> bool:
    """Some service of the environment deploys blue/green, canary or linear."""
    return env.load_balancer is not None and any(
        project.rollout(env, s).shifts_traffic for s in project.routed_services()
    )
