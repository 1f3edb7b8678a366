"""Several images (tests/fixtures/valid/two-images): one pipeline per image, each started only by
a push to its own repository and deploying only the services that run it; the IAM of each
reaches only its own repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipelines import image_naming
from pipelines.config.loader import load_project
from pipelines.config.models import MAX_IMAGE_NAME
from pipelines.synth import synthesize
from tests.support import FIXTURES, template

SERVICES = {"web": ["admin", "web"], "worker": ["worker"]}
REPOSITORIES = {"web": "shop-web", "worker": "shop-worker"}
TAGS = {"web": "release", "worker": "worker-release"}
REPO_ARN = "arn:aws:ecr:eu-west-1:111111111111:repository/{}"


def _pipeline_stack(syntheses: Any) -> dict[str, Any]:
    return template(syntheses["two-images"], "shop-pipeline")["Resources"]


def _actions(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for stage in pipeline["Properties"]["Stages"] for a in stage["Actions"]]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_each_image_has_its_own_pipeline_and_ecr_source(syntheses) -> None:
    resources = _pipeline_stack(syntheses)
    pipelines = {k: v for k, v in resources.items() if v["Type"] == "AWS::CodePipeline::Pipeline"}
    assert sorted(pipelines) == ["PipelineWeb", "PipelineWorker"]
    for image in ("web", "worker"):
        pipeline = pipelines[f"Pipeline{image.capitalize()}"]
        assert pipeline["Properties"]["Name"] == f"shop-{image}-release"
        [source] = [a for a in _actions(pipeline) if a["ActionTypeId"]["Provider"] == "ECR"]
        assert source["Configuration"] == {
            "RepositoryName": REPOSITORIES[image],
            "ImageTag": TAGS[image],
        }


def test_each_pipeline_deploys_only_its_own_services(syntheses) -> None:
    resources = _pipeline_stack(syntheses)
    for image, services in SERVICES.items():
        actions = _actions(resources[f"Pipeline{image.capitalize()}"])
        stacks = {
            a["Configuration"]["StackName"]
            for a in actions
            if a["ActionTypeId"]["Provider"] == "CloudFormation"
        }
        assert stacks == {f"shop-{env}-{s}" for env in ("dev", "staging", "prod") for s in services}
        overrides = {
            a["Configuration"]["ParameterOverrides"]
            for a in actions
            if "ParameterOverrides" in a.get("Configuration", {})
        }
        uri = f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/{REPOSITORIES[image]}@"
        assert overrides == {json.dumps({"ImageUri": uri + "#{SourceVariables.ImageDigest}"})}
        markers = [
            a
            for a in actions
            if a["ActionTypeId"]["Provider"] == "Lambda"
            and a["Configuration"]["FunctionName"] != "shop-runner-invoker"
        ]
        assert {a["Configuration"]["FunctionName"] for a in markers} == {
            f"shop-{image}-release-marker"
        }
        assert all(
            json.loads(a["Configuration"]["UserParameters"])["repository"] == REPOSITORIES[image]
            for a in markers
        )


def test_only_a_push_to_its_own_repository_starts_a_pipeline(syntheses) -> None:
    resources = _pipeline_stack(syntheses)
    for image in ("web", "worker"):
        rule = resources[f"TriggerRule{image.capitalize()}"]["Properties"]
        assert rule["EventPattern"]["detail"]["repository-name"] == [REPOSITORIES[image]]
        assert rule["EventPattern"]["detail"]["image-tag"] == [TAGS[image]]
        [target] = rule["Targets"]
        assert target["Arn"].endswith(f":shop-{image}-release")
        [start] = _statements(resources[f"TriggerRole{image.capitalize()}"])
        assert start["Resource"] == [target["Arn"]]


def test_each_pipelines_roles_reach_only_its_own_repository(syntheses) -> None:
    resources = _pipeline_stack(syntheses)
    for image, other in (("web", "worker"), ("worker", "web")):
        sfx = image.capitalize()
        for role in (f"PipelineRole{sfx}", f"ReleaseMarkerRole{sfx}"):
            text = json.dumps(resources[role])
            assert REPO_ARN.format(REPOSITORIES[image]) in text
            assert REPO_ARN.format(REPOSITORIES[other]) not in text
        invoked = [
            s["Resource"]
            for s in _statements(resources[f"PipelineRole{sfx}"])
            if s["Action"] == ["lambda:InvokeFunction"]
        ]
        # Each image's pipeline has runner steps (STEPS), so it may invoke the invoker too.
        assert invoked == [
            [
                "arn:aws:lambda:eu-west-1:111111111111:function:shop-runner-invoker",
                f"arn:aws:lambda:eu-west-1:111111111111:function:shop-{image}-release-marker",
            ]
        ]


# The fixture's steps, by image: (stage, runner.script, its arguments, runs the release image).
STEPS = {
    "web": [
        ("dev", "migrate.migrate", [], True),
        ("staging", "migrate.migrate", [], True),
        ("prod", "migrate.migrate", [], True),
        ("prod", "smoke.check", ["--url", "https://shop.example.com/healthz"], False),
    ],
    "worker": [
        ("dev", "smoke.check", ["--url", "https://dev.shop.example.com/healthz"], False),
        ("staging", "migrate.migrate", ["--target", "7"], True),
        ("prod", "smoke.check", ["--url", "https://shop.example.com/healthz"], False),
    ],
}


def test_each_pipeline_runs_only_its_images_steps_with_its_own_release_image(syntheses) -> None:
    resources = _pipeline_stack(syntheses)
    for image, expected in STEPS.items():
        pipeline = resources[f"Pipeline{image.capitalize()}"]
        found = []
        for stage in pipeline["Properties"]["Stages"]:
            for action in stage["Actions"]:
                config = action.get("Configuration", {})
                if config.get("FunctionName") != "shop-runner-invoker":
                    continue
                request = json.loads(config["UserParameters"])
                assert request["environment"] == stage["Name"]
                found.append(
                    (
                        stage["Name"],
                        f"{request['runner']}.{request['script']}",
                        request["args"],
                        "image" in request,
                    )
                )
                if "image" in request:  # the image being promoted: this pipeline's, by digest
                    assert request["image"] == (
                        f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/{REPOSITORIES[image]}"
                        "@#{SourceVariables.ImageDigest}"
                    )
        assert found == expected


def test_runners_json_admits_every_images_repository(syntheses) -> None:
    document = json.loads(syntheses["two-images"].files["runners.json"])
    assert "release_repository" not in document
    assert document["release_repositories"] == [
        f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/{REPOSITORIES[i]}" for i in ("web", "worker")
    ]


def test_runner_execution_roles_pull_only_the_repositories_their_steps_release(syntheses) -> None:
    """dev and prod run a release runner only in web's pipeline; staging in both."""
    expected = {"dev": ["web"], "staging": ["web", "worker"], "prod": ["web"]}
    for env, images in expected.items():
        resources = template(syntheses["two-images"], f"shop-{env}-runner")["Resources"]
        pulls = [
            s["Resource"]
            for s in _statements(resources["RunnerExecutionRole"])
            if "ecr:BatchGetImage" in s["Action"]
        ]
        assert pulls == [[REPO_ARN.format(REPOSITORIES[i]) for i in images]]


