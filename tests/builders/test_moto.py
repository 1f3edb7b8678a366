"""The generated stacks deploy: every configuration, stack by stack in manifest order, in moto.

Each stack is created in its own account (moto keys backends by the caller's account; see
moto_aws.Accounts) and region, after stand-ins for what the YAML says already exists, created
with the exact IDs the YAML names so the templates deploy unchanged. What moto's CloudFormation
drops or does not back is listed in MOTO_UNBACKED and in the moto_aws helpers that replay it; the
tests assert those properties on the template instead, or after replaying them through the
service API that validates them.
"""

from __future__ import annotations

import fnmatch
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from pipelines import naming, patterns
from pipelines.config.loader import load_project
from pipelines.config.models import Environment, Project
from pipelines.local.embedded import Accounts, create_standins
from pipelines.local.resolve import Resolver, physical_ids, pipeline_declaration
from pipelines.render import Synthesis
from tests.builders.moto_aws import (
    apply_bucket_properties_moto_drops,
    apply_repository_properties_moto_drops,
    create_stack,
    error_code,
    image_uri,
    outputs,
    policy_json,
    stack_resolver,
    store_key_policies_as_json,
)
from tests.support import CONFIGURATIONS, EXAMPLE, config_id, resources_of_type, template

pytestmark = [
    pytest.mark.slow,
    # moto warns for each resource type it does not back; _check_only_known_types_unbacked
    # asserts each skipped resource is of a type listed in MOTO_UNBACKED.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]

# Valid resource types moto's CloudFormation accepts without creating anything.
MOTO_UNBACKED = {
    # The invoker's permissions for hook functions: moto adds them to the function's policy but
    # lists them without a physical ID; tests/builders/test_hooks.py checks their properties.
    "AWS::Lambda::Permission",
    "AWS::CodeBuild::Project",  # runner projects: template, cfn-lint and buildspec tests
    "AWS::CodePipeline::Pipeline",  # created below with codepipeline.create_pipeline instead
    "AWS::S3::BucketPolicy",  # replayed with s3.put_bucket_policy
    "AWS::SNS::Subscription",  # email subscriptions: asserted on the template only
}
DIGEST_VARIABLE = "#{SourceVariables.ImageDigest}"
ECR_PULL = {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}


@pytest.fixture
def accounts(fake_aws_credentials: None) -> Iterator[Accounts]:
    with mock_aws():
        yield Accounts()


class Config:
    """One configuration: its project, synthesis, manifest and templates."""

    def __init__(self, path: Path, synthesis: Synthesis) -> None:
        self.project: Project = load_project(path)
        self.synthesis = synthesis
        self.manifest: dict[str, Any] = json.loads(synthesis.manifest)
        self.entries = {e["name"]: e for e in self.manifest["stacks"]}
        self.environments = {e.name: e for e in self.project.environments}

    def body(self, name: str) -> dict[str, Any]:
        return template(self.synthesis, name)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.manifest["stacks"] if e["kind"] == kind]

    def deploy(self, accounts: Accounts, name: str) -> dict[str, Any]:
        entry = self.entries[name]
        self.upload_assets(accounts, name)
        parameters = (
            {"ImageUri": image_uri(self.manifest, entry["service"])}
            if entry["kind"] == "service"
            else {}
        )
        for key, spec in entry["parameters"].items():
            if "kms_alias" in spec:  # as deploy looks it up: by alias, in the key's account
                kms = accounts.client("kms", spec["account"], spec["region"])
                parameters[key] = kms.describe_key(KeyId=spec["kms_alias"])["KeyMetadata"]["Arn"]
        stack = create_stack(accounts, entry, self.synthesis.files[entry["file"]], parameters)
        assert stack["StackStatus"] == "CREATE_COMPLETE", (name, stack.get("StackStatusReason"))
        store_key_policies_as_json(accounts, entry)
        return stack

    def upload_assets(self, accounts: Accounts, name: str) -> None:
        """What `deploy` uploads before `name` (the invoker's package), as it uploads it."""
        toolchain = self.project.toolchain
        for asset in self.manifest.get("assets", []):
            if name in asset["needed_by"]:
                accounts.client("s3", toolchain.account, toolchain.region).put_object(
                    Bucket=naming.artifact_bucket(
                        self.project.app, toolchain.account, toolchain.region
                    ),
                    Key=asset["key"],
                    Body=self.synthesis.files[asset["file"]],
                )


@pytest.fixture(params=CONFIGURATIONS, ids=config_id)
def config(request: pytest.FixtureRequest, syntheses: dict[str, Synthesis]) -> Config:
    return Config(request.param, syntheses[config_id(request.param)])


