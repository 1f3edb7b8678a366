"""The runners document the runner tests use, as code: builtins for the app `shop` plus three
custom runners. tests/fixtures/runner/runners.json is its output, committed; regenerate it with
`.venv/bin/python -m tests.invoker.fixture_runners` after changing this file or builtins.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.config.builtin_runners import BuiltinContext, builtin_runner, builtin_runners
from pipelines.config.runner_spec import RunnerSpec, ScriptSpec
from pipelines.invoker.document import Network, dump_document

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "runner" / "runners.json"
RELEASE_REPOSITORY = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web"
# An image a request for the `release` runner (migrate) may carry.
RELEASE_IMAGE = f"{RELEASE_REPOSITORY}@sha256:{'ab12' * 16}"

CONTEXT = BuiltinContext(
    app="shop",
    account="111111111111",
    region="eu-west-1",
    runner_image="111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-runner:1",
    repositories=("shop-web",),
    artifact_bucket="shop-artifacts-111111111111-eu-west-1",
    environments=("dev", "staging", "prod"),
    targets=(("222222222222", "eu-west-1"), ("333333333333", "eu-west-1")),
    terraform_state_bucket="shop-terraform-state",
    terraform_lock_table="shop-terraform-locks",
)

CUSTOM = {
    "migrate": RunnerSpec(
        on="ecs",
        image="release",
        cpu=1024,
        memory=4096,
        max_wait_minutes=30,
        scripts={
            "migrate": ScriptSpec(
                command=["python", "manage.py", "migrate"],
                options=["--noinput"],
                allowed_options={
                    "--database": "[a-z]{1,20}",
                    "--plan": None,
                    "--verbosity": "[0-3]",
                },
                positional=True,
                positional_pattern="[a-z_]{1,40}",
            ),
            "showmigrations": ScriptSpec(command=["python", "manage.py", "showmigrations"]),
        },
    ),
    "smoke": RunnerSpec(
        on="codebuild",
        image="public.ecr.aws/docker/library/python:3.12",
        cpu=1024,
        memory=2048,
        scripts={
            "check": ScriptSpec(
                command=["python", "-m", "smoke"],
                allowed_options={
                    "--url": r"https://[a-z0-9.-]{1,253}(?:/[A-Za-z0-9._/-]{0,200})?",
                    "--retries": "[0-9]{1,2}",
                    "-v": None,
                },
            )
        },
    ),
    "echo": RunnerSpec(
        on="ecs",
        image="public.ecr.aws/docker/library/busybox:1.36",
        max_wait_minutes=10,
        scripts={
            # A deliberately loose pattern, to show the gatekeeper passes what it admits as one
            # argv token: no shell ever reads it.
            "say": ScriptSpec(command=["echo"], allowed_options={"--text": r"[^\n]{0,200}"}),
            "args": ScriptSpec(command=["echo"], positional=True),
        },
    ),
}


def runners() -> dict[str, RunnerSpec]:
    return {
        **builtin_runners(CONTEXT),
        "image-builder-codebuild": builtin_runner("image-builder", CONTEXT, on="codebuild"),
        **CUSTOM,
    }


def runner_data() -> dict[str, dict[str, Any]]:
    """The runners as runners.json holds them."""
    return {name: spec.model_dump(mode="json") for name, spec in runners().items()}


def document_text() -> str:
    return dump_document(
        "shop",
        runner_data(),
        region="eu-west-1",
        network=Network(subnets=("subnet-0aaa1111",), security_groups=("sg-0bbb2222",)),
        environments=("dev", "staging", "prod"),
        release_repository=RELEASE_REPOSITORY,
    )


if __name__ == "__main__":
    FIXTURE.write_text(document_text(), encoding="utf-8")
    print(f"wrote {FIXTURE}")