def test_a_service_pulls_only_from_its_own_images_repository(syntheses) -> None:
    for service, repository in (("web", "shop-web"), ("worker", "shop-worker")):
        body = template(syntheses["two-images"], f"shop-dev-{service}")
        text = json.dumps(body["Resources"]["ExecutionRole"])
        assert REPO_ARN.format(repository) in text
        assert REPO_ARN.format(({"shop-web", "shop-worker"} - {repository}).pop()) not in text


def test_the_environment_deploy_role_trusts_every_images_pipeline(syntheses) -> None:
    role = template(syntheses["two-images"], "shop-dev-deploy")["Resources"]["DeployRole"]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [
        "arn:aws:iam::111111111111:role/shop-web-pipeline",
        "arn:aws:iam::111111111111:role/shop-worker-pipeline",
    ]


def test_the_source_stack_holds_every_repository(syntheses) -> None:
    resources = template(syntheses["two-images"], "shop-source")["Resources"]
    repositories = {
        k: v["Properties"]["RepositoryName"]
        for k, v in resources.items()
        if v["Type"] == "AWS::ECR::Repository"
    }
    # The first image keeps the one image's logical ID, so listing an existing repository first
    # under `images` does not make CloudFormation create it again.
    assert repositories == {"Repository": "shop-web", "RepositoryWorker": "shop-worker"}
    assert resources["PushRoleWeb"]["Properties"]["RoleName"] == "shop-web-image-push"
    assert "PushRoleWorker" not in resources  # worker has no push principals


def test_one_image_keeps_every_name() -> None:
    for made, today in (
        (image_naming.pipeline_name("shop", None), "shop-release"),
        (image_naming.pipeline_role("shop", None), "shop-pipeline"),
        (image_naming.trigger_role("shop", None), "shop-pipeline-trigger"),
        (image_naming.trigger_rule("shop", None), "shop-release-on-push"),
        (image_naming.push_role("shop", None), "shop-image-push"),
        (image_naming.release_marker_function("shop", None), "shop-release-marker"),
        (image_naming.release_marker_role("shop", None), "shop-release-marker"),
        (image_naming.logical_suffix(None), ""),
    ):
        assert made == today


def test_the_longest_image_name_fits_every_limit() -> None:
    app, image = "a" * 24, "b" * MAX_IMAGE_NAME  # the longest app and image names allowed
    for what, name, limit in image_naming.longest_names(app, image):
        assert len(name) <= limit, (what, name)
    assert len(image_naming.pipeline_name(app, image)) <= 100  # CodePipeline's limit