def _single(body: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    [(logical, resource)] = resources_of_type(body, kind).items()
    return logical, resource.get("Properties", {})


# 1. Every stack, in manifest order, in its own account ------------------------------------------


def test_every_stack_deploys_in_manifest_order(config: Config, accounts: Accounts) -> None:
    create_standins(accounts, config.project)
    deployed: dict[str, dict[str, Any]] = {}
    for wave in config.manifest["deploy_order"]:
        for name in wave:
            entry = config.entries[name]
            assert set(entry["needs"]) <= set(deployed), f"{name} is in a wave before its needs"
            assert (entry["account"], entry["region"]) == _home(config, entry)
            deployed[name] = config.deploy(accounts, name)
    assert set(deployed) == set(config.entries)
    # Each stack exists in its own account and region, and nowhere else.
    homes = {(e["account"], e["region"]) for e in config.entries.values()}
    for name, entry in config.entries.items():
        for account, region in homes - {(entry["account"], entry["region"])}:
            with pytest.raises(ClientError, match="does not exist"):
                accounts.client("cloudformation", account, region).describe_stacks(StackName=name)

    for name, entry in config.entries.items():
        body = config.body(name)
        _check_only_known_types_unbacked(accounts, entry, body)
        _check_roles(accounts, entry, body)
    _check_source(accounts, config)
    for entry in config.of_kind("artifacts"):
        _check_artifact_store(accounts, config, entry, outputs(deployed[entry["name"]]))
    for env in config.project.environments:
        _check_environment(accounts, config, env)
    for entry in config.of_kind("service"):
        _check_service(accounts, config, entry, outputs(deployed[entry["name"]]))


def _home(config: Config, entry: dict[str, Any]) -> tuple[str, str]:
    """Where a stack belongs: the toolchain, or its environment's account and region."""
    toolchain = config.project.toolchain
    if entry["kind"] in ("source", "pipeline", "runner"):
        return toolchain.account, toolchain.region
    if entry["kind"] == "artifacts":
        return toolchain.account, entry["region"]
    env = config.environments[entry["environment"]]
    return env.account, env.region


def _check_only_known_types_unbacked(
    accounts: Accounts, entry: dict[str, Any], body: dict[str, Any]
) -> None:
    """Every resource moto did not create is of a type moto is known not to back."""
    created = set(physical_ids(accounts, entry["account"], entry["region"], entry["name"]))
    unbacked = {body["Resources"][r]["Type"] for r in set(body["Resources"]) - created}
    assert unbacked <= MOTO_UNBACKED, f"{entry['name']}: moto skipped {unbacked - MOTO_UNBACKED}"


def _check_roles(accounts: Accounts, entry: dict[str, Any], body: dict[str, Any]) -> None:
    """Each role the template names exists in the stack's account with the template's trust and
    inline policies, and IAM's validators accept both (re-put through the IAM API)."""
    iam = accounts.client("iam", entry["account"], entry["region"])
    for props in (r["Properties"] for r in resources_of_type(body, "AWS::IAM::Role").values()):
        name = props["RoleName"]
        role = iam.get_role(RoleName=name)["Role"]
        assert role["Arn"] == f"arn:aws:iam::{entry['account']}:role/{name}"
        trust = policy_json(role["AssumeRolePolicyDocument"])
        assert trust == props["AssumeRolePolicyDocument"]
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        names = sorted(p["PolicyName"] for p in props.get("Policies", []))
        assert sorted(iam.list_role_policies(RoleName=name)["PolicyNames"]) == names
        for policy_name in names:
            document = policy_json(
                iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            )
            text = json.dumps(document)
            assert "Fn::" not in text and '"Ref"' not in text, f"{name}: unresolved {text}"
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=text)


def _check_source(accounts: Accounts, config: Config) -> None:
    project = config.project
    images = [project.for_image(name).image for name in project.image_names()]
    [entry] = config.of_kind("source")
    repositories = resources_of_type(config.body(entry["name"]), "AWS::ECR::Repository")
    assert len(repositories) == len(images)
    for image in images:
        [props] = [
            r["Properties"]
            for r in repositories.values()
            if r["Properties"]["RepositoryName"] == image.repository
        ]
        _check_repository(accounts, config, entry, image, props)


