"""Project -> every stack to deploy: its template, where it goes and what it needs first."""

from __future__ import annotations

from dataclasses import dataclass, field

from troposphere import Template

from pipelines import naming
from pipelines.builders.artifacts import build_artifacts
from pipelines.builders.deploy import build_deploy
from pipelines.builders.pipeline import build_pipeline
from pipelines.builders.service import DIGEST_PATTERN, build_service
from pipelines.builders.source import build_source
from pipelines.config.models import Project
from pipelines.release.plan import ReleasePlan


@dataclass(frozen=True)
class Stack:
    """A template and where it is deployed: account, region, and the stacks it needs first."""

    name: str
    kind: str  # source | artifacts | deploy | service | pipeline
    account: str
    region: str
    template: Template
    needs: tuple[str, ...] = ()
    environment: str | None = None
    service: str | None = None
    parameters: dict[str, dict[str, str]] = field(default_factory=dict)


def build_stacks(project: Project, plan: ReleasePlan) -> list[Stack]:
    """Every stack, each after the stacks it needs."""
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
                    parameters={
                        naming.IMAGE_URI_PARAMETER: {
                            "set_by": "pipeline",
                            "pattern": DIGEST_PATTERN,
                            "description": "image pinned by digest; deploy keeps the live value",
                        }
                    },
                )
            )
    stacks.append(
        Stack(
            naming.pipeline_stack(app),
            "pipeline",
            toolchain.account,
            toolchain.region,
            build_pipeline(project, plan),
            needs=(source.name, *(s.name for s in regional)),
        )
    )
    return stacks


def deploy_waves(stacks: list[Stack]) -> dict[str, int]:
    """Stack name -> wave: a stack deploys after every stack it needs; one wave runs at once."""
    wave: dict[str, int] = {}
    for stack in stacks:  # stacks come after what they need, so one pass is enough
        wave[stack.name] = 1 + max((wave[n] for n in stack.needs), default=-1)
    return wave
