"""`build`: an image built from a context directory and pushed, by kaniko (ECS) or docker
(CodeBuild, privileged)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pipelines.jobs.artifacts import ClientMaker, Downloader, client, materialize
from pipelines.jobs.errors import JobError
from pipelines.jobs.tools import run_streaming

KANIKO_EXECUTOR = "/kaniko/executor"


def kaniko_argv(
    *,
    context: str,
    destinations: Sequence[str],
    dockerfile: str | None = None,
    build_args: Sequence[str] = (),
) -> list[str]:
    """The kaniko executor's argv. `--flag=value` form: a value can never read as a flag."""
    argv = [KANIKO_EXECUTOR, f"--context={context}"]
    if dockerfile:
        argv.append(f"--dockerfile={dockerfile}")
    argv += [f"--destination={d}" for d in destinations]
    argv += [f"--build-arg={a}" for a in build_args]
    # Same sources, same image bytes: timestamps are not what a digest should depend on.
    argv.append("--reproducible")
    return argv


def docker_argvs(
    *,
    context: str,
    destinations: Sequence[str],
    dockerfile: str | None = None,
    build_args: Sequence[str] = (),
) -> list[list[str]]:
    """docker build, then docker push of each destination (CodeBuild, privileged)."""
    build = ["docker", "build"]
    if dockerfile:
        build += ["--file", str(Path(context) / dockerfile)]
    for destination in destinations:
        build += ["--tag", destination]
    for arg in build_args:
        build += ["--build-arg", arg]
    build += ["--", context]
    return [build, *(["docker", "push", "--", d] for d in destinations)]


def build(
    *,
    context: str,
    destinations: Sequence[str],
    workspace: Path,
    dockerfile: str | None = None,
    build_args: Sequence[str] = (),
    engine: str = "kaniko",
    dry_run: bool = False,
    make_client: ClientMaker = client,
    fetch: Downloader | None = None,
) -> int:
    if "::" in context:
        local = materialize(context, workspace, make_client=make_client, fetch=fetch)
        context = f"dir://{local}" if engine == "kaniko" else str(local)
    if engine == "kaniko":
        argv = kaniko_argv(
            context=context,
            destinations=destinations,
            dockerfile=dockerfile,
            build_args=build_args,
        )
        if dry_run:
            print(json.dumps(argv))
            return 0
        # Replace this process: kaniko unpacks base images over the root filesystem, where a
        # Python process waiting on it could lose its own files.
        os.execv(argv[0], argv)
    if context.startswith("s3://"):
        raise JobError("the docker engine builds a local directory or an Artifact::path")
    argvs = docker_argvs(
        context=context,
        destinations=destinations,
        dockerfile=dockerfile,
        build_args=build_args,
    )
    if dry_run:
        for argv in argvs:
            print(json.dumps(argv))
        return 0
    _docker_login(destinations, make_client)
    for argv in argvs:
        result = run_streaming(argv)
        if result.returncode:
            return result.returncode
    return 0


def _docker_login(destinations: Sequence[str], make_client: ClientMaker) -> None:
    import base64

    registries = sorted({d.split("/", 1)[0] for d in destinations})
    token = make_client("ecr").get_authorization_token()["authorizationData"][0]
    password = base64.b64decode(token["authorizationToken"]).decode().partition(":")[2]
    for registry in registries:
        subprocess.run(
            ["docker", "login", "--username", "AWS", "--password-stdin", registry],
            input=password,
            text=True,
            check=True,
        )
