"""The interpreter's declaration, parsed once into typed data (declaration.py), and what the
rehearsal interprets of it (checks.py): fast, no AWS."""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest

from pipelines.local.checks import (
    CLOUDFORMATION,
    CLOUDWATCH_ALARM_RULE,
    ECR_SOURCE,
    Kind,
    check_pipeline,
    kind_of,
)
from pipelines.local.declaration import TypeId, parse_pipeline
from pipelines.local.execution import RehearsalError
from tests.local import test_rehearse
from tests.local.test_rehearse import MARKER

_example = functools.cache(test_rehearse._declaration)
_runners = functools.cache(test_rehearse._runners)


def _declaration() -> dict[str, Any]:
    """The example's declaration, synthesized once; a copy each time."""
    declaration: dict[str, Any] = copy.deepcopy(_example())
    return declaration


def test_the_example_declaration_parses_into_typed_stages_and_actions() -> None:
    pipeline = parse_pipeline(_declaration())
    assert pipeline.name == "shop-release" and pipeline.execution_mode == "QUEUED"
    assert [s.name for s in pipeline.stages] == ["Source", "dev", "staging", "prod"]
    source, dev, _staging, prod = pipeline.stages
    image, templates = source.actions
    assert image.type == ECR_SOURCE and str(image.type) == "Source/AWS/ECR/1"
    assert image.namespace == "SourceVariables" and image.output_artifacts == ("Image",)
    assert templates.namespace is None and templates.role_arn is None
    deploy = dev.actions[0]
    assert deploy.type == CLOUDFORMATION and deploy.input_artifacts == ("Templates",)
    assert deploy.configuration["ActionMode"] == "CREATE_UPDATE"
    assert deploy.role_arn == "arn:aws:iam::222222222222:role/shop-dev-deploy"
    assert [[a.name for a in group] for group in dev.run_orders()] == [
        ["Deploy-web"],
        ["Mark-deployed"],
    ]
    assert prod.on_success is not None and prod.on_failure is not None
    assert prod.on_failure.result == "ROLLBACK" and prod.on_failure.conditions == ()
    [condition] = prod.on_success.conditions
    [rule] = condition.rules
    assert condition.result == "ROLLBACK"
    assert rule.type == CLOUDWATCH_ALARM_RULE
    assert rule.configuration == {
        "AlarmName": "shop-prod-5xx",
        "AlarmStates": "ALARM",
        "WaitTime": "10",
    }
    check_pipeline(pipeline, _runners(), MARKER)


def _stage(declaration: dict[str, Any], name: str) -> dict[str, Any]:
    stages: list[dict[str, Any]] = declaration["stages"]
    [found] = [s for s in stages if s["name"] == name]
    return found


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: _stage(d, "dev")["actions"][0].pop("actionTypeId"),
            "pipeline shop-release, stage dev, action Deploy-web: actionTypeId is missing",
        ),
        (
            lambda d: _stage(d, "dev")["actions"][0]["configuration"].update(StackName=5),
            "pipeline shop-release, stage dev, action Deploy-web, configuration: StackName is "
            "5, not a string",
        ),
        (
            lambda d: _stage(d, "dev")["actions"][0].update(runOrder="first"),
            "stage dev, action Deploy-web: runOrder is 'first', not an integer",
        ),
        (
            lambda d: _stage(d, "dev").update(actions={}),
            "pipeline shop-release, stage dev: actions is {}, not a list",
        ),
        (
            lambda d: d["stages"].append({"actions": []}),
            r"pipeline shop-release, stages\[4\]: name is missing",
        ),
        (
            lambda d: _stage(d, "prod")["onSuccess"]["conditions"][0]["rules"][0].pop("ruleTypeId"),
            "stage prod, onSuccess, conditions\\[0\\], rule Bake-shop-prod-5xx: ruleTypeId is "
            "missing",
        ),
        (lambda d: d.pop("stages"), "pipeline shop-release: stages is missing"),
    ],
)
def test_a_declaration_of_the_wrong_shape_is_an_error_naming_where(
    change: Any, message: str
) -> None:
    declaration = _declaration()
    change(declaration)
    with pytest.raises(RehearsalError, match=message):
        parse_pipeline(declaration)


def test_a_rule_type_without_a_version_is_version_1_and_run_orders_default_to_1() -> None:
    declaration = _declaration()
    prod = _stage(declaration, "prod")
    del prod["onSuccess"]["conditions"][0]["rules"][0]["ruleTypeId"]["version"]
    dev = _stage(declaration, "dev")
    for action in dev["actions"]:
        del action["runOrder"]
    pipeline = parse_pipeline(declaration)
    [rule] = pipeline.stages[3].on_success.conditions[0].rules  # type: ignore[union-attr]
    assert rule.type == TypeId("Rule", "AWS", "CloudWatchAlarm", "1")
    # One run order: the actions run one after the other, in declaration order.
    assert [[a.name for a in g] for g in pipeline.stages[1].run_orders()] == [
        ["Deploy-web", "Mark-deployed"]
    ]


def test_an_execution_mode_other_than_queued_is_refused() -> None:
    declaration = _declaration()
    declaration["executionMode"] = "PARALLEL"
    with pytest.raises(
        RehearsalError, match="pipeline shop-release: execution mode PARALLEL is not interpreted"
    ):
        check_pipeline(parse_pipeline(declaration), _runners(), MARKER)
    del declaration["executionMode"]
    with pytest.raises(RehearsalError, match="execution mode SUPERSEDED is not interpreted"):
        check_pipeline(parse_pipeline(declaration), _runners(), MARKER)


def test_each_action_falls_in_one_category() -> None:
    pipeline = parse_pipeline(_declaration())
    kinds = {
        (stage.name, action.name): kind_of(action, MARKER)
        for stage in pipeline.stages
        for action in stage.actions
    }
    assert kinds[("Source", "Image")] == Kind.ECR_SOURCE
    assert kinds[("Source", "Templates")] == Kind.S3_SOURCE
    assert kinds[("dev", "Deploy-web")] == Kind.CLOUDFORMATION
    assert kinds[("dev", "Mark-deployed")] == Kind.RELEASE_MARKER
    assert kinds[("prod", "Approve")] == Kind.APPROVAL
    assert kinds[("prod", "plan.plan")] == Kind.RUNNER
    # Without a marker function, the marker's Lambda action would be a runner step.
    marker = pipeline.stages[1].actions[1]
    assert kind_of(marker, None) == Kind.RUNNER


def test_an_unknown_onfailure_or_condition_result_is_a_clear_error() -> None:
    declaration = _declaration()
    _stage(declaration, "prod")["onFailure"]["result"] = "RETRY"
    with pytest.raises(RehearsalError, match="stage prod, onFailure: result RETRY cannot be"):
        check_pipeline(parse_pipeline(declaration), _runners(), MARKER)
    declaration = _declaration()
    del _stage(declaration, "prod")["onSuccess"]["conditions"][0]["result"]
    with pytest.raises(RehearsalError, match="onSuccess: condition result None cannot be"):
        check_pipeline(parse_pipeline(declaration), _runners(), MARKER)
