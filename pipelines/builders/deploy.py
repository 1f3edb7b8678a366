"""<app>-<env>-deploy: what the pipeline may do in one environment's account.

Two roles: the one the pipeline assumes (it may only manage this environment's service stacks'
change sets and hand them to CloudFormation) and the one CloudFormation runs as (it may only
create and change the named resources those stacks hold). Both are scoped to exact names, so
neither can touch this stack or its own role. It also holds the environment's log key.
"""

from __future__ import annotations

from awacs import cloudformation as cfn
from awacs import cloudwatch, ec2, ecs, kms, logs, s3
from awacs import elasticloadbalancing as elb
from awacs import iam as iam_actions
from awacs.aws import Statement
from troposphere import Export, GetAtt, Output, Ref, Template, iam
from troposphere import kms as kms_resources

from pipelines import naming
from pipelines.builders.iam import (
    ACCOUNT_ROOT_TRUST_REASON,
    allow,
    logs_key,
    principals_trust,
    role_policy,
    service_trust,
)
from pipelines.builders.template import new_template, suppress_checkov
from pipelines.config.aws_facts import partition_of
from pipelines.config.models import Environment, Project


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
            AssumeRolePolicyDocument=service_trust("cloudformation.amazonaws.com", env.account),
            Policies=[role_policy("manage-service-stacks", *_stack_resources(project, env))],
        )
    )
    pipeline_role = naming.role_arn(partition, project.toolchain.account, naming.pipeline_role(app))
    deploy_role = template.add_resource(
        iam.Role(
            "DeployRole",
            RoleName=naming.deploy_role(app, env.name),
            Description=f"{app}'s release pipeline assumes this role to deploy to {env.name}",
            AssumeRolePolicyDocument=principals_trust(partition, [pipeline_role]),
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
    stacks = [
        naming.arn(
            partition,
            "cloudformation",
            env.region,
            env.account,
            f"stack/{naming.service_stack(app, env.name, s)}/*",
        )
        for s in sorted(project.services)
    ]
    bucket = naming.artifact_bucket(app, project.toolchain.account, env.region)
    toolchain_keys = naming.arn(partition, "kms", env.region, project.toolchain.account, "key/*")
    statements = [
        allow(
            [
                cfn.CreateChangeSet,
                cfn.CreateStack,
                cfn.DeleteChangeSet,
                cfn.DescribeChangeSet,
                cfn.DescribeStackEvents,
                cfn.DescribeStacks,
                cfn.ExecuteChangeSet,
                cfn.UpdateStack,
            ],
            stacks,
        ),
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


def _stack_resources(project: Project, env: Environment) -> list[Statement]:
    """Exactly what CloudFormation needs to create, change and delete the service stacks."""
    app, partition, region, account = project.app, partition_of(env.region), env.region, env.account
    services = sorted(project.services)

    def arn(service: str, resource: str) -> str:
        return naming.arn(partition, service, region, account, resource)

    clusters = [arn("ecs", f"cluster/{naming.cluster_name(app, env.name, s)}") for s in services]
    ecs_services = [
        arn("ecs", f"service/*/{naming.service_name(app, env.name, s)}") for s in services
    ]
    families = [
        arn("ecs", f"task-definition/{naming.task_family(app, env.name, s)}:*") for s in services
    ]
    roles = [
        naming.role_arn(partition, account, name(app, env.name, s))
        for s in services
        for name in (naming.execution_role, naming.task_role)
    ]
    log_groups = [
        arn("logs", f"log-group:{naming.log_group(app, env.name, s)}") for s in services
    ] + [arn("logs", f"log-group:{naming.log_group(app, env.name, s)}:*") for s in services]
    vpc = arn("ec2", f"vpc/{env.network.vpc}")
    in_vpc = {"ArnEquals": {"ec2:Vpc": vpc}}
    # An existing cluster is only looked at; a created one is the stacks' to manage.
    cluster_statement = (
        allow([ecs.DescribeClusters], [arn("ecs", f"cluster/{env.cluster}")])
        if env.cluster
        else allow(
            [
                ecs.CreateCluster,
                ecs.DeleteCluster,
                ecs.DescribeClusters,
                ecs.PutClusterCapacityProviders,
                ecs.TagResource,
                ecs.UntagResource,
                ecs.UpdateCluster,
                ecs.UpdateClusterSettings,
            ],
            clusters,
        )
    )
    statements = [
        cluster_statement,
        allow(
            [
                ecs.CreateService,
                ecs.DeleteService,
                ecs.DescribeServices,
                ecs.TagResource,
                ecs.UntagResource,
                ecs.UpdateService,
            ],
            ecs_services,
        ),
        allow([ecs.TagResource, ecs.UntagResource], families),
        # Task definition registration and lookup have no resource-level permissions.
        allow(
            [ecs.DeregisterTaskDefinition, ecs.DescribeTaskDefinition, ecs.RegisterTaskDefinition],
            ["*"],
        ),
        allow(
            [
                iam_actions.CreateRole,
                iam_actions.DeleteRole,
                iam_actions.DeleteRolePolicy,
                iam_actions.GetRole,
                iam_actions.GetRolePolicy,
                iam_actions.ListAttachedRolePolicies,
                iam_actions.ListRolePolicies,
                iam_actions.PutRolePolicy,
                iam_actions.TagRole,
                iam_actions.UntagRole,
                iam_actions.UpdateAssumeRolePolicy,
                iam_actions.UpdateRole,
                iam_actions.UpdateRoleDescription,
            ],
            roles,
        ),
        allow(
            [iam_actions.PassRole],
            roles,
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
        allow([logs.DescribeLogGroups], [arn("logs", "log-group:*")]),
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
            ],
            ["*"],
        ),
    ]
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
    if env.alarms:
        statements.append(
            allow(
                [cloudwatch.DescribeAlarms],
                [arn("cloudwatch", f"alarm:{name}") for name in env.alarms],
            )
        )
    return statements
