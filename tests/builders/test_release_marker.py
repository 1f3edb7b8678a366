"""The release marker in the templates: the repository keeps what environments run, the pipeline
tags it after each deployment, and the function, its role and logs are as narrow as they can be.
"""

from __future__ import annotations

import ast
import fnmatch
import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pipelines import naming, release_marker
from pipelines.builders.marker import MAX_INLINE_CODE_CHARS
from pipelines.builders.pipeline import DIGEST_VARIABLE
from pipelines.builders.source import DEPLOYED_IMAGES_KEPT
from pipelines.limits import STAGES_PER_PIPELINE
from pipelines.release.lead_time import MARKER_TIMEOUT_SECONDS
from pipelines.render import Synthesis
from pipelines.synth import synthesize
from tests.support import EXAMPLE, FIXTURES, template

KEEP_IMAGES = 50  # the example's image.keep_images (the default)


@pytest.fixture(scope="module")
def example() -> Synthesis:
    return synthesize(EXAMPLE)


def _repository(synthesis: Synthesis, app: str = "shop") -> dict[str, Any]:
    body = template(synthesis, naming.source_stack(app))
    return body["Resources"]["Repository"]["Properties"]


def _lifecycle(synthesis: Synthesis) -> dict[str, Any]:
    return json.loads(_repository(synthesis)["LifecyclePolicy"]["LifecyclePolicyText"])


def _pipeline(synthesis: Synthesis, app: str = "shop") -> dict[str, Any]:
    return template(synthesis, naming.pipeline_stack(app))


# The repository -------------------------------------------------------------------------------


def test_the_lifecycle_keeps_deployed_images_before_it_counts_the_newest(example) -> None:
    first, second = sorted(_lifecycle(example)["rules"], key=lambda r: r["rulePriority"])
    assert first["selection"] == {
        "tagStatus": "tagged",
        "tagPrefixList": ["deployed-"],
        "countType": "imageCountMoreThan",
        "countNumber": DEPLOYED_IMAGES_KEPT,
    }
    assert second["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": KEEP_IMAGES,
    }
    assert first["action"] == second["action"] == {"type": "expire"}
    # ECR: the rule with tagStatus `any` must have the highest rulePriority, evaluated last.
    assert first["rulePriority"] < second["rulePriority"]


def test_the_deployed_rule_can_never_expire_an_image_the_flow_tags() -> None:
    # Two tags per environment, and at most one environment per stage after the source stage.
    most_tagged = 2 * (STAGES_PER_PIPELINE - 1)
    assert most_tagged <= DEPLOYED_IMAGES_KEPT
    for env in ("dev", "prod"):  # both tags fall under the rule's prefix
        for tag in (naming.deployed_tag(env), naming.previous_deployed_tag(env)):
            assert tag.startswith(naming.DEPLOYED_TAG_PREFIX)


def test_the_release_marker_may_move_the_deployed_tags_and_nothing_else_mutates(example) -> None:
    repository = _repository(example)
    assert repository["ImageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    filters = repository["ImageTagMutabilityExclusionFilters"]
    assert {f["ImageTagMutabilityExclusionFilterType"] for f in filters} == {"WILDCARD"}
    patterns = [f["ImageTagMutabilityExclusionFilterValue"] for f in filters]
    assert patterns == ["release", "deployed-*"]

    def mutable(tag: str) -> bool:
        return any(fnmatch.fnmatchcase(tag, p) for p in patterns)

    for env in ("dev", "staging", "prod"):
        assert mutable(naming.deployed_tag(env)) and mutable(naming.previous_deployed_tag(env))
    assert mutable("release")
    assert not mutable("build-42") and not mutable("v1.2.3") and not mutable("releases")
    metadata = template(example, "shop-source")["Resources"]["Repository"]["Metadata"]
    [skip] = metadata["checkov"]["skip"]
    assert skip["id"] == "CKV_AWS_51" and "deployed-*" in skip["comment"]


# ECR's lifecycle policy evaluation, as the ECR User Guide documents it -------------------------
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html: "An image that
# matches the tagging requirements of a rule cannot be expired by a rule with a lower priority";
# images are expired by exactly one or zero rules; imageCountMoreThan sorts the images a rule
# selects from youngest to oldest by push time and expires those past countNumber; a
# tagPrefixList matches an image when every prefix matches one of its tags.
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_examples.html (Example A)
# is the check that this reading gives ECR's documented result.


class Image(NamedTuple):
    name: str
    tags: tuple[str, ...]
    pushed: int  # larger is newer


def _selects(selection: dict[str, Any], image: Image) -> bool:
    status = selection["tagStatus"]
    if status == "any":
        return True
    if status == "untagged":
        return not image.tags
    prefixes = selection["tagPrefixList"]
    return bool(image.tags) and all(any(t.startswith(p) for t in image.tags) for p in prefixes)


def expired(policy: dict[str, Any], images: list[Image]) -> set[str]:
    rules = sorted(policy["rules"], key=lambda r: r["rulePriority"])
    gone: set[str] = set()
    for index, rule in enumerate(rules):
        selection = rule["selection"]
        assert selection["countType"] == "imageCountMoreThan"
        chosen = sorted(
            (i for i in images if _selects(selection, i)), key=lambda i: i.pushed, reverse=True
        )
        for image in chosen[selection["countNumber"] :]:
            higher = rules[:index]
            if not any(_selects(r["selection"], image) for r in higher):
                gone.add(image.name)
    return gone


def test_the_evaluation_gives_the_documented_result_of_example_a() -> None:
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["prod"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
            },
            {
                "rulePriority": 2,
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["beta"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
            },
        ]
    }
    images = [
        Image("A", ("beta-1", "prod-1"), pushed=-10),
        Image("B", ("beta-2", "prod-2"), pushed=-9),
        Image("C", ("beta-3",), pushed=-8),
    ]
    # Rule 2 would take B as well, but B matches rule 1's tags: only A is expired.
    assert expired(policy, images) == {"A"}


