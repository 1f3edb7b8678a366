"""moto helpers for the deployment tests: clients per account, stand-ins, moto workarounds.

Accounts: moto keys every backend by the account of the caller's credentials, and
`sts.assume_role` into `arn:aws:iam::<account>:role/...` returns credentials moto maps to that
account (the role need not exist). So each stack is created with the credentials of its own
account and in its own region, as `pipelines deploy` would, and a reference across accounts or
regions (an export imported from another account, a VPC or listener of another environment)
fails here as it would in AWS.

Stand-ins: the environment files name resources that exist before the pipeline (VPC, subnets,
the load balancer's listener and security group, an existing cluster). AWS checks that they
exist, and so does moto for some of them. They are created here with exactly the IDs the YAML
names, so the generated templates are deployed byte for byte. moto draws EC2 and ELB IDs at
random with no way to choose them, so `_fixed` swaps in a generator that returns the named ID
while one stand-in is created.
"""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.exceptions import ClientError

from pipelines.config.models import Environment, Project

SESSION_ROLE = "pipelines-moto-test"
DIGEST = "sha256:" + "0123456789abcdef" * 4
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]


class Accounts:
    """boto3 clients whose credentials moto maps to a given account.

    One boto3 session serves every account (the credentials are given per client), so service
    models are loaded once; clients are cached per service, account and region.
    """

    def __init__(self) -> None:
        self._session = boto3.Session()
        self._sts = self._session.client("sts")
        self._credentials: dict[str, dict[str, str]] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}

    def client(self, service: str, account: str, region: str) -> Any:
        key = (service, account, region)
        if key not in self._clients:
            if account not in self._credentials:
                self._credentials[account] = self._sts.assume_role(
                    RoleArn=f"arn:aws:iam::{account}:role/{SESSION_ROLE}",
                    RoleSessionName="pipelines-moto-test",
                )["Credentials"]
            creds = self._credentials[account]
            self._clients[key] = self._session.client(
                service,
                region_name=region,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
        return self._clients[key]


def image_uri(manifest: dict[str, Any]) -> str:
    """The release image as the pipeline passes it: the toolchain repository, by digest."""
    toolchain = manifest["toolchain"]
    registry = f"{toolchain['account']}.dkr.ecr.{toolchain['region']}.amazonaws.com"
    return f"{registry}/{manifest['image']['repository']}@{DIGEST}"


def create_stack(
    accounts: Accounts, entry: dict[str, Any], body: bytes, parameters: dict[str, str]
) -> dict[str, Any]:
    """create_stack in the stack's own account and region; returns describe_stacks' stack."""
    cfn = accounts.client("cloudformation", entry["account"], entry["region"])
    cfn.create_stack(
        StackName=entry["name"],
        TemplateBody=body.decode(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=CAPABILITIES,
        Tags=[{"Key": k, "Value": v} for k, v in sorted(entry["tags"].items())],
    )
    return cfn.describe_stacks(StackName=entry["name"])["Stacks"][0]


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


# Stand-ins --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _fixed(target: str, value: str) -> Iterator[None]:
    """Make moto's ID generator `target` ("module:function") return `value` once."""
    import importlib

    module_name, attribute = target.split(":")
    module = importlib.import_module(module_name)
    original = getattr(module, attribute)
    setattr(module, attribute, lambda *args, **kwargs: value)
    try:
        yield
    finally:
        setattr(module, attribute, original)


class _FixedHex:
    """Stands in for moto's random source inside moto.elbv2.models: hands out chosen hex IDs."""

    def __init__(self, original: Any, values: list[str]) -> None:
        self._original = original
        self._values = list(values)

    def get_random_hex(self, length: int = 8) -> str:
        value = self._values.pop(0)
        assert len(value) == length, (value, length)
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


@contextlib.contextmanager
def _fixed_elb_ids(*values: str) -> Iterator[None]:
    import moto.elbv2.models as elbv2_models

    original = elbv2_models.mock_random
    elbv2_models.mock_random = _FixedHex(original, list(values))  # type: ignore[assignment]
    try:
        yield
    finally:
        elbv2_models.mock_random = original


def create_standins(accounts: Accounts, project: Project) -> None:
    """What each environment file says already exists, in the environment's account and region."""
    made: set[tuple[str, str, str]] = set()
    subnets_in: dict[tuple[str, str, str], int] = {}  # VPC -> subnets made in it

    def once(env: Environment, what: str) -> bool:
        key = (env.account, env.region, what)
        if key in made:
            return False
        made.add(key)
        return True

    for env in project.environments:
        ec2 = accounts.client("ec2", env.account, env.region)
        vpc = (env.account, env.region, env.network.vpc)
        if once(env, env.network.vpc):
            with _fixed("moto.ec2.models.vpcs:random_vpc_id", env.network.vpc):
                created = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            assert created == env.network.vpc
            subnets_in[vpc] = 0
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
        for subnet in env.network.subnets:
            if not once(env, subnet):
                continue
            index = subnets_in[vpc]
            subnets_in[vpc] += 1
            with _fixed("moto.ec2.models.subnets:random_subnet_id", subnet):
                created = ec2.create_subnet(
                    VpcId=env.network.vpc,
                    CidrBlock=f"10.0.{index}.0/24",
                    AvailabilityZone=zones[index % len(zones)],
                )["Subnet"]["SubnetId"]
            assert created == subnet
        if env.cluster and once(env, f"cluster:{env.cluster}"):
            ecs = accounts.client("ecs", env.account, env.region)
            ecs.create_cluster(clusterName=env.cluster)
        if env.load_balancer and once(env, env.load_balancer.listener_arn):
            _load_balancer(accounts, env)


def _load_balancer(accounts: Accounts, env: Environment) -> None:
    """The existing ALB: its security group, and a listener with the ARN the YAML names."""
    assert env.load_balancer is not None
    ec2 = accounts.client("ec2", env.account, env.region)
    elbv2 = accounts.client("elbv2", env.account, env.region)
    group_id = env.load_balancer.security_group
    with _fixed("moto.ec2.models.security_groups:random_security_group_id", group_id):
        created = ec2.create_security_group(
            GroupName=f"alb-{group_id}",
            Description="stand-in for the existing load balancer's group",
            VpcId=env.network.vpc,
        )["GroupId"]
    assert created == group_id
    # arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<lb id>/<listener id>
    _, _, name, balancer_id, listener_id = env.load_balancer.listener_arn.split(":")[5].split("/")
    with _fixed_elb_ids(balancer_id):
        balancer = elbv2.create_load_balancer(
            Name=name, Subnets=list(env.network.subnets), SecurityGroups=[group_id]
        )["LoadBalancers"][0]["LoadBalancerArn"]
    with _fixed_elb_ids(listener_id):
        listener = elbv2.create_listener(
            LoadBalancerArn=balancer,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
                }
            ],
        )["Listeners"][0]["ListenerArn"]
    assert listener == env.load_balancer.listener_arn