def test_a_view_holds_one_image_and_its_services() -> None:
    project = load_project(FIXTURES / "valid" / "two-images")
    assert project.image_names() == ["web", "worker"]
    for name, services in SERVICES.items():
        view = project.for_image(name)
        assert view.image.repository == REPOSITORIES[name]
        assert sorted(view.services) == services
        assert view.image_name == name
    assert project.image_of("admin").repository == "shop-web"
    # The whole project has no one image to fall back on: code that needs the image of a
    # pipeline must take that pipeline's view.
    assert project.image is None
    with pytest.raises(ValueError, match="several images"):
        project.pipeline_image  # noqa: B018 (the property's refusal is what is tested)


def test_lifecycle_hooks_work_per_service_with_several_images(tmp_path: Path) -> None:
    """A hook is a service's, and a service has one image: web's hook in prod runs
    through prod's hook function as with one image (a hook never runs the release image)."""
    environments = tmp_path / "two-images"
    shutil.copytree(FIXTURES / "valid" / "two-images", environments)
    prod = environments / "prod.yaml"
    prod.write_text(
        prod.read_text().replace(
            "  web:\n    desired_count: 3\n",
            "  web:\n    desired_count: 3\n    rollout:\n      strategy: blue_green\n"
            "      hooks:\n        post_scale_up:\n          - smoke.check --url "
            "https://shop.example.com/healthz\n",
        )
    )
    synthesis = synthesize(environments)
    runners = json.loads(synthesis.files["runners.json"])
    assert runners["targets"]["prod"]["hooks"] == {
        "web": {"POST_SCALE_UP": ["smoke.check --url https://shop.example.com/healthz"]}
    }
    service = template(synthesis, "shop-prod-web")["Resources"]["Service"]["Properties"]
    [hook] = service["DeploymentConfiguration"]["LifecycleHooks"]
    assert hook["LifecycleStages"] == ["POST_SCALE_UP"]
    assert "HookFunction" in template(synthesis, "shop-prod-runner")["Resources"]


def test_a_step_that_skips_rollbacks_asks_its_own_images_pipeline(syntheses) -> None:
    """prod's web migration says on_rollback: skip: the invoker reads the execution of
    shop-web-release, and may read only that pipeline's executions."""
    resources = _pipeline_stack(syntheses)
    skips = [
        json.loads(a["Configuration"]["UserParameters"])["skipOnRollback"]
        for image in STEPS
        for a in _actions(resources[f"Pipeline{image.capitalize()}"])
        if "skipOnRollback" in a.get("Configuration", {}).get("UserParameters", "")
    ]
    assert [s["pipeline"] for s in skips] == ["shop-web-release"]
    runner = template(syntheses["two-images"], "shop-runner")["Resources"]
    reads = [
        s["Resource"]
        for r in runner.values()
        if r["Type"] == "AWS::IAM::Role"
        for s in _statements(r)
        if s["Action"] == ["codepipeline:GetPipelineExecution"]
    ]
    assert reads == [["arn:aws:codepipeline:eu-west-1:111111111111:shop-web-release"]]


def test_the_image_builder_pushes_to_every_images_repository_and_nowhere_else(
    tmp_path: Path,
) -> None:
    """A build step runs in one image's pipeline, and a push of an image's release tag starts
    that image's release: the built-in image-builder may push to each of the app's repositories,
    and to no other repository of the registry."""
    from pipelines.invoker.allowlist import Refused, admit, parse_step
    from pipelines.invoker.document import load_document

    environments = tmp_path / "two-images"
    shutil.copytree(FIXTURES / "valid" / "two-images", environments)
    pipeline = environments / "pipeline.yaml"
    pipeline.write_text(
        pipeline.read_text().replace(
            "runners:\n",
            "runner:\n  image: 111111111111.dkr.ecr.eu-west-1.amazonaws.com/runner:1\n"
            "runners:\n  kaniko: {builtin: image-builder, on: codebuild}\n",
        )
    )
    staging = environments / "staging.yaml"
    staging.write_text(
        staging.read_text()
        + "    - {run: kaniko.build --context s3://shop-artifacts-111111111111-eu-west-1/w.tar.gz"
        " --destination 111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-worker:b1,"
        " image: worker}\n"
    )
    synthesis = synthesize(environments)
    runners = load_document(synthesis.files["runners.json"]).runners
    registry = "111111111111.dkr.ecr.eu-west-1.amazonaws.com"
    build = "kaniko.build --context s3://shop-artifacts-111111111111-eu-west-1/c.tar.gz"
    for repository in REPOSITORIES.values():
        admitted = admit(runners, parse_step(f"{build} --destination {registry}/{repository}:1"))
        assert admitted.argv[-2:] == ("--destination", f"{registry}/{repository}:1")
    for elsewhere in ("shop-runner", "shop-web-other", "shop"):
        with pytest.raises(Refused):
            admit(runners, parse_step(f"{build} --destination {registry}/{elsewhere}:1"))
    role = template(synthesis, "shop-runner")["Resources"]
    pushes = [
        s["Resource"]
        for r in role.values()
        if r["Type"] == "AWS::IAM::Role"
        for s in _statements(r)
        if "ecr:PutImage" in s["Action"]
    ]
    assert pushes == [[REPO_ARN.format(REPOSITORIES[i]) for i in ("web", "worker")]]
