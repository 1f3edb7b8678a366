"""A deployed app on moto, and credentials of its roles.

`deployed` does what `pipelines rehearse` does before it runs the pipeline (rehearse.py, steps 1
and 2): synthesizes environments/, starts the embedded AWS with the stand-ins the YAML names,
deploys the source stack with `pipelines deploy`'s own function, pushes a bootstrap image and
deploys every other stack with it. Nothing is enforced yet: a test enters an `Enforcement` of
the templates' roles (`World.template_roles`, their policies resolved against the deployed stacks)
and acts with the clients `World.session` makes, which carry the enforcement's hook.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from pipelines.invoker.tasks import REGISTER_FIELDS
from tests.iam_enforced.enforcement import TemplateRoles, enforce, template_roles

SESSION_NAME = "pipelines-iam-enforced"


@dataclass
class World:
    environments: Path
    templates: Path
    manifest: Any  # pipelines.aws.manifest.Manifest
    clients: Any  # pipelines.aws.session.Sessions: the harness's credentials, every account
    bootstrap: str  # the image URI every service stack runs
    template_roles: TemplateRoles  # every role the templates name, with its policies
    sessions: dict[tuple[str, str | None], Acting] = field(default_factory=dict)

    @property
    def roles(self) -> dict[str, str]:
        """Role name -> ARN, every role the templates name."""
        return self.template_roles.names

    @property
    def app(self) -> str:
        return self.manifest.app

    def session(self, role: str, via: str | None = None, *, fresh: bool = False) -> Acting:
        """Credentials of role `role` (a name the templates define): assumed by the role named
        `via` (with its credentials, so a test that enforces `via` checks the AssumeRole), or by
        the harness when a service hands the role's credentials out (Lambda, ECS, CodePipeline).
        Kept for later calls unless `fresh`."""
        key = (role, via)
        if fresh or key not in self.sessions:
            arn = self.roles[role]
            if via is None:
                sts = self.clients.client("sts", arn.split(":")[4], self.manifest.toolchain_region)
            else:
                sts = self.session(via).client("sts", region_name=self.manifest.toolchain_region)
            credentials = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)["Credentials"]
            self.sessions[key] = Acting(_shared_session(), credentials, arn)
        return self.sessions[key]


class Acting:
    """Clients with one role's credentials, from one shared boto3 session (service models are
    loaded once), each checked by the active Enforcement before a call is sent."""

    def __init__(self, session: boto3.Session, credentials: dict[str, Any], role: str) -> None:
        self.session = session
        self.credentials = credentials
        self.role = role

    def client(self, service: str, region_name: str) -> Any:
        client = self.session.client(
            service,
            region_name=region_name,
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=self.credentials["SecretAccessKey"],
            aws_session_token=self.credentials["SessionToken"],
        )
        return enforce(client, self.role)


class TargetClients:
    """The invoker's clients in a target (`Runtime.connect`): as `assume_target` makes them, its
    invoke role assumed with the invoker's own STS client, each client acting as that role."""

    def __init__(self, acting: Acting, region: str) -> None:
        self.acting, self.region = acting, region

    @functools.cached_property
    def ecs(self) -> Any:
        return self.acting.client("ecs", region_name=self.region)

    @functools.cached_property
    def logs(self) -> Any:
        return self.acting.client("logs", region_name=self.region)

    @functools.cached_property
    def cloudformation(self) -> Any:
        return self.acting.client("cloudformation", region_name=self.region)


def connect_as(invoker: Acting, region: str) -> Callable[[Any], TargetClients]:
    """`Runtime.connect` for an invoker acting as `invoker`: each target's role assumed anew,
    as `pipelines.invoker.handler.assume_target` does, and its failure worded as it words it."""
    from botocore.exceptions import ClientError

    from pipelines.invoker.handler import SESSION_NAME as INVOKER_SESSION
    from pipelines.invoker.handler import SESSION_SECONDS, InvokerError

    def connect(target: Any) -> TargetClients:
        sts = invoker.client("sts", region_name=region)
        try:
            credentials = sts.assume_role(
                RoleArn=target.role,
                RoleSessionName=INVOKER_SESSION,
                DurationSeconds=SESSION_SECONDS,
            )["Credentials"]
        except ClientError as error:
            raise InvokerError(
                f"cannot assume {target.role}: {error}; deploy the environment's runner stack "
                f"{target.stack} (its invoke role trusts the invoker)"
            ) from None
        return TargetClients(Acting(invoker.session, credentials, target.role), target.region)

    return connect


