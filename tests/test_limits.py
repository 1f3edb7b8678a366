import shutil

import pytest
import yaml
from click.testing import CliRunner

from pipelines import limits
from pipelines.cli import main
from pipelines.errors import LimitError
from pipelines.synth import synthesize
from tests.support import EXAMPLE


def _example_with_services(tmp_path, count: int):
    directory = tmp_path / "environments"
    shutil.copytree(EXAMPLE, directory)
    pipeline = yaml.safe_load((directory / "pipeline.yaml").read_text())
    pipeline["services"] = {
        f"svc{i:02d}": {"cpu": 256, "memory": 512, "port": 8000 + i, "path": f"/s{i}/*"}
        for i in range(count)
    }
    pipeline["services"]["web"] = {"cpu": 256, "memory": 512, "port": 8080}
    (directory / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    return directory


def test_too_many_actions_in_a_stage_is_refused_before_writing(tmp_path) -> None:
    # 25 services + web: plan 26 + approve 1 + apply 26 = 53 actions in staging's stage.
    directory = _example_with_services(tmp_path, 25)
    with pytest.raises(LimitError) as caught:
        synthesize(directory)
    assert any("stage staging has 53 actions" in m for m in caught.value.messages)
    out = tmp_path / "templates"
    result = CliRunner().invoke(
        main, ["synth", "--environments", str(directory), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "CodePipeline allows 50" in result.output
    assert not out.exists()


def test_24_services_still_fit(tmp_path) -> None:
    synthesis = synthesize(_example_with_services(tmp_path, 23))
    assert len(synthesis.outputs) == 1 + 3 * (1 + 24) + 1


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
