"""Project -> every stack to deploy: its template, where it goes and what it needs first."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from troposphere import Template

from pipelines import naming
from pipelines.builders.artifacts import build_artifacts
from pipelines.builders.deploy import build_deploy
from pipelines.builders.pipeline import build_pipeline
from pipelines.builders.service import DIGEST_PATTERN, build_service
from pipelines.builders.source import build_source
from pipelines.config import runners
from pipelines.config.models import Project
from pipelines.release.plan import ReleasePlan, plans_by_image


class Stack(NamedTuple):
    """A template and where it is deployed: account, region, and the stacks it needs first."""

    name: str
    kind: str  # source | artifacts | deploy | service | pipeline | runner | environment-runner
    account: str
    region: str
    template: Template
    needs: tuple[str, ...] = ()
    environment: str | None = None
    service: str | None = None
    parameters: Mapping[str, Mapping[str, str]] = MappingProxyType({})


def build_stacks(
    project: Project, plan: ReleasePlan, invoker_code_key: str | None = None
) -> list[Stack]:
    """Every stack, each after the stacks it needs.

    `invoker_code_key` is where the invoker Lambda's package goes in the artifact bucket; it is
    needed only when the project has runners.
    """
    app, toolchain = project.app, project.toolchain
    source = Stack(
        naming.source_stack(app),
        "source",
        toolchain.account,
        toolchain.region,
        build_source(project),
    )
    stacks = [source]
    regional = [
        Stack(
            naming.artifacts_stack(app, region),
            "artifacts",
            toolchain.account,
            region,
            build_artifacts(project, region),
        )
        for region in project.regions[1:]
    ]
    stacks += regional
    for env in project.environments:
        deploy = Stack(
            naming.deploy_stack(app, env.name),
            "deploy",
            env.account,
            env.region,
            build_deploy(project, env),
            environment=env.name,
        )
        stacks.append(deploy)
        for service in sorted(project.services):
            stacks.append(
                Stack(
                    naming.service_stack(app, env.name, service),
                    "service",
                    env.account,
                    env.region,
                    build_service(project, env, service),
                    # The log key is imported from the deploy stack; the image comes from source.
                    needs=(source.name, deploy.name),
                    environment=env.name,
                    service=service,
                    parameters={naming.IMAGE_URI_PARAMETER: _image_parameter(project, service)},
                )
            )
    pipeline = Stack(
        naming.pipeline_stack(app),
        "pipeline",
        toolchain.account,
        toolchain.region,
        build_pipeline(project, plans_by_image(project, plan)),
        needs=(source.name, *(s.name for s in regional)),
        parameters={
            naming.artifact_key_parameter(s.region): {
                "set_by": "deploy",
                "kms_alias": naming.artifact_key_alias(app),
                "account": toolchain.account,
                "region": s.region,
                "description": f"ARN of the key {s.name} made, looked up by its alias",
            }
            for s in regional
        },
    )
    stacks.append(pipeline)
    if project.runners:
        stacks += _runner_stacks(project, source, pipeline, invoker_code_key)
    return stacks


def _image_parameter(project: Project, service: str) -> dict[str, str]:
    """The service stack's image parameter, as deploy reads it. With several images, each
    service's first image is its own image's bootstrap, so it is recorded per stack."""
    parameter = {
        "set_by": "pipeline",
        "pattern": DIGEST_PATTERN,
        "description": "image pinned by digest; deploy keeps the live value",
    }
    bootstrap = project.image_of(service).bootstrap
    if project.images and bootstrap:
        parameter["bootstrap"] = bootstrap
    return parameter


def _runner_stacks(
    project: Project, source: Stack, pipeline: Stack, invoker_code_key: str | None
) -> list[Stack]:
    # Imported here: apps without runners never load the runner builders.
    from pipelines.builders.runner import build_environment_runner, build_runner

    if invoker_code_key is None:
        raise ValueError("the project has runners: the invoker's code key is needed")
    app, toolchain = project.app, project.toolchain
    # The invoker's resource-based policy names each hook function's role, which IAM resolves
    # when the policy is written, so those environments' runner stacks deploy first.
    hooked = [naming.env_runner_stack(app, e.name) for e in runners.hook_environments(project)]
    toolchain_stack = Stack(
        naming.runner_stack(app),
        "runner",
        toolchain.account,
        toolchain.region,
        build_runner(project, invoker_code_key),
        # After the pipeline stack: the invoker's code is read from its artifact bucket.
        needs=(pipeline.name, *hooked),
    )
    environment_stacks = []
    for env in runners.ecs_environments(project):
        environment_stacks.append(
            Stack(
                naming.env_runner_stack(app, env.name),
                "environment-runner",
                env.account,
                env.region,
                build_environment_runner(project, env),
                # Release-image jobs pull from the repository whose policy the source stack sets.
                needs=(source.name,),
                environment=env.name,
            )
        )
    if hooked:
        return [*environment_stacks, toolchain_stack]
    return [toolchain_stack, *environment_stacks]


def deploy_waves(stacks: list[Stack]) -> dict[str, int]:
    """Stack name -> wave: a stack deploys after every stack it needs; one wave runs at once."""
    wave: dict[str, int] = {}
    for stack in stacks:  # stacks come after what they need, so one pass is enough
        wave[stack.name] = 1 + max((wave[n] for n in stack.needs), default=-1)
    return wave