_shared: list[boto3.Session] = []


def _shared_session() -> boto3.Session:
    if not _shared:
        _shared.append(boto3.Session())
    return _shared[0]


@contextlib.contextmanager
def deployed(environments: Path, workdir: Path) -> Iterator[World]:
    from pipelines.aws.deploy import DeployOptions, deploy
    from pipelines.aws.manifest import load_manifest
    from pipelines.aws.session import Sessions
    from pipelines.config.loader import load_project
    from pipelines.local.embedded import (
        create_alarm_standins,
        create_standins,
        embedded_aws,
    )
    from pipelines.local.rehearse import BOOTSTRAP_TAG, push_image
    from pipelines.render import write_atomically
    from pipelines.synth import synthesize

    templates = workdir / "templates"
    write_atomically(templates, synthesize(environments).files)
    manifest = load_manifest(templates)
    project = load_project(environments)
    with embedded_aws(manifest.toolchain_region):
        clients = Sessions(region=manifest.toolchain_region)
        create_standins(clients, project)
        create_alarm_standins(clients, project)
        source = tuple(e.name for e in manifest.of_kind("source"))
        options = DeployOptions(templates, environments, stacks=source, yes=True)
        assert deploy(clients, options).ok
        image = manifest.image_uri(push_image(clients, manifest, "bootstrap", BOOTSTRAP_TAG))
        options = DeployOptions(templates, environments, yes=True, bootstrap_image=image)
        assert deploy(clients, options).ok
        files = {e.file: manifest.body(e) for e in manifest.stacks}
        described = json.loads((templates / "manifest.json").read_text())
        roles = template_roles(described, files, clients)
        yield World(environments, templates, manifest, clients, image, roles)


# What moto needs to run a runner's ECS task and AWS does not (public API, harness credentials) ---


def give_containers_memory(world: World) -> None:
    """moto's RunTask adds up each container's memory, as for EC2, and fails on a container
    without one; a Fargate task definition needs only the task's (the runner stacks set only
    that). Here each such family gets one more revision, registered by the harness, its
    containers sharing the task's memory; everything else is the revision CloudFormation made."""
    for account, region in sorted({(e.account, e.region) for e in world.manifest.stacks}):
        ecs = world.clients.client("ecs", account, region)
        for family in ecs.list_task_definition_families(status="ACTIVE")["families"]:
            definition = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
            containers = definition["containerDefinitions"]
            if all(c.get("memory") or c.get("memoryReservation") for c in containers):
                continue
            share = int(definition["memory"]) // len(containers)
            request = {k: definition[k] for k in REGISTER_FIELDS if k in definition}
            request["containerDefinitions"] = [
                c if c.get("memory") or c.get("memoryReservation") else {**c, "memory": share}
                for c in containers
            ]
            ecs.register_task_definition(**request)


def networks_can_run_tasks(world: World) -> None:
    """What moto's RunTask needs of an awsvpc network: DNS hostnames on the VPC, and the
    toolchain runner's network, which no stand-in makes (the rehearsal's stand-in function
    makes it, given it as an environment's network)."""
    from types import SimpleNamespace

    from pipelines.config.loader import load_project
    from pipelines.local.embedded import create_standins

    project = load_project(world.environments)
    networks = [(e.account, e.region, e.network) for e in project.environments]
    runner = project.runner.network if project.runner else None
    if runner is not None:
        manifest = world.manifest
        networks.append((manifest.toolchain_account, manifest.toolchain_region, runner))
        ec2 = world.clients.client("ec2", manifest.toolchain_account, manifest.toolchain_region)
        filters = [{"Name": "vpc-id", "Values": [runner.vpc]}]
        if not ec2.describe_vpcs(Filters=filters)["Vpcs"]:
            toolchain = SimpleNamespace(
                account=manifest.toolchain_account,
                region=manifest.toolchain_region,
                network=runner,
                cluster=None,
                load_balancer=None,
            )
            create_standins(world.clients, SimpleNamespace(environments=[toolchain]))
    for account, region, network in networks:
        ec2 = world.clients.client("ec2", account, region)
        ec2.modify_vpc_attribute(VpcId=network.vpc, EnableDnsHostnames={"Value": True})