def _history(pushes: int) -> list[Image]:
    """prod and staging took the first two pushes and no release reached them since; dev runs
    the newest; `pushes` images in all, each first tagged by CI with its build."""
    tags: dict[int, list[str]] = {n: [f"build-{n}"] for n in range(pushes)}
    tags[0] += [naming.previous_deployed_tag("prod"), naming.previous_deployed_tag("staging")]
    tags[1] += [naming.deployed_tag("prod"), naming.deployed_tag("staging")]
    tags[pushes - 2].append(naming.previous_deployed_tag("dev"))
    tags[pushes - 1] += [naming.deployed_tag("dev"), "release"]
    return [Image(f"push-{n}", tuple(t), pushed=n) for n, t in tags.items()]


def test_what_lagging_environments_run_survives_any_number_of_pushes(example) -> None:
    images = _history(KEEP_IMAGES * 3)
    gone = expired(_lifecycle(example), images)
    # prod's image and its rollback target stay; so does the newest keep_images of the rest.
    assert "push-0" not in gone and "push-1" not in gone
    kept = {i.name for i in images} - gone
    assert kept == {"push-0", "push-1"} | {f"push-{n}" for n in range(100, 150)}


def test_the_newest_images_alone_would_expire_what_prod_runs() -> None:
    """The defect the deployed rule fixes: with only the keep-newest rule, prod's image goes."""
    newest_only = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": KEEP_IMAGES,
                },
            }
        ]
    }
    assert {"push-0", "push-1"} <= expired(newest_only, _history(KEEP_IMAGES + 2))


# The function ---------------------------------------------------------------------------------


def test_the_function_runs_the_packaged_marker_inline(example) -> None:
    function = _pipeline(example)["Resources"]["ReleaseMarkerFunction"]["Properties"]
    code = function["Code"]["ZipFile"]
    assert code == Path(release_marker.__file__).read_text(encoding="utf-8")
    assert len(code) <= MAX_INLINE_CODE_CHARS == 4096
    # CloudFormation writes inline code to a file named index: the handler is index.handler.
    assert function["Handler"] == "index.handler"
    handler = next(
        n for n in ast.parse(code).body if isinstance(n, ast.FunctionDef) and n.name == "handler"
    )
    assert [a.arg for a in handler.args.args[:2]] == ["event", "context"]
    assert function["Runtime"].startswith("python3.")
    assert function["FunctionName"] == "shop-release-marker"
    assert function["Timeout"] == MARKER_TIMEOUT_SECONDS
    assert function["Role"] == {"Fn::GetAtt": ["ReleaseMarkerRole", "Arn"]}


def test_the_function_logs_to_its_own_encrypted_group_with_retention(example) -> None:
    resources = _pipeline(example)["Resources"]
    group = resources["ReleaseMarkerLogGroup"]["Properties"]
    assert group["LogGroupName"] == "/aws/lambda/shop-release-marker"
    assert group["RetentionInDays"] > 0
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["ReleaseMarkerLogKey", "Arn"]}
    assert resources["ReleaseMarkerFunction"]["DependsOn"] == ["ReleaseMarkerLogGroup"]
    key = resources["ReleaseMarkerLogKey"]["Properties"]["KeyPolicy"]["Statement"]
    [logs] = [s for s in key if s["Principal"].get("Service") == "logs.eu-west-1.amazonaws.com"]
    assert logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": (
                "arn:aws:logs:eu-west-1:111111111111:log-group:/aws/lambda/shop-release-marker"
            )
        }
    }


