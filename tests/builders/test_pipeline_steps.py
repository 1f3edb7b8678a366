"""Runner steps as pipeline actions: the invoker for ECS jobs, CodeBuild for the others."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from pipelines.builders.pipeline import MAX_PLANS_IN_APPROVAL
from pipelines.invoker.names import MAX_SUMMARY
from pipelines.synth import synthesize
from tests.support import FIXTURES, resources_of_type, template


def _pipeline(synthesis, app: str) -> dict:
    (resource,) = resources_of_type(
        template(synthesis, f"{app}-pipeline"), "AWS::CodePipeline::Pipeline"
    ).values()
    return resource["Properties"]


def _actions(synthesis, app: str, stage: str) -> dict[str, dict]:
    (found,) = [s for s in _pipeline(synthesis, app)["Stages"] if s["Name"] == stage]
    return {a["Name"]: a for a in found["Actions"]}


def _statements(synthesis, app: str) -> list[dict]:
    role = template(synthesis, f"{app}-pipeline")["Resources"]["PipelineRole"]
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_ecs_steps_invoke_the_invoker_with_the_request_it_admits_again(syntheses) -> None:
    actions = _actions(syntheses["every-step"], "payments", "prod-eu")
    plan = actions["plan.plan"]

    assert plan["ActionTypeId"] == {
        "Category": "Invoke",
        "Owner": "AWS",
        "Provider": "Lambda",
        "Version": "1",
    }
    assert plan["Configuration"]["FunctionName"] == "payments-runner-invoker"
    assert plan["Namespace"] == "prod-eu-plan-plan"
    assert plan["InputArtifacts"] == [{"Name": "Templates"}]
    request = json.loads(plan["Configuration"]["UserParameters"])
    assert request["runner"] == "plan" and request["script"] == "plan"
    assert request["environment"] == "prod-eu"
    assert request["args"][:2] == ["--stack", "payments-prod-eu-api"]
    assert "image" not in request
    # The apply reads the change set id the plan printed: the approved change set, exactly.
    apply = json.loads(actions["apply.apply"]["Configuration"]["UserParameters"])
    assert apply["args"] == [
        "--stack",
        "payments-prod-eu-api",
        "--change-set",
        "#{prod-eu-plan-plan.changeSetId}",
    ]
    tfapply = json.loads(actions["tfapply.apply"]["Configuration"]["UserParameters"])
    assert "#{prod-eu-tfplan-plan.planSha256}" in tfapply["args"]


def test_release_image_jobs_get_the_promoted_digest(syntheses) -> None:
    actions = _actions(syntheses["every-step"], "payments", "prod-eu")
    request = json.loads(actions["migrate.migrate"]["Configuration"]["UserParameters"])
    assert request["image"] == (
        "100000000001.dkr.ecr.eu-central-1.amazonaws.com/payments@#{SourceVariables.ImageDigest}"
    )


def test_codebuild_steps_pass_the_argv_admitted_at_synth(syntheses) -> None:
    smoke = _actions(syntheses["every-step"], "payments", "dev")["smoke.check"]
    assert smoke["ActionTypeId"]["Provider"] == "CodeBuild"
    config = smoke["Configuration"]
    assert config["ProjectName"] == "payments-runner-smoke"
    variables = {v["name"]: v for v in json.loads(config["EnvironmentVariables"])}
    assert json.loads(variables["PIPELINES_ARGV"]["value"]) == [
        "python",
        "-m",
        "smoke",
        "--url",
        "https://dev.payments.example.com/health",
    ]
    assert variables["PIPELINES_ENVIRONMENT"]["value"] == "dev"
    assert {v["type"] for v in variables.values()} == {"PLAINTEXT"}
    assert smoke["Namespace"] == "dev-smoke-check"


def _resolved_worst_case(message: str) -> str:
    """The message as CodePipeline shows it, with every variable at its longest."""
    message = message.replace("#{SourceVariables.ImageDigest}", "sha256:" + "f" * 64)
    message = message.replace("#{codepipeline.PipelineExecutionId}", "e" * 36)
    return re.sub(r"#\{[^}]+\.summary\}", "s" * MAX_SUMMARY, message)


def test_the_approval_shows_the_plans_summaries_within_500_characters(syntheses) -> None:
    approval = _actions(syntheses["every-step"], "payments", "prod-eu")["Approve"]
    message = approval["Configuration"]["CustomData"]
    assert message.endswith(" Plans: #{prod-eu-plan-plan.summary} | #{prod-eu-tfplan-plan.summary}")
    example = _actions(syntheses["example"], "shop", "prod")["Approve"]
    assert example["Configuration"]["CustomData"].endswith(" Plans: #{prod-plan-plan.summary}")
    staging = _actions(syntheses["example"], "shop", "staging")["Approve"]
    assert "Plans:" not in staging["Configuration"]["CustomData"]
    for custom in (message, example["Configuration"]["CustomData"]):
        assert len(_resolved_worst_case(custom)) <= 500


def test_an_approval_after_many_plans_shows_three_and_counts_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "env"
    shutil.copytree(FIXTURES / "valid" / "every-step", config)
    prod = config / "prod-eu.yaml"
    extra = "    - plan.plan --stack payments-prod-eu-api --template Templates::x.json\n"
    text = prod.read_text(encoding="utf-8")
    prod.write_text(text.replace("  before_deploy:\n", extra * 3 + "  before_deploy:\n", 1))

    approval = _actions(synthesize(config), "payments", "prod-eu")["Approve"]
    message = approval["Configuration"]["CustomData"]

    assert message.count(".summary}") == MAX_PLANS_IN_APPROVAL == 3
    assert message.endswith(" (+2 more in the actions' details)")
    assert len(_resolved_worst_case(message)) <= 500


def test_the_pipeline_role_may_start_exactly_the_runner_jobs(syntheses) -> None:
    statements = _statements(syntheses["every-step"], "payments")
    by_action = {}
    for statement in statements:
        for action in statement["Action"]:
            by_action.setdefault(action, []).extend(statement["Resource"])
    assert by_action["lambda:InvokeFunction"] == [
        "arn:aws:lambda:eu-central-1:100000000001:function:payments-release-marker",
        "arn:aws:lambda:eu-central-1:100000000001:function:payments-runner-invoker",
    ]
    # Only the projects steps use (smoke), not every CodeBuild runner (docker).
    assert by_action["codebuild:StartBuild"] == [
        "arn:aws:codebuild:eu-central-1:100000000001:project/payments-runner-smoke"
    ]
    # An app without runners gives its pipeline no such permission.
    # An app without runners invokes only its release marker, and builds nothing.
    plain: dict[str, list[str]] = {}
    for statement in _statements(syntheses["single-account"], "notes"):
        for action in statement["Action"]:
            plain.setdefault(action, []).extend(statement["Resource"])
    assert {a: r for a, r in plain.items() if a.startswith(("lambda:", "codebuild:"))} == {
        "lambda:InvokeFunction": [
            "arn:aws:lambda:us-east-1:123456789012:function:notes-release-marker"
        ],
        "lambda:ListFunctions": ["*"],
    }


def test_terraform_runners_of_other_accounts_may_use_only_the_plan_store(syntheses) -> None:
    body = template(syntheses["every-step"], "payments-pipeline")
    roles = [
        "arn:aws:iam::300000000003:role/payments-prod-eu-runner-tfapply-task",
        "arn:aws:iam::300000000003:role/payments-prod-eu-runner-tfplan-task",
    ]
    policies = {
        "ArtifactBucketPolicy": body["Resources"]["ArtifactBucketPolicy"]["Properties"][
            "PolicyDocument"
        ],
        "ArtifactKey": body["Resources"]["ArtifactKey"]["Properties"]["KeyPolicy"],
    }
    for name, policy in policies.items():
        (statement,) = [
            s
            for s in policy["Statement"]
            if s.get("Sid") == "EnvironmentTerraformRunnersUsePlanStore"
        ]
        assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": roles}}, name
    (bucket,) = [
        s
        for s in policies["ArtifactBucketPolicy"]["Statement"]
        if s.get("Sid") == "EnvironmentTerraformRunnersUsePlanStore"
    ]
    assert bucket["Resource"] == [
        {"Fn::Join": ["", [{"Fn::GetAtt": ["ArtifactBucket", "Arn"]}, "/plans/*"]]}
    ]
    assert bucket["Action"] == ["s3:GetObject", "s3:PutObject"]
    # The example has no terraform runner: its bucket admits no runner role.
    example = template(syntheses["example"], "shop-pipeline")
    text = json.dumps(example["Resources"]["ArtifactBucketPolicy"])
    assert "runner" not in text
