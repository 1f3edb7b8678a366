"""moto as an embedded AWS: clients per account, stand-ins for what the YAML says exists.

Accounts: moto keys every backend by the account of the caller's credentials, and
`sts.assume_role` into `arn:aws:iam::<account>:role/...` returns credentials moto maps to that
account (the role need not exist). So each stack is created with the credentials of its own
account and in its own region, as `pipelines deploy` would, and a reference across accounts or
regions (an export imported from another account, a VPC or listener of another environment)
fails here as it would in AWS.

Stand-ins: the environment files name resources that exist before the pipeline (VPC, subnets,
the load balancer's listener and security group, an existing cluster, alarms). AWS checks that
they exist, and so does moto for some of them. They are created here with exactly the IDs the
YAML names, so the generated templates are deployed byte for byte. moto draws EC2 and ELB IDs at
random with no way to choose them, so `_fixed` swaps in a generator that returns the named ID
while one stand-in is created: this works only with moto in this process (mock_aws, or a
ThreadedMotoServer started here).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3

from pipelines.config.models import Environment, Project
from pipelines.local.clients import session_client
from pipelines.local.patching import patched, stored

SESSION_ROLE = "pipelines-moto-test"


class Accounts:
    """boto3 clients whose credentials moto maps to a given account.

    One boto3 session serves every account (the credentials are given per client), so service
    models are loaded once; clients are cached per service, account and region.
    """

    def __init__(self) -> None:
        self._session = boto3.Session()
        self._sts = session_client(self._session, "sts")
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
            self._clients[key] = session_client(
                self._session,
                service,
                region_name=region,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
        return self._clients[key]


# Stand-ins --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _fixed(target: str, value: str) -> Iterator[None]:
    """Make moto's ID generator `target` ("module:function") return `value` once."""
    import importlib

    module_name, attribute = target.split(":")
    with patched(importlib.import_module(module_name), attribute, lambda *args, **kwargs: value):
        yield


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

    fixed = _FixedHex(stored(elbv2_models, "mock_random"), list(values))
    with patched(elbv2_models, "mock_random", fixed):
        yield


def create_standins(accounts: Any, project: Project) -> None:
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
        if env.load_balancer is None:
            continue
        # Two load balancers of one account may share a security group, as AWS allows.
        if once(env, f"security-group:{env.load_balancer.security_group}"):
            _security_group(accounts, env)
        if once(env, env.load_balancer.listener_arn):
            _load_balancer(accounts, env)


def _security_group(accounts: Any, env: Environment) -> None:
    """The existing load balancer's security group, with the ID the YAML names."""
    assert env.load_balancer is not None
    ec2 = accounts.client("ec2", env.account, env.region)
    group_id = env.load_balancer.security_group
    with _fixed("moto.ec2.models.security_groups:random_security_group_id", group_id):
        created = ec2.create_security_group(
            GroupName=f"alb-{group_id}",
            Description="stand-in for the existing load balancer's group",
            VpcId=env.network.vpc,
        )["GroupId"]
    assert created == group_id


def _load_balancer(accounts: Any, env: Environment) -> None:
    """The existing ALB, and a listener with the ARN the YAML names."""
    assert env.load_balancer is not None
    elbv2 = accounts.client("elbv2", env.account, env.region)
    group_id = env.load_balancer.security_group
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


def create_alarm_standins(accounts: Any, project: Project) -> None:
    """Each environment's `alarms`, in its account and region, in state OK."""
    for env in project.environments:
        if not env.alarms:
            continue
        cloudwatch = accounts.client("cloudwatch", env.account, env.region)
        for name in env.alarms:
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                AlarmDescription="stand-in created by pipelines rehearse",
                Namespace="Rehearsal",
                MetricName=name,
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1.0,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
            )
            cloudwatch.set_alarm_state(
                AlarmName=name, StateValue="OK", StateReason="stand-in: healthy"
            )


# The embedded AWS itself ------------------------------------------------------------------------

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Variables that would point boto3 at a real account or another endpoint: unset inside.
CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN")


@contextlib.contextmanager
def embedded_aws(region: str, endpoint_url: str | None = None) -> Iterator[None]:
    """moto in this process (`mock_aws`), or a running moto server at `endpoint_url`.

    Fake credentials and the region are set for the duration and the environment is restored
    afterwards, so nothing inside can reach a real account. The change-set patches and the
    fixed-ID stand-ins act on moto's classes in this process: with `endpoint_url` they take
    effect only for a moto server running in this process (ThreadedMotoServer).
    """
    import logging
    import os
    import warnings

    from pipelines.aws import cloudformation
    from pipelines.local.changesets import (
        cloudformation_like_change_sets,
        cloudformation_like_task_definitions,
    )
    from pipelines.local.serial import one_request_at_a_time

    saved = {name: os.environ.get(name) for name in (*FAKE_CREDENTIALS, *CLEARED)}
    saved["AWS_DEFAULT_REGION"] = os.environ.get("AWS_DEFAULT_REGION")
    poll = cloudformation.POLL_SECONDS
    try:
        for name in CLEARED:
            os.environ.pop(name, None)
        os.environ.update(FAKE_CREDENTIALS)
        os.environ["AWS_DEFAULT_REGION"] = region
        if endpoint_url:
            os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        cloudformation.POLL_SECONDS = 0  # moto answers at once
        with contextlib.ExitStack() as stack:
            # moto warns for each resource type it accepts without creating (the pipeline, the
            # bucket policy, SNS subscriptions); the rehearsal says so once, in rehearse.py.
            stack.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("ignore", "Tried to parse AWS", UserWarning)
            moto_log = logging.getLogger("moto")
            level = moto_log.level
            moto_log.setLevel(logging.ERROR)
            stack.callback(moto_log.setLevel, level)
            if not endpoint_url:
                from moto import mock_aws

                stack.enter_context(mock_aws())
            stack.enter_context(one_request_at_a_time())
            stack.enter_context(cloudformation_like_change_sets())
            stack.enter_context(cloudformation_like_task_definitions())
            yield
    finally:
        cloudformation.POLL_SECONDS = poll
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