def policy_json(document: Any) -> dict[str, Any]:
    """A policy document as a dict. boto3 decodes IAM's URL-encoded JSON into a dict; KMS and S3
    return JSON text. moto's CloudFormation stores a role's inline policies as dicts and
    get_role_policy then returns their Python repr, which is read as such."""
    if isinstance(document, dict):
        return document
    try:
        return json.loads(document)
    except json.JSONDecodeError:
        return ast.literal_eval(document)


def stack_resolver(accounts: Accounts, entry: dict[str, Any], template: dict[str, Any]) -> Any:
    """A Resolver whose Ref and Arn values are those of the resources moto created."""
    from tests.builders.moto_resolve import Resolver

    account, region = entry["account"], entry["region"]
    # moto lists the resources it does not back without a logical ID: they stay unresolved.
    refs = physical_ids(accounts, entry)
    attributes = {}
    for logical, physical in refs.items():
        kind = template["Resources"][logical]["Type"]
        if kind == "AWS::KMS::Key":
            kms = accounts.client("kms", account, region)
            attributes[(logical, "Arn")] = kms.describe_key(KeyId=physical)["KeyMetadata"]["Arn"]
        elif kind == "AWS::IAM::Role":
            iam = accounts.client("iam", account, region)
            attributes[(logical, "Arn")] = iam.get_role(RoleName=physical)["Role"]["Arn"]
    return Resolver(
        template, account, region, stack_name=entry["name"], refs=refs, attributes=attributes
    )


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def apply_bucket_properties_moto_drops(
    s3: Any, bucket: str, properties: dict[str, Any], policy: dict[str, Any] | None
) -> None:
    """moto's CloudFormation applies only BucketEncryption and Tags to an AWS::S3::Bucket, and
    does not back AWS::S3::BucketPolicy. Where moto left a setting out, make the S3 API call
    CloudFormation makes for it, with the template's value, so S3 (moto) validates the shape and
    the bucket ends up as CloudFormation would leave it. Settings moto did apply are left alone.
    """
    versioning = properties.get("VersioningConfiguration")
    if versioning and "Status" not in s3.get_bucket_versioning(Bucket=bucket):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=dict(versioning))
    block = properties.get("PublicAccessBlockConfiguration")
    if block:
        try:
            s3.get_public_access_block(Bucket=bucket)
        except ClientError as error:
            if error_code(error) != "NoSuchPublicAccessBlockConfiguration":
                raise
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict(block))
    if policy is not None:
        try:
            s3.get_bucket_policy(Bucket=bucket)
        except ClientError as error:
            if error_code(error) != "NoSuchBucketPolicy":
                raise
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def apply_repository_properties_moto_drops(ecr: Any, properties: dict[str, Any]) -> None:
    """moto's CloudFormation creates an AWS::ECR::Repository with its name and tag mutability
    but drops ImageScanningConfiguration, LifecyclePolicy and RepositoryPolicyText. Where moto
    left one out, make the ECR API call CloudFormation makes for it with the template's value:
    ECR (moto) validates the lifecycle policy and the repository policy on the way in.
    """
    name = properties["RepositoryName"]
    [repository] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    scanning = properties.get("ImageScanningConfiguration")
    if scanning and "scanOnPush" not in repository.get("imageScanningConfiguration", {}):
        ecr.put_image_scanning_configuration(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": scanning["ScanOnPush"]},
        )
    lifecycle = properties.get("LifecyclePolicy")
    if lifecycle:
        try:
            ecr.get_lifecycle_policy(repositoryName=name)
        except ClientError as error:
            if error_code(error) != "LifecyclePolicyNotFoundException":
                raise
            ecr.put_lifecycle_policy(
                repositoryName=name, lifecyclePolicyText=lifecycle["LifecyclePolicyText"]
            )
    policy = properties.get("RepositoryPolicyText")
    if policy:
        try:
            ecr.get_repository_policy(repositoryName=name)
        except ClientError as error:
            if error_code(error) != "RepositoryPolicyNotFoundException":
                raise
            ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(policy))


def physical_ids(accounts: Accounts, entry: dict[str, Any]) -> dict[str, str]:
    cfn = accounts.client("cloudformation", entry["account"], entry["region"])
    created = cfn.describe_stack_resources(StackName=entry["name"])["StackResources"]
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in created if "LogicalResourceId" in r
    }


def store_key_policies_as_json(accounts: Accounts, entry: dict[str, Any]) -> None:
    """moto's CloudFormation stores an AWS::KMS::Key's KeyPolicy as a dict where KMS keeps JSON
    text, and moto's own DescribeKey then fails on it (TypeError in its policy check). Put each
    policy back, unchanged, as the JSON text KMS holds."""
    kms = accounts.client("kms", entry["account"], entry["region"])
    cfn = accounts.client("cloudformation", entry["account"], entry["region"])
    for resource in cfn.describe_stack_resources(StackName=entry["name"])["StackResources"]:
        if resource.get("ResourceType") != "AWS::KMS::Key":
            continue
        key = resource["PhysicalResourceId"]
        policy = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
        if isinstance(policy, dict):
            kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
