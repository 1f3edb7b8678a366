import json

from click.testing import CliRunner

from pipelines.cli import main
from pipelines.config.schema import json_schema
from tests.support import EXAMPLE


def test_committed_schemas_match_the_models() -> None:
    # The example's modelines point editors at these files; they must not go stale.
    for kind in ("pipeline", "environment"):
        committed = json.loads((EXAMPLE / ".schema" / f"{kind}.json").read_text())
        assert committed == json_schema(kind), f"regenerate with: pipelines schema {kind}"


def test_schema_forbids_unknown_keys_and_carries_patterns() -> None:
    schema = json_schema("environment")
    assert schema["additionalProperties"] is False
    assert schema["properties"]["account"]["pattern"] == r"^(?:\d{12})$"
    assert set(schema["required"]) == {"account", "region", "network"}
    network = schema["$defs"]["Network"]
    assert network["additionalProperties"] is False
    assert network["properties"]["public_ip"]["default"] is False


def test_schema_command_prints_json() -> None:
    result = CliRunner().invoke(main, ["schema", "pipeline"])
    assert result.exit_code == 0
    printed = json.loads(result.output)
    assert printed["title"] == "pipelines: environments/pipeline.yaml"
    assert "promotion" in printed["required"]
