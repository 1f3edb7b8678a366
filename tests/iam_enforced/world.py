"""A deployed app on moto, and credentials of its roles.

`deployed` does what `pipelines rehearse` does before it runs the pipeline (rehearse.py, steps 1
and 2): synthesizes environments/, starts the embedded AWS with the stand-ins the YAML names,
deploys the source stack with `pipelines deploy`'s own function, pushes a bootstrap image and
deploys every other stack with it. The roles are then in moto exactly as the templates define
them (moto's CloudFormation created them), and nothing is enforced yet: a test enters an
`Enforcement` for the roles it acts as.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tests.iam_enforced.enforcement import roles_of

SESSION_NAME = "pipelines-iam-enforced"


@dataclass
class World:
    environments: Path
    templates: Path
    manifest: Any  # pipelines.aws.manifest.Manifest
    clients: Any  # pipelines.aws.session.Sessions: the harness's credentials, every account
    bootstrap: str  # the image URI every service stack runs
    roles: dict[str, str]  # role name -> ARN, every role the templates name
    _sessions: dict[tuple[str, str | None], Acting] = field(default_factory=dict)

    @property
    def app(self) -> str:
        return self.manifest.app

    def session(self, role: str, via: str | None = None, *, fresh: bool = False) -> Acting:
        """Credentials of role `role` (a name the templates define): assumed by the role named
        `via` (with its credentials, so a test that enforces `via` checks the AssumeRole), or by
        the harness when a service hands the role's credentials out (Lambda, ECS, CodePipeline).
        Kept for later calls unless `fresh`."""
        key = (role, via)
        if fresh or key not in self._sessions:
            arn = self.roles[role]
            if via is None:
                sts = self.clients.client("sts", arn.split(":")[4], self.manifest.toolchain_region)
            else:
                sts = self.session(via).client("sts", region_name=self.manifest.toolchain_region)
            credentials = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)["Credentials"]
            self._sessions[key] = Acting(_shared_session(), credentials)
        return self._sessions[key]


class Acting:
    """Clients with one role's credentials, from one shared boto3 session (service models are
    loaded once)."""

    def __init__(self, session: boto3.Session, credentials: dict[str, Any]) -> None:
        self._session = session
        self.credentials = credentials

    def client(self, service: str, region_name: str) -> Any:
        return self._session.client(
            service,
            region_name=region_name,
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=self.credentials["SecretAccessKey"],
            aws_session_token=self.credentials["SessionToken"],
        )


_shared: list[boto3.Session] = []


def _shared_session() -> boto3.Session:
    if not _shared:
        _shared.append(boto3.Session())
    return _shared[0]


@contextlib.contextmanager
def deployed(environments: Path, workdir: Path) -> Iterator[World]:
    from pipelines.aws.deploy import DeployOptions, deploy
    from pipelines.aws.errors import OK
    from pipelines.aws.manifest import load_manifest
    from pipelines.aws.session import Sessions
    from pipelines.config.loader import load_project
    from pipelines.rehearsal.embedded import (
        create_alarm_standins,
        create_standins,
        embedded_aws,
    )
    from pipelines.rehearsal.rehearse import BOOTSTRAP_TAG, push_image
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
        assert deploy(clients, options) == OK
        image = manifest.image_uri(push_image(clients, manifest, "bootstrap", BOOTSTRAP_TAG))
        options = DeployOptions(templates, environments, yes=True, bootstrap_image=image)
        assert deploy(clients, options) == OK
        bodies = {e.name: json.loads(manifest.body(e)) for e in manifest.stacks}
        roles = roles_of(bodies, {e.name: e.account for e in manifest.stacks})
        yield World(environments, templates, manifest, clients, image, roles)


@contextlib.contextmanager
def fargate_containers_without_memory() -> Iterator[None]:
    """moto's RunTask adds up each container's memory, as for EC2, and fails on a container
    without one; a Fargate task definition needs only the task's (the runner stacks set only
    that). Here a container without memory counts as 0."""
    from moto.ecs import models

    backend = models.EC2ContainerServiceBackend
    original = backend.__dict__["_calculate_task_resource_requirements"]
    sizes = ("memory", "memoryReservation", "Memory", "MemoryReservation")

    def calculate(task_definition: Any) -> dict[str, Any]:
        counted = copy.copy(task_definition)
        counted.container_definitions = [
            c if any(c.get(k) is not None for k in sizes) else {**c, "memory": 0}
            for c in task_definition.container_definitions
        ]
        return original.__func__(counted)

    backend._calculate_task_resource_requirements = staticmethod(calculate)  # type: ignore[method-assign]
    try:
        yield
    finally:
        backend._calculate_task_resource_requirements = original  # type: ignore[method-assign]