def test_the_role_trusts_lambda_and_may_only_move_tags_of_the_repository(example) -> None:
    role = _pipeline(example)["Resources"]["ReleaseMarkerRole"]["Properties"]
    assert role["RoleName"] == "shop-release-marker"
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "Condition" not in trust
    [policy] = role["Policies"]
    statements = {tuple(s["Action"]): s["Resource"] for s in policy["PolicyDocument"]["Statement"]}
    assert statements == {
        ("logs:CreateLogStream", "logs:PutLogEvents"): [
            {"Fn::GetAtt": ["ReleaseMarkerLogGroup", "Arn"]}
        ],
        ("ecr:BatchGetImage", "ecr:DescribeImages", "ecr:PutImage"): [
            "arn:aws:ecr:eu-west-1:111111111111:repository/shop-web"
        ],
        ("codepipeline:PutJobFailureResult", "codepipeline:PutJobSuccessResult"): ["*"],
    }


def test_the_pipeline_role_may_list_functions_and_invoke_the_marker(example) -> None:
    role = _pipeline(example)["Resources"]["PipelineRole"]["Properties"]
    granted: dict[str, list[Any]] = {}
    for statement in role["Policies"][0]["PolicyDocument"]["Statement"]:
        for action in statement["Action"]:
            granted.setdefault(action, []).extend(statement["Resource"])
    assert (
        "arn:aws:lambda:eu-west-1:111111111111:function:shop-release-marker"
        in (granted["lambda:InvokeFunction"])
    )
    assert granted["lambda:ListFunctions"] == ["*"]


# The pipeline ---------------------------------------------------------------------------------


def _environment_stages(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    stages = body["Resources"]["Pipeline"]["Properties"]["Stages"]
    return {s["Name"]: s for s in stages if s["Name"] != naming.SOURCE_STAGE}


def test_each_environment_marks_its_release_after_its_deployments(example) -> None:
    for env, stage in _environment_stages(_pipeline(example)).items():
        actions = stage["Actions"]
        [marker] = [a for a in actions if a["Name"] == naming.MARKER_ACTION]
        deployments = [
            a for a in actions if a["Name"].startswith(("Deploy-", "Apply-", "Plan-", "Approve"))
        ]
        assert marker["RunOrder"] > max(a["RunOrder"] for a in deployments), env
        assert marker["ActionTypeId"] == {
            "Category": "Invoke",
            "Owner": "AWS",
            "Provider": "Lambda",
            "Version": "1",
        }
        config = marker["Configuration"]
        assert config["FunctionName"] == "shop-release-marker"
        assert json.loads(config["UserParameters"]) == {
            "repository": "shop-web",
            "digest": DIGEST_VARIABLE,
            "tag": f"deployed-{env}",
            "previous": f"deployed-{env}-previous",
        }
        # Runs in the toolchain, where the function and the repository are: no role, no region.
        assert "RoleArn" not in marker and "Region" not in marker


def test_a_marker_request_is_what_the_handler_reads(
    example, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The action's UserParameters, with the digest resolved, drive the handler's `mark`."""
    stage = _environment_stages(_pipeline(example))["prod"]
    [marker] = [a for a in stage["Actions"] if a["Name"] == naming.MARKER_ACTION]
    request = json.loads(marker["Configuration"]["UserParameters"])
    calls: list[tuple[str, ...]] = []

    def mark(ecr: Any, repository: str, digest: str, tag: str, previous: str) -> str:
        calls.append((repository, digest, tag, previous))
        return "done"

    class Recorder:
        def put_job_success_result(self, **params: Any) -> None:
            calls.append(("success", params["executionDetails"]["summary"]))

    digest = "sha256:" + "ab" * 32
    user_parameters = json.dumps(request).replace(DIGEST_VARIABLE, digest)
    event = {
        "CodePipeline.job": {
            "id": "job",
            "data": {"actionConfiguration": {"configuration": {"UserParameters": user_parameters}}},
        }
    }
    monkeypatch.setattr(release_marker, "mark", mark)
    release_marker.handler(event, None, ecr=object(), codepipeline=Recorder())
    assert calls == [
        ("shop-web", digest, "deployed-prod", "deployed-prod-previous"),
        ("success", "done"),
    ]


def test_an_app_in_one_account_gets_the_same_marker(example) -> None:
    body = _pipeline(synthesize(FIXTURES / "valid" / "single-account"), "notes")
    stages = _environment_stages(body)
    assert sorted(stages) == ["dev", "prod"]
    for stage in stages.values():
        assert stage["Actions"][-1]["Name"] == naming.MARKER_ACTION
    role = body["Resources"]["ReleaseMarkerRole"]["Properties"]
    ecr = [
        s
        for s in role["Policies"][0]["PolicyDocument"]["Statement"]
        if "ecr:PutImage" in s["Action"]
    ]
    assert ecr[0]["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/notes/api"]