def _check_repository(
    accounts: Accounts, config: Config, entry: dict[str, Any], image: Any, props: dict[str, Any]
) -> None:
    project = config.project
    ecr = accounts.client("ecr", entry["account"], entry["region"])
    assert props["EncryptionConfiguration"] == {"EncryptionType": "KMS"}  # moto drops it
    apply_repository_properties_moto_drops(ecr, props)

    [repository] = ecr.describe_repositories(repositoryNames=[image.repository])["repositories"]
    assert repository["registryId"] == project.toolchain.account
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repository["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": image.release_tag},
        {"filterType": "WILDCARD", "filter": "deployed-*"},
    ]
    lifecycle = json.loads(
        ecr.get_lifecycle_policy(repositoryName=image.repository)["lifecyclePolicyText"]
    )
    deployed, newest = sorted(lifecycle["rules"], key=lambda r: r["rulePriority"])
    assert deployed["selection"]["tagPrefixList"] == ["deployed-"]
    assert newest["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": image.keep_images,
    }
    assert deployed["action"] == newest["action"] == {"type": "expire"}

    if project.accounts:
        policy = policy_json(
            ecr.get_repository_policy(repositoryName=image.repository)["policyText"]
        )
        [statement] = policy["Statement"]
        assert statement["Effect"] == "Allow"
        assert sorted(statement["Principal"]["AWS"]) == [
            f"arn:aws:iam::{a}:root" for a in project.accounts
        ]
        assert set(statement["Action"]) == ECR_PULL
    else:
        assert "RepositoryPolicyText" not in props

    # Tags are immutable except the release tag, which every release moves, and the deployed-*
    # tags, which the release marker moves.
    def push(tag: str, layer: str) -> str:
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": f"sha256:{'c' * 64}", "size": 1, "mediaType": "x"},
            "layers": [{"digest": f"sha256:{layer * 64}", "size": 1, "mediaType": "x"}],
        }
        return ecr.put_image(
            repositoryName=image.repository, imageManifest=json.dumps(manifest), imageTag=tag
        )["image"]["imageId"]["imageDigest"]

    first = push(image.release_tag, "a")
    moved = push(image.release_tag, "b")
    assert moved != first
    [found] = ecr.describe_images(
        repositoryName=image.repository, imageIds=[{"imageTag": image.release_tag}]
    )["imageDetails"]
    assert found["imageDigest"] == moved
    assert push("deployed-dev", "a") == first
    assert push("deployed-dev", "b") == moved
    push("v1.0.0", "c")
    with pytest.raises(ClientError) as refused:
        push("v1.0.0", "d")
    # AWS says ImageTagAlreadyExistsException; moto 5.2 says ImageAlreadyExistsException.
    assert error_code(refused.value) in (
        "ImageTagAlreadyExistsException",
        "ImageAlreadyExistsException",
    )


