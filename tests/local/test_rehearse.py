"""`pipelines rehearse`: a release run end to end on moto, over the example and fixtures.

Every assertion on what runs where is on `Result.live`, which the rehearsal reads back from
moto's CloudFormation (the stack's ImageUri) and ECS (the service's task definition image)
after the pipeline ran, never from what the interpreter remembers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.aws.errors import FAILED, OK
from pipelines.cli import main
from pipelines.local.interpreter import Hooks, Interpreter, RehearsalError
from pipelines.local.rehearse import RehearsalOptions, rehearse
from pipelines.local.resolve import Resolver, pipeline_declaration
from pipelines.synth import synthesize
from tests.support import EXAMPLE, FIXTURES, config_id

MOTO_WARNINGS = [
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
    pytest.mark.filterwarnings("ignore:No Moto CloudFormation support"),
]
pytestmark = MOTO_WARNINGS

# The example and two fixtures: three and four environments, one account and several, a load
# balancer and none, one service and two, a stage OnSuccess alarm condition (the example's prod).
CONFIGURATIONS = [
    EXAMPLE,
    FIXTURES / "valid" / "multi-account",
    FIXTURES / "valid" / "no-load-balancer",
]


MARKER = "shop-release-marker"  # the example's release marker function


def _promotion(environments: Path) -> list[str]:
    import yaml

    return yaml.safe_load((environments / "pipeline.yaml").read_text())["promotion"]


def _digests_by_env(result) -> dict[str, set[tuple[str | None, str | None]]]:
    found: dict[str, set[tuple[str | None, str | None]]] = {}
    for item in result.live:
        found.setdefault(item.environment, set()).add((item.parameter, item.running))
    return found


def _assert_one_push_reached_every_service(result, environments: Path) -> None:
    [digest] = result.digests
    assert result.exit_code == OK
    assert result.meant == _promotion(environments)
    assert {item.environment for item in result.live} == set(_promotion(environments))
    for item in result.live:  # the stack parameter and the ECS task definition, each service
        assert (item.parameter, item.running) == (digest, digest), item
    assert digest != result.bootstrap
    # The release marker's own handler tagged the digest every environment runs (read back from
    # ECR); a first release has nothing to call previous.
    assert result.tags == {f"deployed-{env}": digest for env in _promotion(environments)}


# The example's run is the CLI's (test_cli_rehearse_approve_all_prints_the_table_and_exits_0),
# which asserts the same on the rehearsal's result: one rehearsal of it, not two.
@pytest.mark.slow
@pytest.mark.parametrize("environments", CONFIGURATIONS[1:], ids=config_id)
def test_one_push_with_every_approval_reaches_every_service(environments: Path) -> None:
    _assert_one_push_reached_every_service(
        rehearse(RehearsalOptions(environments, approve="all")), environments
    )


@pytest.mark.slow
def test_lifecycle_hooks_run_at_their_stages_in_each_deployment() -> None:
    """The hooks fixture: web's smoke test after test traffic shifts (staging and prod) and
    after production traffic shifts (prod), admitted and stood in for in each deployment."""
    hooks = FIXTURES / "valid" / "hooks"
    result = rehearse(RehearsalOptions(hooks, approve="all"))
    _assert_one_push_reached_every_service(result, hooks)
    ran = sorted((e.stage, e.detail) for e in result.events if e.what == "hook stood in")
    assert ran == [
        ("prod", "web POST_PRODUCTION_TRAFFIC_SHIFT: smoke.run"),
        ("prod", "web POST_TEST_TRAFFIC_SHIFT: smoke.run"),
        ("staging", "web POST_TEST_TRAFFIC_SHIFT: smoke.run"),
    ]


@pytest.mark.slow
def test_approve_none_changes_only_the_first_environment() -> None:
    result = rehearse(RehearsalOptions(EXAMPLE, approve="none"))
    [digest] = result.digests
    first, *later = _promotion(EXAMPLE)
    assert result.exit_code == OK  # only the first environment was meant to change
    assert result.meant == [first]
    by_env = _digests_by_env(result)
    assert by_env[first] == {(digest, digest)}
    for env in later:
        assert by_env[env] == {(result.bootstrap, result.bootstrap)}, env
    assert result.tags == {f"deployed-{first}": digest}  # no release reached the others
    rejected = [e for e in result.events if e.what == "rejected"]
    assert [(e.execution, e.stage) for e in rejected] == [(1, later[0])]


@pytest.mark.slow
def test_two_pushes_queue_in_order_and_the_second_ends_everywhere() -> None:
    result = rehearse(RehearsalOptions(EXAMPLE, approve="all", push=2))
    first, second = result.digests
    assert first != second
    assert result.exit_code == OK
    for item in result.live:
        assert (item.parameter, item.running) == (second, second), item
    # Each environment's tag moved to the second digest; the first is its rollback target.
    assert result.tags == {
        tag: digest
        for env in _promotion(EXAMPLE)
        for tag, digest in ((f"deployed-{env}", second), (f"deployed-{env}-previous", first))
    }

    stages = ["Source", *_promotion(EXAMPLE)]
    entered = [(e.execution, e.stage) for e in result.events if e.what == "entered"]
    done = [(e.execution, e.stage) for e in result.events if e.what == "succeeded"]
    assert sorted(entered) == sorted(done) == sorted((n, s) for n in (1, 2) for s in stages)
    for stage in stages:
        # QUEUED: the second execution enters a stage only after the first has left it, so it
        # can never overtake the first.
        assert result.events.index(_event(result, 1, stage, "succeeded")) < result.events.index(
            _event(result, 2, stage, "entered")
        )
    # Each execution ran the stages in order.
    for number in (1, 2):
        assert [s for n, s in entered if n == number] == stages


def _event(result, execution: int, stage: str, what: str):
    [found] = [
        e for e in result.events if (e.execution, e.stage, e.what) == (execution, stage, what)
    ]
    return found


@pytest.mark.slow
def test_fail_at_staging_leaves_prod_on_the_old_digest_and_fails() -> None:
    result = rehearse(RehearsalOptions(EXAMPLE, approve="all", fail_at="staging"))
    [digest] = result.digests
    assert result.exit_code == FAILED
    by_env = _digests_by_env(result)
    assert by_env["dev"] == {(digest, digest)}  # earlier environment keeps the new digest
    assert by_env["staging"] == {(result.bootstrap, result.bootstrap)}
    assert by_env["prod"] == {(result.bootstrap, result.bootstrap)}  # untouched
    assert result.tags == {"deployed-dev": digest}  # staging's marker never ran
    injected = [e for e in result.events if e.what == "injected failure"]
    assert [(e.stage, e.detail) for e in injected] == [("staging", "shop-staging-web")]
    assert not [e for e in result.events if e.stage == "prod"]


@pytest.mark.slow
def test_cli_rehearse_approve_all_prints_the_table_and_exits_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The example's one push with every approval: what the CLI prints, and the rehearsal's
    result, recorded on its way to the CLI, as for every configuration above."""
    from pipelines.local import rehearse as module

    results = []
    original = module.rehearse

    def recorded(*args, **kwargs):
        results.append(original(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(module, "rehearse", recorded)
    result = CliRunner().invoke(
        main, ["rehearse", "--approve", "all", "--environments", str(EXAMPLE)]
    )
    assert result.exit_code == 0, result.output
    [rehearsal] = results
    _assert_one_push_reached_every_service(rehearsal, EXAMPLE)
    assert "live now (read back from CloudFormation and ECS)" in result.output
    table = result.output.split("live now", 1)[1].splitlines()
    assert "environment  service  stack ImageUri" in table[1]
    for env in _promotion(EXAMPLE):
        [row] = [line for line in table if line.split()[:1] == [env]]
        assert row.count("(new)") == 2 and row.rstrip().endswith("ok"), row
    assert "10-minute wait is not waited" in result.output
    assert "every environment meant to receive" in result.output


def test_cli_approve_ask_without_a_terminal_is_refused_before_anything_runs() -> None:
    result = CliRunner().invoke(main, ["rehearse", "--environments", str(EXAMPLE)], input="y\n")
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [
        "error: --approve ask asks on the terminal before each approval, and standard input "
        "is not one: pass --approve all or --approve none"
    ]


def test_cli_rejects_an_unknown_fail_at_environment() -> None:
    result = CliRunner().invoke(
        main, ["rehearse", "--approve", "all", "--fail-at", "qa", "--environments", str(EXAMPLE)]
    )
    assert result.exit_code == 2
    assert "--fail-at qa: no such environment (promotion: dev, staging, prod)" in result.output


# The interpreter refuses what it cannot interpret, before anything runs ---------------------


def _declaration(environments: Path = EXAMPLE) -> dict:
    """The example's synthesized pipeline declaration, resolved without AWS."""
    files = synthesize(environments).files
    [(_, body)] = [(n, b) for n, b in files.items() if str(n).endswith("-pipeline.json")]
    template = json.loads(body)
    [resource] = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"
    ]
    resolver = Resolver(template, "111111111111", "eu-west-1", stack_name="shop-pipeline")
    return pipeline_declaration(resolver.resolve(resource["Properties"]))


def _runners(environments: Path = EXAMPLE):
    from pipelines.invoker.document import load_document

    return load_document(synthesize(environments).files["runners.json"].decode())


def _interpreter(declaration: dict, runners=None) -> Interpreter:
    hooks = Hooks(lambda *a: True, lambda s: None, lambda t: None)
    return Interpreter(
        None,
        declaration,
        "111111111111",
        "eu-west-1",
        hooks,
        runners=runners or _runners(),
        marker_function=MARKER,
    )


def test_the_example_declaration_is_interpretable() -> None:
    _interpreter(_declaration())


def test_a_release_marker_without_its_request_is_a_clear_error() -> None:
    changed = copy.deepcopy(_declaration())
    [dev] = [s for s in changed["stages"] if s["name"] == "dev"]
    [marker] = [a for a in dev["actions"] if a["name"] == "Mark-deployed"]
    assert marker["configuration"]["FunctionName"] == MARKER
    del marker["configuration"]["UserParameters"]
    with pytest.raises(RehearsalError, match="action Mark-deployed: no UserParameters"):
        _interpreter(changed)


def test_the_marker_reports_its_job_result_in_codepipelines_api_shapes() -> None:
    from botocore.exceptions import ParamValidationError

    from pipelines.local.interpreter import JobResults

    results = JobResults("job-1")
    with pytest.raises(ParamValidationError):
        results.put_job_success_result(jobId="job-1", executionDetails={"summary": 5})
    with pytest.raises(RehearsalError, match="for job job-2, not job-1"):
        results.put_job_success_result(jobId="job-2")
    results.put_job_failure_result(
        jobId="job-1", failureDetails={"type": "JobFailed", "message": "no such image"}
    )
    assert (results.failure, results.summary) == ("no such image", None)
    with pytest.raises(RehearsalError, match="has a result already"):
        results.put_job_success_result(jobId="job-1")


def test_an_unknown_action_type_is_a_clear_error() -> None:
    declaration = _declaration()
    changed = copy.deepcopy(declaration)
    action = changed["stages"][1]["actions"][0]
    action["actionTypeId"] = {
        "category": "Invoke",
        "owner": "AWS",
        "provider": "StepFunctions",
        "version": "1",
    }
    with pytest.raises(RehearsalError) as raised:
        _interpreter(changed)
    assert str(raised.value).startswith(
        "stage dev, action Deploy-web: action type Invoke/AWS/StepFunctions/1 "
        "(category/owner/provider/version) cannot be interpreted by the rehearsal"
    )


def test_an_unknown_action_mode_configuration_or_rule_is_a_clear_error() -> None:
    declaration = _declaration()
    mode = copy.deepcopy(declaration)
    mode["stages"][1]["actions"][0]["configuration"]["ActionMode"] = "DELETE_ONLY"
    with pytest.raises(RehearsalError, match="CloudFormation action mode DELETE_ONLY cannot"):
        _interpreter(mode)
    key = copy.deepcopy(declaration)
    key["stages"][1]["actions"][0]["configuration"]["OutputFileName"] = "out.json"
    with pytest.raises(RehearsalError, match="configuration OutputFileName of Deploy/AWS/Cloud"):
        _interpreter(key)
    rule = copy.deepcopy(declaration)
    [prod] = [s for s in rule["stages"] if s["name"] == "prod"]
    prod["onSuccess"]["conditions"][0]["rules"][0]["ruleTypeId"]["provider"] = "LambdaInvoke"
    with pytest.raises(RehearsalError, match="Rule/AWS/LambdaInvoke/1 cannot be interpreted"):
        _interpreter(rule)


def _alarm_at_second_prod(asked: list[str]) -> Callable[[str], bool]:
    """--approve ask's answers: yes to every approval, and the answer to the second execution's
    prod approval also puts prod's alarm into ALARM, as a bad release would. Each question is
    kept in `asked`."""
    from pipelines.local.embedded import Accounts

    def ask(question: str) -> bool:
        asked.append(question)
        if " into prod (execution #2)" in question:
            cloudwatch = Accounts().client("cloudwatch", "333333333333", "eu-west-1")
            cloudwatch.set_alarm_state(
                AlarmName="shop-prod-5xx", StateValue="ALARM", StateReason="test: 5xx"
            )
        return True

    return ask


@pytest.mark.slow
def test_an_alarm_during_the_bake_rolls_the_stage_back_to_the_last_good_execution() -> None:
    """--approve ask: the answer to the second execution's prod approval also puts prod's alarm
    into ALARM, as a bad release would. prod's canary (the example's rollout) sees it during its
    first bake: ECS rolls the deployment back, the Apply action fails, and the stage's rollback
    runs prod again with the first execution's digest; the release is not where it was meant
    to be."""
    asked: list[str] = []
    result = rehearse(
        RehearsalOptions(EXAMPLE, approve="ask", push=2, ask=_alarm_at_second_prod(asked))
    )
    first, second = result.digests
    assert len(asked) == 4  # staging and prod, for each execution
    assert result.exit_code == FAILED
    by_env = _digests_by_env(result)
    assert by_env["dev"] == by_env["staging"] == {(second, second)}
    assert by_env["prod"] == {(first, first)}
    # not the steps' events, nor the release markers'
    stages = [e for e in result.events if not e.what.startswith("runner ") and e.what != "marked"]
    prod = [(e.execution, e.what) for e in stages if e.stage == "prod"]
    assert (2, "rollout alarm") in prod and (2, "rollout rolled back") in prod
    assert [(e.execution, e.stage, e.what, e.detail) for e in stages][-2:] == [
        (2, "prod", "failed", ""),
        (2, "prod", "rollback succeeded", first),
    ]
    # The canary stopped the second digest before prod's release marker, so the tags never
    # said prod ran it; the rollback's marker tags the first digest again.
    assert result.tags["deployed-prod"] == first
    assert "deployed-prod-previous" not in result.tags
    assert result.tags["deployed-staging"] == result.tags["deployed-dev"] == second


@pytest.mark.slow
def test_an_alarm_after_a_rolling_deploy_rolls_the_stage_back_by_its_bake_condition(
    tmp_path: Path,
) -> None:
    """The example with a rolling update in prod: no ECS alarm rollback, so the release reaches
    prod's marker, and the stage's OnSuccess CloudWatchAlarm condition (bake_minutes) reads the
    alarm and rolls prod back to the first execution's digest."""
    import shutil

    environments = tmp_path / "environments"
    shutil.copytree(EXAMPLE, environments)
    prod = environments / "prod.yaml"
    text = prod.read_text(encoding="utf-8")
    canary = text[text.index("    rollout:") : text.index("    secrets:")]
    assert "strategy: canary" in canary
    prod.write_text(text.replace(canary, ""), encoding="utf-8")

    result = rehearse(
        RehearsalOptions(environments, approve="ask", push=2, ask=_alarm_at_second_prod([]))
    )
    first, second = result.digests
    assert result.exit_code == FAILED
    assert _digests_by_env(result)["prod"] == {(first, first)}
    stages = [e for e in result.events if not e.what.startswith("runner ") and e.what != "marked"]
    assert not any(e.what.startswith("rollout") for e in stages)
    assert [(e.execution, e.stage, e.what, e.detail) for e in stages][-2:] == [
        (2, "prod", "failed", ""),
        (2, "prod", "rollback succeeded", first),
    ]
    # The second digest reached prod's marker before the bake failed; the rollback's marker
    # tags the first again and keeps the second as the previous.
    assert result.tags["deployed-prod"] == first
    assert result.tags["deployed-prod-previous"] == second


def test_endpoint_url_of_a_plain_moto_server_is_one_clear_error() -> None:
    """A moto server has no CodePipeline to run the pipeline: refused, naming what to run
    instead, before anything is pushed (no AssertionError from the stand-ins)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        result = CliRunner().invoke(
            main,
            [
                "rehearse",
                "--approve",
                "all",
                "--environments",
                str(FIXTURES / "valid" / "single-account"),
                "--endpoint-url",
                f"http://{host}:{port}",
            ],
        )
    finally:
        server.stop()
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.output.strip().splitlines()[-1:]
    assert line.startswith(f"error: --endpoint-url http://{host}:{port} runs no pipeline ")
    assert "not a `pipelines sandbox` of these environments" in line
    assert "pushing" not in result.output


@pytest.mark.slow
def test_endpoint_url_rehearses_on_a_running_sandbox(tmp_path: Path) -> None:
    """`pipelines sandbox` in this process, on a free port: the rehearsal pushes there, decides
    the approvals through its API and reads back what its stacks run."""
    from pipelines.local.sandbox import SandboxOptions, open_sandbox

    environments = FIXTURES / "valid" / "single-account"
    options = SandboxOptions(environments, tmp_path / "templates")
    with open_sandbox(options) as sandbox:
        result = rehearse(
            RehearsalOptions(environments, approve="all", endpoint_url=sandbox.endpoint)
        )
    [digest] = result.digests
    assert result.exit_code == OK
    assert result.bootstrap == sandbox.bootstrap
    assert {(i.parameter, i.running) for i in result.live} == {(digest, digest)}


@pytest.mark.slow
def test_cli_approve_ask_asks_on_the_terminal_for_each_approval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Approve staging, reject prod: staging gets the digest, prod keeps the bootstrap, and as
    the person decided that, prod was not meant to change (exit 0)."""
    monkeypatch.setattr("pipelines.cli.stdin_is_terminal", lambda: True)
    result = CliRunner().invoke(
        main,
        ["rehearse", "--environments", str(EXAMPLE)],  # --approve ask is the default
        input="y\nn\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("approve sha256:") == 2
    table = result.output.split("live now", 1)[1].splitlines()
    [staging] = [line for line in table if line.split()[:1] == ["staging"]]
    [prod] = [line for line in table if line.split()[:1] == ["prod"]]
    assert staging.count("(new)") == 2
    assert prod.count("(bootstrap)") == 2 and "not meant" in prod


@pytest.mark.slow
def test_cli_unknown_action_type_in_the_deployed_pipeline_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The declaration read from the deployed stack, with one action changed to a type the
    rehearsal does not interpret: exit 1 and an error naming it, before any image is pushed."""
    from pipelines.local import sandbox as module

    original = module.pipeline_declaration_of

    def with_step_functions(clients, manifest):
        declaration = original(clients, manifest)
        action = declaration["stages"][2]["actions"][0]
        action["actionTypeId"]["category"], action["actionTypeId"]["provider"] = (
            "Invoke",
            "StepFunctions",
        )
        return declaration

    monkeypatch.setattr(module, "pipeline_declaration_of", with_step_functions)
    result = CliRunner().invoke(
        main, ["rehearse", "--approve", "all", "--environments", str(EXAMPLE)]
    )
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert (
        "error: stage staging, action Plan-web: action type Invoke/AWS/StepFunctions/1 "
        "(category/owner/provider/version) cannot be interpreted by the rehearsal" in result.output
    )
    assert "pushing" not in result.output


@pytest.mark.slow
def test_progressive_delivery_reaches_prod() -> None:
    # Linear in dev, blue/green in staging, canary in prod, a deployment window on prod and an
    # approval timeout on staging (issue 15): each shifting service deploys in its strategy's
    # phases, in order, after its stack changed; prod's entry is evaluated against its window.
    environments = FIXTURES / "valid" / "progressive"
    result = rehearse(RehearsalOptions(environments, approve="all"))
    _assert_one_push_reached_every_service(result, environments)
    phases = [(e.stage, e.detail) for e in result.events if e.what == "rollout phase"]
    bake = "all traffic, old revision kept: 100% of production traffic, bake 5 min"
    assert phases == [
        ("dev", "shop-dev-web: linear step 1: 25% of production traffic, bake 1 min"),
        ("dev", "shop-dev-web: linear step 2: 50% of production traffic, bake 1 min"),
        ("dev", "shop-dev-web: linear step 3: 75% of production traffic, bake 1 min"),
        ("dev", f"shop-dev-web: {bake}"),
        ("staging", f"shop-staging-web: {bake}"),
        ("prod", "shop-prod-web: canary: 10% of production traffic, bake 15 min"),
        ("prod", f"shop-prod-web: {bake}"),
    ]
    assert [e.what for e in result.events if e.what.startswith("rollout ")].count(
        "rollout succeeded"
    ) == 3
    [window] = [e for e in result.events if e.what == "deployment window"]
    assert window.stage == "prod" and "DeployWindow-prod" in window.detail
