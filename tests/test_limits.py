import json
import re
import shutil

import pytest
import yaml
from click.testing import CliRunner

from pipelines import limits
from pipelines.cli import main
from pipelines.config.yaml_source import read_document
from pipelines.errors import LimitError
from pipelines.synth import synthesize
from tests.support import EXAMPLE


def _read(path):
    # Our own reader: PyYAML's safe_load reads the key `on` (of runners) as the boolean true.
    return read_document(path).data


def _example_with_services(tmp_path, count: int):
    directory = tmp_path / "environments"
    shutil.copytree(EXAMPLE, directory)
    pipeline = _read(directory / "pipeline.yaml")
    pipeline["services"] = {
        f"svc{i:02d}": {"cpu": 256, "memory": 512, "port": 8000 + i, "path": f"/s{i}/*"}
        for i in range(count)
    }
    pipeline["services"]["web"] = {"cpu": 256, "memory": 512, "port": 8080}
    (directory / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    return directory


def _with_environments(directory, count: int):
    """Promote through `count` copies of staging after dev."""
    pipeline = _read(directory / "pipeline.yaml")
    staging = (directory / "staging.yaml").read_text()
    names = [f"stage{i:02d}" for i in range(count)]
    for i, name in enumerate(names):
        # They share staging's listener: each needs rule priorities of its own.
        (directory / f"{name}.yaml").write_text(
            re.sub(r"priority: \d+", f"priority: {100 * (i + 1)}", staging)
        )
    for name in ("staging", "prod"):
        (directory / f"{name}.yaml").unlink()
    pipeline["promotion"] = ["dev", *names]
    (directory / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    return directory


def test_too_many_stages_is_refused_before_writing(tmp_path) -> None:
    # 26 services need 3 stages in an approval environment (plan, approve, apply):
    # Source + dev + 17 x 3 = 53 stages, over CodePipeline's 50.
    directory = _with_environments(_example_with_services(tmp_path, 25), 17)
    with pytest.raises(LimitError) as caught:
        synthesize(directory)
    assert caught.value.messages == [
        "shop-pipeline: the pipeline has 53 stages; CodePipeline allows 50 (set by "
        "pipeline.yaml: promotion, services, and the environment files' steps)"
    ]
    out = tmp_path / "templates"
    result = CliRunner().invoke(
        main, ["synth", "--environments", str(directory), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "CodePipeline allows 50" in result.output
    assert not out.exists()


def test_as_many_services_as_fit_stay_in_one_stage_per_environment(tmp_path) -> None:
    # prod: its plan step, 23 change-set plans, the approval, the migration, 23 applies = 49.
    synthesis = synthesize(_example_with_services(tmp_path, 22))
    # source, 3 x (deploy + 23 services), pipeline, and the runner stacks of the toolchain,
    # staging and prod
    assert len(synthesis.outputs) == 1 + 3 * (1 + 23) + 1 + 3
    pipeline = json.loads(synthesis.files["shop-pipeline.json"])["Resources"]["Pipeline"]
    stages = [s["Name"] for s in pipeline["Properties"]["Stages"]]
    assert stages == ["Source", "dev", "staging", "prod"]


def test_more_services_spread_over_plan_approve_apply_stages(tmp_path) -> None:
    synthesis = synthesize(_example_with_services(tmp_path, 59))  # 60 services
    pipeline = json.loads(synthesis.files["shop-pipeline.json"])["Resources"]["Pipeline"]
    stages = {s["Name"]: s for s in pipeline["Properties"]["Stages"]}
    assert list(stages) == [
        "Source",
        "dev",
        "dev-2",
        "staging-plan",
        "staging-plan-2",
        "staging",
        "staging-apply",
        "staging-apply-2",
        "prod-plan",
        "prod-plan-2",
        "prod",
        "prod-apply",
        "prod-apply-2",
    ]
    # dev-2: the last 10 deployments and the release marker after them.
    assert [len(s["Actions"]) for s in stages.values()][1:6] == [50, 11, 50, 10, 2]
    for name in ("dev-2", "staging-apply-2", "prod-apply-2"):
        assert stages[name]["Actions"][-1]["Name"] == "Mark-deployed", name
    # The approval stage keeps the steps around the approval.
    assert [a["Name"] for a in stages["staging"]["Actions"]] == ["Approve", "migrate.migrate"]
    assert [a["Name"] for a in stages["prod"]["Actions"]] == [
        "plan.plan",
        "Approve",
        "migrate.migrate",
    ]
    # bake time and rollback sit on the stage that completes prod's deployment
    assert "OnSuccess" in stages["prod-apply-2"] and "OnFailure" in stages["prod-apply-2"]
    assert not any("OnSuccess" in stages[n] for n in ("prod-plan", "prod", "prod-apply"))
    deployed = [
        a["Configuration"]["StackName"]
        for name in ("prod-apply", "prod-apply-2")
        for a in stages[name]["Actions"]
        if a["Name"] != "Mark-deployed"
    ]
    assert sorted(deployed) == sorted(f"shop-prod-{s}" for s in synthesis.project.services)


def test_size_and_count_limits() -> None:
    body = {"Resources": {f"R{i}": {"Type": "AWS::SNS::Topic"} for i in range(501)}}
    problems = limits.limit_problems("big", body, 1_000_001)
    assert problems == [
        "big: template is 1,000,001 bytes; CloudFormation allows 1,000,000",
        "big: 501 resources; a stack allows 500",
    ]
    assert limits.needs_upload(51_201) and not limits.needs_upload(51_200)


def test_variables_are_counted_at_their_expanded_length() -> None:
    digest = "#{SourceVariables.ImageDigest}"
    action = {"Name": "Approve", "Configuration": {"CustomData": "x" * 429 + digest}}
    pipeline = {"Stages": [{"Name": "prod", "Actions": [action]}]}
    body = {"Resources": {"P": {"Type": "AWS::CodePipeline::Pipeline", "Properties": pipeline}}}
    assert limits.limit_problems("p", body, 10) == []  # 429 + 71 = 500
    action["Configuration"]["CustomData"] += "x"
    assert "expands to 501 characters" in limits.limit_problems("p", body, 10)[0]


def test_a_step_whose_request_resolves_past_1000_characters_is_refused(tmp_path) -> None:
    directory = tmp_path / "environments"
    shutil.copytree(EXAMPLE, directory)
    prod = directory / "prod.yaml"
    # Each --change-set value is short as written, but the plan's changeSetId it reads can be
    # 256 characters once CodePipeline resolves it.
    apply = " ".join(["--change-set", '"#{prod-plan-plan.changeSetId}"'] * 4)
    text = prod.read_text()
    pipeline = directory / "pipeline.yaml"
    runners = "runners:\n"
    pipeline.write_text(
        pipeline.read_text().replace(runners, runners + "  apply: cloudformation-applier\n", 1)
    )
    prod.write_text(
        text.replace(
            "  before_deploy:\n",
            f"  before_deploy:\n    - apply.apply --stack shop-prod-web {apply}\n",
        )
    )
    with pytest.raises(LimitError) as caught:
        synthesize(directory)
    (message,) = caught.value.messages
    assert message.startswith("shop-pipeline: stage prod, action apply.apply: the runner step's")
    assert "CodePipeline allows 1000 (shorten the step's arguments)" in message