def _check_artifact_store(
    accounts: Accounts, config: Config, entry: dict[str, Any], out: dict[str, str]
) -> None:
    """The bucket is versioned, KMS-encrypted with the stack's key, private and TLS-only, and
    only this region's cross-account deploy roles may read it."""
    account, region = entry["account"], entry["region"]
    body = config.body(entry["name"])
    resolver = stack_resolver(accounts, entry, body)
    bucket, key_arn = out["ArtifactBucketName"], out["ArtifactKeyArn"]
    s3 = accounts.client("s3", account, region)
    kms = accounts.client("kms", account, region)
    _, bucket_props = _single(body, "AWS::S3::Bucket")
    _, policy_props = _single(body, "AWS::S3::BucketPolicy")
    policy = resolver.resolve(policy_props["PolicyDocument"])
    apply_bucket_properties_moto_drops(s3, bucket, bucket_props, policy)

    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] in (region, None)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # Applied by moto's own CloudFormation from BucketEncryption.
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_arn,
    }
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    bucket_arn = f"arn:aws:s3:::{bucket}"
    stored = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    [deny] = [s for s in stored["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Action"] in ("s3:*", ["s3:*"])
    assert sorted(deny["Resource"]) == [bucket_arn, f"{bucket_arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    readers = _cross_account_deploy_roles(config, region)
    allowed = [s for s in stored["Statement"] if s["Effect"] == "Allow"]
    # Terraform runners of other accounts share only the plan store (tests/builders/
    # test_pipeline_steps.py); the rest of the bucket is the deploy roles'.
    allowed = [s for s in allowed if s.get("Sid") != "EnvironmentTerraformRunnersUsePlanStore"]
    if readers:
        [read] = allowed
        assert read["Resource"] == [f"{bucket_arn}/*"]
        assert read["Condition"] == {"ArnEquals": {"aws:PrincipalArn": readers}}
    else:
        assert allowed == []

    key_id = key_arn.rsplit("/", 1)[1]
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    _, alias_props = _single(body, "AWS::KMS::Alias")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases[alias_props["AliasName"]] == key_id
    key_policy = policy_json(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    key_readers = [
        s
        for s in key_policy["Statement"]
        if "aws:PrincipalArn" in json.dumps(s)
        and s.get("Sid") != "EnvironmentTerraformRunnersUsePlanStore"
    ]
    assert [s["Condition"]["ArnEquals"]["aws:PrincipalArn"] for s in key_readers] == (
        [readers] if readers else []
    )


def _cross_account_deploy_roles(config: Config, region: str) -> list[str]:
    """The deploy roles, as their own stacks name them, of environments in another account."""
    roles = []
    for env in config.project.environments:
        if env.region == region and env.account != config.project.toolchain.account:
            _, props = _single_named(config.body(_deploy_stack(config, env)), "DeployRole")
            roles.append(f"arn:aws:iam::{env.account}:role/{props['RoleName']}")
    return sorted(roles)


def _single_named(body: dict[str, Any], logical: str) -> tuple[str, dict[str, Any]]:
    return logical, body["Resources"][logical]["Properties"]


def _deploy_stack(config: Config, env: Environment) -> str:
    [entry] = [e for e in config.of_kind("deploy") if e["environment"] == env.name]
    return entry["name"]


def _check_environment(accounts: Accounts, config: Config, env: Environment) -> None:
    """The log key each service imports is exported by the environment's deploy stack, in the
    same account and region, rotates, and lets CloudWatch Logs use it for exactly these groups.
    Its services are the only services in their clusters."""
    cfn = accounts.client("cloudformation", env.account, env.region)
    kms = accounts.client("kms", env.account, env.region)
    ecs = accounts.client("ecs", env.account, env.region)
    exports = {e["Name"]: e for e in cfn.list_exports()["Exports"]}
    services = [e for e in config.of_kind("service") if e["environment"] == env.name]
    by_cluster: dict[str, set[str]] = {}
    for entry in services:
        body = config.body(entry["name"])
        _, group = _single(body, "AWS::Logs::LogGroup")
        export = exports[group["KmsKeyId"]["Fn::ImportValue"]]  # moto drops KmsKeyId: follow it
        assert export["ExportingStackId"].split("/")[1] == _deploy_stack(config, env)
        key = kms.describe_key(KeyId=export["Value"])["KeyMetadata"]
        assert key["Arn"] == export["Value"]
        assert key["KeyState"] == "Enabled"
        assert kms.get_key_rotation_status(KeyId=key["Arn"])["KeyRotationEnabled"] is True
        policy = policy_json(kms.get_key_policy(KeyId=key["Arn"], PolicyName="default")["Policy"])
        [logs_use] = [
            s
            for s in policy["Statement"]
            if s.get("Principal", {}).get("Service") == f"logs.{env.region}.amazonaws.com"
        ]
        pattern = logs_use["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        group_arn = f"arn:aws:logs:{env.region}:{env.account}:log-group:{group['LogGroupName']}"
        assert fnmatch.fnmatchcase(group_arn, pattern), (group_arn, pattern)
        by_cluster.setdefault(outputs_of(accounts, entry)["ClusterName"], set()).add(entry["name"])
    for cluster, stacks in by_cluster.items():
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        names = {outputs_of(accounts, config.entries[s])["ServiceName"] for s in stacks}
        assert {a.rsplit("/", 1)[1] for a in arns} == names


def outputs_of(accounts: Accounts, entry: dict[str, Any]) -> dict[str, str]:
    cfn = accounts.client("cloudformation", entry["account"], entry["region"])
    return outputs(cfn.describe_stacks(StackName=entry["name"])["Stacks"][0])


def _check_service(
    accounts: Accounts, config: Config, entry: dict[str, Any], out: dict[str, str]
) -> None:
    project = config.project
    env, service = config.environments[entry["environment"]], entry["service"]
    spec, settings = project.services[service], project.settings(env, service)
    account, region = env.account, env.region
    body = config.body(entry["name"])
    ecs = accounts.client("ecs", account, region)
    resources = physical_ids(accounts, entry["account"], entry["region"], entry["name"])

    assert out["ImageUri"] == image_uri(config.manifest, service)
    cluster = out["ClusterName"]
    if env.cluster:
        assert cluster == env.cluster
        assert "AWS::ECS::Cluster" not in {r["Type"] for r in body["Resources"].values()}
    [described] = ecs.describe_clusters(clusters=[cluster])["clusters"]
    assert described["status"] == "ACTIVE"
    [svc] = ecs.describe_services(cluster=cluster, services=[out["ServiceName"]])["services"]
    assert svc["status"] == "ACTIVE"
    assert svc["clusterArn"] == f"arn:aws:ecs:{region}:{account}:cluster/{cluster}"
    assert svc["desiredCount"] == settings.desired_count
    assert svc["taskDefinition"] == out["TaskDefinitionArn"]

    task = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    [container] = task["containerDefinitions"]
    assert container["name"] == service
    assert container["image"] == image_uri(config.manifest, service)  # the digest reached the task
    assert {e["name"]: e["value"] for e in container["environment"]} == project.variables(
        env, service
    )
    assert {s["name"]: s["valueFrom"] for s in container.get("secrets", [])} == settings.secrets
    expected_ports = [] if spec.port is None else [{"containerPort": spec.port, "protocol": "tcp"}]
    assert container.get("portMappings", []) == expected_ports
    options = container["logConfiguration"]["options"]
    assert options["awslogs-region"] == region

    logs = accounts.client("logs", account, region)
    _, group_props = _single(body, "AWS::Logs::LogGroup")
    groups = logs.describe_log_groups(logGroupNamePrefix=options["awslogs-group"])["logGroups"]
    [group] = [g for g in groups if g["logGroupName"] == options["awslogs-group"]]
    assert group["retentionInDays"] == group_props["RetentionInDays"]

    ec2 = accounts.client("ec2", account, region)
    [group_id] = [resources[k] for k in resources_of_type(body, "AWS::EC2::SecurityGroup")]
    [security_group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert security_group["VpcId"] == env.network.vpc
    routed = env.load_balancer is not None and spec.port is not None
    if not routed:
        assert security_group["IpPermissions"] == []
        assert not resources_of_type(body, "AWS::ElasticLoadBalancingV2::TargetGroup")
        return

    assert env.load_balancer is not None
    [ingress] = security_group["IpPermissions"]
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == (
        "tcp",
        spec.port,
        spec.port,
    )
    assert [p["GroupId"] for p in ingress["UserIdGroupPairs"]] == [env.load_balancer.security_group]
    assert ingress["IpRanges"] == []

    elbv2 = accounts.client("elbv2", account, region)
    shifting = project.rollout(env, service).shifts_traffic
    # A service ECS shifts traffic for has a second, alternate group for the new revision.
    groups = ["TargetGroup", "AlternateTargetGroup"] if shifting else ["TargetGroup"]
    assert sorted(resources_of_type(body, "AWS::ElasticLoadBalancingV2::TargetGroup")) == sorted(
        groups
    )
    target_group_arn = resources["TargetGroup"]
    [target_group] = elbv2.describe_target_groups(TargetGroupArns=[target_group_arn])[
        "TargetGroups"
    ]
    assert target_group["VpcId"] == env.network.vpc
    assert (target_group["Protocol"], target_group["Port"]) == ("HTTP", spec.port)
    assert target_group["TargetType"] == "ip"
    assert target_group["HealthCheckPath"] == (spec.health_check.path if spec.health_check else "/")
    listener = elbv2.describe_listeners(ListenerArns=[env.load_balancer.listener_arn])
    [balancer_arn] = {item["LoadBalancerArn"] for item in listener["Listeners"]}
    # A set: moto names the balancer once per rule forwarding to the group (production and
    # test-traffic rules), where ELB names each load balancer once.
    assert set(target_group["LoadBalancerArns"]) == {balancer_arn}
    rules = elbv2.describe_rules(ListenerArn=env.load_balancer.listener_arn)["Rules"]
    [rule] = [
        r
        for r in rules
        if target_group_arn in _forwarded_to(r["Actions"])
        and not any(c["Field"] == "http-header" for c in r["Conditions"])  # a test-traffic rule
    ]
    if shifting:
        # All production traffic on the primary group until ECS moves the weights.
        alternate_arn = resources["AlternateTargetGroup"]
        assert _forwarded_to(rule["Actions"]) == {target_group_arn: 1, alternate_arn: 0}
    else:
        assert rule["Actions"] == [{"Type": "forward", "TargetGroupArn": target_group_arn}]
    hosts = [
        c["HostHeaderConfig"]["Values"] for c in rule["Conditions"] if c["Field"] == "host-header"
    ]
    assert hosts == [[env.load_balancer.host]]
    assert int(rule["Priority"]) >= env.load_balancer.priority
    # moto's ECS drops LoadBalancers: the service is attached to this target group in the template.
    _, service_props = _single(body, "AWS::ECS::Service")
    [balancer] = service_props["LoadBalancers"]
    assert {k: v for k, v in balancer.items() if k != "AdvancedConfiguration"} == {
        "ContainerName": service,
        "ContainerPort": spec.port,
        "TargetGroupArn": {"Ref": "TargetGroup"},
    }
    assert ("AdvancedConfiguration" in balancer) == shifting


def _forwarded_to(actions: list[dict[str, Any]]) -> dict[str, int]:
    """The target groups a rule's forward action sends to, with their weights."""
    weights: dict[str, int] = {}
    for action in actions:
        if action.get("TargetGroupArn"):
            weights[action["TargetGroupArn"]] = 1
        for group in action.get("ForwardConfig", {}).get("TargetGroups", []):
            weights[group["TargetGroupArn"]] = group.get("Weight", 1)
    return weights


def test_a_service_stack_needs_its_environment_deploy_stack(
    syntheses: dict[str, Synthesis], accounts: Accounts
) -> None:
    """The manifest's `needs` is real: before its deploy stack, a service stack cannot import the
    environment's log key, so it fails."""
    config = Config(EXAMPLE, syntheses[config_id(EXAMPLE)])
    create_standins(accounts, config.project)
    [entry] = config.of_kind("service")[:1]
    assert any(config.entries[n]["kind"] == "deploy" for n in entry["needs"])
    with pytest.raises(ClientError, match="LogKeyArn"):
        config.deploy(accounts, entry["name"])


# 2. The pipeline declaration ----------------------------------------------------------------------


class Release(NamedTuple):
    """One image's release pipeline, as manifest.json names it, and its template properties."""

    pipeline: str
    repository: str
    release_tag: str
    services: list[str]
    props: dict[str, Any]


def _pipelines(config: Config) -> tuple[dict[str, Any], dict[str, Any], list[Release]]:
    """The pipeline stack and each image's pipeline on it (one, for an app of one image)."""
    [entry] = config.of_kind("pipeline")
    body = config.body(entry["name"])
    manifest = config.manifest
    images = manifest.get("images") or [
        {
            "pipeline": manifest["pipeline"],
            **manifest["image"],
            "services": sorted(config.project.services),
        }
    ]
    declared = {
        r["Properties"]["Name"]: r["Properties"]
        for r in resources_of_type(body, "AWS::CodePipeline::Pipeline").values()
    }
    assert sorted(declared) == sorted(i["pipeline"] for i in images)
    return (
        entry,
        body,
        [
            Release(
                i["pipeline"],
                i["repository"],
                i["release_tag"],
                sorted(i["services"]),
                declared[i["pipeline"]],
            )
            for i in images
        ],
    )


def _names(stages: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(stage, [action, ...]) in order, from API-shaped stages."""
    return [(s["name"], [a["name"] for a in s["actions"]]) for s in stages]


def _template_names(stages: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(s["Name"], [a["Name"] for a in s["Actions"]]) for s in stages]


# What the ECR source action exports as variables (CodePipeline action reference).
ECR_SOURCE_VARIABLES = {"RegistryId", "RepositoryName", "ImageTag", "ImageDigest", "ImageURI"}


def _check_artifacts_and_variables(declaration: dict[str, Any]) -> None:
    """What CodePipeline checks and moto does not: each input artifact is the output of an
    action that runs earlier, output names are unique, and each variable names a namespace set
    by an earlier action, or the pipeline's own."""
    produced: set[str] = set()
    namespaces: dict[str, str] = {"codepipeline": "codepipeline"}
    for stage in declaration["stages"]:
        for order in sorted({a.get("runOrder", 1) for a in stage["actions"]}):
            batch = [a for a in stage["actions"] if a.get("runOrder", 1) == order]
            for action in batch:
                for artifact in action.get("inputArtifacts", []):
                    assert artifact["name"] in produced, (stage["name"], action["name"])
                for text in action.get("configuration", {}).values():
                    for namespace, variable in patterns.VARIABLE.findall(text):
                        assert namespace in namespaces, (action["name"], namespace)
                        if namespaces[namespace] == "ECR":
                            assert variable in ECR_SOURCE_VARIABLES, variable
            for action in batch:
                for artifact in action.get("outputArtifacts", []):
                    assert artifact["name"] not in produced, artifact["name"]
                    produced.add(artifact["name"])
                if "namespace" in action:
                    assert action["namespace"] not in namespaces
                    namespaces[action["namespace"]] = action["actionTypeId"]["provider"]


def test_pipeline_declaration_is_accepted_by_codepipeline(
    config: Config, accounts: Accounts
) -> None:
    entry, body, releases = _pipelines(config)
    for release in releases:
        _check_declaration(config, accounts, entry, body, release)


def _check_declaration(
    config: Config,
    accounts: Accounts,
    entry: dict[str, Any],
    body: dict[str, Any],
    release: Release,
) -> None:
    props = release.props
    account, region = entry["account"], entry["region"]
    # Another region's artifact key comes in by ARN, as deploy passes it.
    keys = {
        name: f"arn:aws:kms:{spec['region']}:{account}:key/{uuid.uuid5(uuid.NAMESPACE_URL, name)}"
        for name, spec in entry["parameters"].items()
    }
    resolver = Resolver(body, account, region, stack_name=entry["name"], refs=keys)
    declaration = pipeline_declaration(resolver.resolve(props))
    _check_artifacts_and_variables(declaration)

    role_logical = props["RoleArn"]["Fn::GetAtt"][0]
    role = resolver.resolve(body["Resources"][role_logical]["Properties"])
    iam = accounts.client("iam", account, region)
    role_arn = iam.create_role(
        RoleName=role["RoleName"],
        AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]),
    )["Role"]["Arn"]
    for policy in role["Policies"]:  # IAM validates each resolved inline policy
        iam.put_role_policy(
            RoleName=role["RoleName"],
            PolicyName=policy["PolicyName"],
            PolicyDocument=json.dumps(policy["PolicyDocument"]),
        )
    assert declaration["roleArn"] == role_arn

    codepipeline = accounts.client("codepipeline", account, region)
    codepipeline.create_pipeline(pipeline=declaration)
    got = codepipeline.get_pipeline(name=release.pipeline)["pipeline"]
    assert _names(got["stages"]) == _names(declaration["stages"])
    assert _names(got["stages"]) == _template_names(props["Stages"])
    assert (got["pipelineType"], got["executionMode"]) == ("V2", "QUEUED")
    assert got["roleArn"] == role_arn
    sent = {(s["name"], a["name"]): a for s in declaration["stages"] for a in s["actions"]}
    for stage in got["stages"]:
        for action in stage["actions"]:
            for key in ("actionTypeId", "configuration", "roleArn", "region", "namespace"):
                assert action.get(key) == sent[(stage["name"], action["name"])].get(key)
    # Stage conditions (bake time, rollback) survive the round trip as declared.
    sent_stages = {s["name"]: s for s in declaration["stages"]}
    for stage in got["stages"]:
        for key in ("onSuccess", "onFailure"):
            assert stage.get(key) == sent_stages[stage["name"]].get(key)


def test_pipeline_promotes_in_order_with_approvals_between_plan_and_apply(config: Config) -> None:
    _, _, releases = _pipelines(config)
    overrides = sum(_check_promotion(config, release) for release in releases)
    every_service = sorted(e["name"] for e in config.of_kind("service"))
    assert overrides == len(every_service)


def _check_promotion(config: Config, release: Release) -> int:
    """The checks of one image's pipeline; how many actions pass it an image."""
    project = config.project
    stages = release.props["Stages"]
    assert [s["Name"] for s in stages] == ["Source", *config.manifest["promotion"]]
    assert config.manifest["promotion"] == [e.name for e in project.environments]

    [image_source] = [a for a in stages[0]["Actions"] if a["ActionTypeId"]["Provider"] == "ECR"]
    assert image_source["Namespace"] == "SourceVariables"
    assert image_source["Configuration"] == {
        "RepositoryName": release.repository,
        "ImageTag": release.release_tag,
    }
    registry = f"{project.toolchain.account}.dkr.ecr.{project.toolchain.region}.amazonaws.com"
    expected_image = f"{registry}/{release.repository}@{DIGEST_VARIABLE}"

    overrides = 0
    for stage, env in zip(stages[1:], project.environments, strict=True):
        actions = stage["Actions"]
        stacks = sorted(
            e["name"]
            for e in config.of_kind("service")
            if e["environment"] == env.name and e["service"] in release.services
        )

        def mode(action: dict[str, Any]) -> str | None:
            return action.get("Configuration", {}).get("ActionMode")

        approvals = [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]
        plans = [a for a in actions if mode(a) == "CHANGE_SET_REPLACE"]
        applies = [a for a in actions if mode(a) == "CHANGE_SET_EXECUTE"]
        deploys = [a for a in actions if mode(a) == "CREATE_UPDATE"]
        if env.requires_approval:
            [approval] = approvals
            assert deploys == []
            assert sorted(a["Configuration"]["StackName"] for a in plans) == stacks
            assert sorted(a["Configuration"]["StackName"] for a in applies) == stacks
            assert max(a["RunOrder"] for a in plans) < approval["RunOrder"]
            assert approval["RunOrder"] < min(a["RunOrder"] for a in applies)
            change_sets = {
                a["Configuration"]["StackName"]: a["Configuration"]["ChangeSetName"] for a in plans
            }
            for apply in applies:
                assert (
                    apply["Configuration"]["ChangeSetName"]
                    == change_sets[apply["Configuration"]["StackName"]]
                )
            assert approval["Configuration"]["NotificationArn"] == {"Ref": "ApprovalTopic"}
        else:
            assert approvals == plans == applies == []
            assert sorted(a["Configuration"]["StackName"] for a in deploys) == stacks
        for action in plans + deploys:
            configuration = action["Configuration"]
            assert json.loads(configuration["ParameterOverrides"]) == {"ImageUri": expected_image}
            assert configuration["TemplatePath"] == (
                f"Templates::{config.entries[configuration['StackName']]['file']}"
            )
            assert action["RoleArn"].startswith(f"arn:aws:iam::{env.account}:role/")
            assert action.get("Region", project.toolchain.region) == env.region
            overrides += 1
    every = [
        a
        for s in stages
        for a in s["Actions"]
        if "ParameterOverrides" in a.get("Configuration", {})
    ]
    assert len(every) == overrides
    return overrides


# 3. The pipeline stack in moto CloudFormation ----------------------------------------------------


def test_pipeline_stack_deploys(config: Config, accounts: Accounts) -> None:
    project = config.project
    entry, body, releases = _pipelines(config)
    account, region = entry["account"], entry["region"]
    for name in entry["needs"]:
        config.deploy(accounts, name)
    out = outputs(config.deploy(accounts, entry["name"]))
    _check_only_known_types_unbacked(accounts, entry, body)
    _check_roles(accounts, entry, body)
    _check_artifact_store(accounts, config, entry, out)
    resolver = stack_resolver(accounts, entry, body)
    # moto does not back AWS::SNS::Subscription: the email subscriptions are in the template.
    subscriptions = resources_of_type(body, "AWS::SNS::Subscription").values()
    assert sorted(s["Properties"]["Endpoint"] for s in subscriptions) == sorted(
        project.notifications.approvals
    )

    sns = accounts.client("sns", account, region)
    topic = sns.get_topic_attributes(TopicArn=out["ApprovalTopicArn"])["Attributes"]
    assert topic["KmsMasterKeyId"] == out["ArtifactKeyArn"]

    rules = resources_of_type(body, "AWS::Events::Rule").values()
    assert len(rules) == len(releases)
    for release in releases:
        _check_release_pipeline(config, accounts, entry, out, resolver, release)


def _check_release_pipeline(
    config: Config,
    accounts: Accounts,
    entry: dict[str, Any],
    out: dict[str, str],
    resolver: Any,
    release: Release,
) -> None:
    """One image's trigger and pipeline, as the pipeline stack created them."""
    project, props = config.project, release.props
    account, region = entry["account"], entry["region"]
    # The trigger: a push of the release tag, and only that, starts the pipeline.
    events = accounts.client("events", account, region)
    [rule_props] = [
        r["Properties"]
        for r in resources_of_type(config.body(entry["name"]), "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["detail"]["repository-name"] == [release.repository]
    ]
    rule = events.describe_rule(Name=rule_props["Name"])
    assert rule["State"] == "ENABLED"
    pattern = json.loads(rule["EventPattern"])
    assert pattern == {
        "source": ["aws.ecr"],
        "detail-type": ["ECR Image Action"],
        "detail": {
            "action-type": ["PUSH"],
            "result": ["SUCCESS"],
            "repository-name": [release.repository],
            "image-tag": [release.release_tag],
        },
    }
    pipeline_arn = f"arn:aws:codepipeline:{region}:{account}:{release.pipeline}"
    [target] = events.list_targets_by_rule(Rule=rule_props["Name"])["Targets"]
    assert target["Arn"] == pipeline_arn
    iam = accounts.client("iam", account, region)
    trigger_role = iam.get_role(RoleName=target["RoleArn"].rsplit("/", 1)[1])["Role"]
    assert trigger_role["Arn"] == target["RoleArn"]
    [policy_name] = iam.list_role_policies(RoleName=trigger_role["RoleName"])["PolicyNames"]
    trigger_policy = policy_json(
        iam.get_role_policy(RoleName=trigger_role["RoleName"], PolicyName=policy_name)[
            "PolicyDocument"
        ]
    )
    assert trigger_policy["Statement"] == [
        {
            "Action": ["codepipeline:StartPipelineExecution"],
            "Effect": "Allow",
            "Resource": [pipeline_arn],
        }
    ]
    assert _delivered(accounts, account, region, rule["EventPattern"], release) == [
        (release.repository, release.release_tag)
    ]

    # moto's CloudFormation accepts the pipeline without creating it: create it from the template,
    # resolved against the resources this stack created, with the role the stack created.
    declaration = pipeline_declaration(resolver.resolve(props))
    codepipeline = accounts.client("codepipeline", account, region)
    codepipeline.create_pipeline(pipeline=declaration)
    got = codepipeline.get_pipeline(name=release.pipeline)["pipeline"]
    role = resolver.ref(props["RoleArn"]["Fn::GetAtt"][0])
    assert got["roleArn"] == iam.get_role(RoleName=role)["Role"]["Arn"]
    stores = got.get("artifactStores") or {region: got["artifactStore"]}
    assert set(stores) == set(project.regions)
    assert stores[region]["location"] == out["ArtifactBucketName"]
    assert stores[region]["encryptionKey"] == {"id": out["ArtifactKeyArn"], "type": "KMS"}
    for other in project.regions[1:]:  # each names the bucket and key its artifacts stack made
        [artifacts] = [e for e in config.of_kind("artifacts") if e["region"] == other]
        regional = outputs_of(accounts, artifacts)
        assert stores[other]["location"] == regional["ArtifactBucketName"]
        kms = accounts.client("kms", account, other)
        key = kms.describe_key(KeyId=stores[other]["encryptionKey"]["id"])["KeyMetadata"]
        assert key["Arn"] == regional["ArtifactKeyArn"]
    [source_stage] = [s for s in got["stages"] if s["name"] == "Source"]
    [templates] = [a for a in source_stage["actions"] if a["actionTypeId"]["provider"] == "S3"]
    assert templates["configuration"]["S3Bucket"] == out["ArtifactBucketName"]
    assert templates["configuration"]["S3ObjectKey"] == config.manifest["templates_bundle"]
    approvals = [
        a
        for s in got["stages"]
        for a in s["actions"]
        if a["actionTypeId"]["category"] == "Approval"
    ]
    assert {a["configuration"]["NotificationArn"] for a in approvals} <= {out["ApprovalTopicArn"]}


def _delivered(
    accounts: Accounts, account: str, region: str, pattern: str, release: Release
) -> list[tuple[str, str]]:
    """Which ECR events the stored pattern matches, through EventBridge (moto) to an SQS probe.

    The probe rule sits on its own bus: moto cannot deliver to the real rule's CodePipeline target.
    """
    events = accounts.client("events", account, region)
    sqs = accounts.client("sqs", account, region)
    probe = "trigger-probe-" + re.sub(r"[^A-Za-z0-9_-]", "-", release.repository)
    queue = sqs.create_queue(QueueName=probe)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.create_event_bus(Name=probe)
    events.put_rule(Name=probe, EventBusName=probe, EventPattern=pattern)
    events.put_targets(Rule=probe, EventBusName=probe, Targets=[{"Id": "q", "Arn": queue_arn}])
    repository, tag = release.repository, release.release_tag
    cases = [
        ("PUSH", "SUCCESS", repository, tag),
        ("PUSH", "SUCCESS", repository, "v1.2.3"),
        ("PUSH", "FAILURE", repository, tag),
        ("DELETE", "SUCCESS", repository, tag),
        ("PUSH", "SUCCESS", f"{repository}-other", tag),
    ]
    for action, result, repo, tag in cases:
        detail = {
            "action-type": action,
            "result": result,
            "repository-name": repo,
            "image-tag": tag,
            "image-digest": "sha256:" + "e" * 64,
        }
        response = events.put_events(
            Entries=[
                {
                    "Source": "aws.ecr",
                    "DetailType": "ECR Image Action",
                    "Detail": json.dumps(detail),
                    "EventBusName": probe,
                }
            ]
        )
        assert response["FailedEntryCount"] == 0
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    details = [json.loads(m["Body"])["detail"] for m in messages]
    return [(d["repository-name"], d["image-tag"]) for d in details]
