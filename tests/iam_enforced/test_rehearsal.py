"""`pipelines rehearse` with moto's IAM authorization on for every role the templates define.

Where the rehearsal acts as a pipeline role (acting.py says where, and how that is made to be the
principal AWS would use): CodePipeline's calls as the pipeline role (sources, the approval topic,
invoking Lambda actions, assuming the deploy roles), each CloudFormation action as its deploy
role (and the bake rule's alarm read), the invoker's reads in an environment as its invoke role
(assumed by the invoker role), the built-in plan job as its task role, the release marker as its
role. Every one of those calls is decided from the role's policy in the templates, on the call's
resource, before moto serves it (enforcement.py); the rehearsal must still deliver the release
everywhere.

The same run with one permission withheld fails; that is shown for each role kind in
test_roles.py, where it is fast (a rehearsal takes seconds): docs/testing-iam.md.
"""

from __future__ import annotations

import json

import pytest

from pipelines import naming
from pipelines.aws.errors import OK
from pipelines.local import interpreter as interpreter_module
from pipelines.local.rehearse import RehearsalOptions, rehearse
from pipelines.render import Synthesis
from tests.iam_enforced.acting import interpreter_acting_as
from tests.iam_enforced.enforcement import Enforcement, TemplateRoles, template_roles
from tests.support import EXAMPLE

pytestmark = [
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
    pytest.mark.filterwarnings("ignore:No Moto CloudFormation support"),
]


def roles_and_promotion(synthesis: Synthesis) -> tuple[TemplateRoles, list[str]]:
    """Every role the templates name, and the promotion."""
    manifest = json.loads(synthesis.files["manifest.json"])
    return template_roles(manifest, synthesis.files), list(manifest["promotion"])


@pytest.mark.slow
def test_the_rehearsal_delivers_the_release_acting_as_the_templates_roles(
    syntheses: dict[str, Synthesis], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # no EC2 image is used
    roles, promotion = roles_and_promotion(syntheses["example"])
    app = json.loads(syntheses["example"].files["manifest.json"])["app"]
    names = roles.names
    with Enforcement(roles) as enforcement:
        acting = interpreter_acting_as(
            enforcement, names[naming.pipeline_role(app)], names.get(naming.invoker_role(app))
        )
        monkeypatch.setattr(interpreter_module, "Interpreter", acting)
        result = rehearse(RehearsalOptions(EXAMPLE, approve="all"))
    enforcement.assert_clean()
    assert result.exit_code == OK
    [digest] = result.digests
    assert {(item.parameter, item.running) for item in result.live} == {(digest, digest)}

    allowed = enforcement.allowed()
    pipeline = naming.pipeline_role(app)
    assert {
        (pipeline, "ecr:DescribeImages"),
        (pipeline, "s3:GetObject"),
        (pipeline, "sts:AssumeRole"),
        (pipeline, "sns:Publish"),
        (pipeline, "lambda:InvokeFunction"),
        (pipeline, "lambda:ListFunctions"),
    } <= allowed
    for env in promotion:
        deploy = naming.deploy_role(app, env)
        assert {
            (deploy, "cloudformation:DescribeStacks"),
            (deploy, "cloudformation:CreateChangeSet"),
            (deploy, "iam:PassRole"),
            (deploy, "cloudformation:ExecuteChangeSet"),
        } <= allowed, env
    # The runner steps: the invoker's reads in an environment, and the plan job as its task role.
    acted = {role for role, _ in allowed}
    assert any(role.endswith("-runner-invoke") for role in acted), acted
    plan = [r for r in acted if r.endswith("-plan-task")]
    assert plan and all((r, "cloudformation:CreateChangeSet") in allowed for r in plan), acted
