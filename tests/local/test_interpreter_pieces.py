"""The interpreter's pieces on their own, without AWS: variables and artifacts (artifacts.py),
the manual approval (actions/approval.py), and the scheduling of stages, run orders and QUEUED
executions (interpreter.py) over a pipeline of approvals only."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from pipelines.local.artifacts import (
    input_file,
    parameter_overrides,
    put_outputs,
    resolve_variables,
)
from pipelines.local.declaration import Action, TypeId
from pipelines.local.execution import ActionFailed, Execution, Hooks, RehearsalError
from pipelines.local.interpreter import Interpreter

EXECUTION_ID = "#{codepipeline.PipelineExecutionId}"
APPROVAL = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}


def _zip(**files: str) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
    return data.getvalue()


def _action(**fields: Any) -> Action:
    values: dict[str, Any] = {
        "name": "A",
        "type": TypeId("Deploy", "AWS", "CloudFormation", "1"),
        "run_order": 1,
        "configuration": {},
        "input_artifacts": (),
        "output_artifacts": (),
        "role_arn": None,
        "region": None,
        "namespace": None,
    }
    return Action(**(values | fields))


def test_variables_resolve_from_earlier_actions_and_name_what_is_missing() -> None:
    execution = Execution(1, "exec-1", "sha256:" + "a" * 64)
    put_outputs(execution, _action(namespace="Source"), {"ImageDigest": "sha256:abc"})
    text = "#{Source.ImageDigest} in #{codepipeline.PipelineExecutionId}"
    assert resolve_variables(execution, text, "here") == "sha256:abc in exec-1"
    with pytest.raises(RehearsalError, match=r"here: variable #\{Source.Nope\} is not set by any"):
        resolve_variables(execution, "#{Source.Nope}", "here")
    execution.stood_in["plan"] = "plan.plan"
    with pytest.raises(RehearsalError, match=r"is an output of plan\.plan, which the rehearsal"):
        resolve_variables(execution, "#{plan.summary}", "here")


def test_an_action_reads_files_of_its_input_artifacts_only() -> None:
    execution = Execution(1, "exec-1", "sha256:" + "a" * 64)
    source = _action(output_artifacts=("Templates",))
    put_outputs(execution, source, {}, _zip(**{"t.json": "{}", "p.json": '{"Image": "x@1"}'}))
    reader = _action(input_artifacts=("Templates",))
    assert input_file(execution, reader, "Templates::t.json", "here") == b"{}"
    with pytest.raises(RehearsalError, match=r"Other::t\.json names artifact Other, which is not"):
        input_file(execution, reader, "Other::t.json", "here")
    with pytest.raises(ActionFailed, match=r"Templates::missing\.json"):
        input_file(execution, reader, "Templates::missing.json", "here")
    overrides = json.dumps({"A": "a", "Image": {"Fn::GetParam": ["Templates", "p.json", "Image"]}})
    assert parameter_overrides(execution, overrides) == {"A": "a", "Image": "x@1"}
    with pytest.raises(RehearsalError, match="parameter override A: 5 cannot be interpreted"):
        parameter_overrides(execution, '{"A": 5}')


def _approvals(*stages: list[tuple[str, int]]) -> dict[str, Any]:
    """A QUEUED pipeline of manual approvals with no topic: (name, run order) per action."""
    return {
        "name": "approvals",
        "executionMode": "QUEUED",
        "stages": [
            {
                "name": f"S{index}",
                "actions": [
                    {
                        "name": name,
                        "actionTypeId": APPROVAL,
                        "runOrder": order,
                        "configuration": {"CustomData": name + " of " + EXECUTION_ID},
                    }
                    for name, order in actions
                ],
            }
            for index, actions in enumerate(stages)
        ],
    }


def _interpreter(
    declaration: dict[str, Any], refuse: set[tuple[int, str]], asked: list[str]
) -> Interpreter:
    def approve(execution: Execution, stage: str, action: str, message: str) -> bool:
        asked.append(f"#{execution.number} {stage}/{action}: {message}")
        return (execution.number, action) not in refuse

    hooks = Hooks(approve, lambda stack: None, lambda line: None)
    return Interpreter(_NoAWS(), declaration, "111111111111", "eu-west-1", hooks)


class _NoAWS:
    """Approvals without a topic call no AWS."""

    def client(self, service: str, account: str, region: str) -> Any:
        raise AssertionError(f"no {service} client expected")


def test_queued_executions_take_stages_in_order_and_a_rejection_stops_one() -> None:
    """Executions run at once, in threads of their own; QUEUED keeps a later one out of a stage
    until the earlier one has left it, so in each stage they come in push order."""
    asked: list[str] = []
    interpreter = _interpreter(_approvals([("A", 1)], [("B", 1)]), {(1, "B")}, asked)
    executions = [Execution(n, f"exec-{n}", f"sha256:{n}") for n in (1, 2)]
    interpreter.run(executions)
    assert sorted(asked) == [
        "#1 S0/A: A of exec-1",
        "#1 S1/B: B of exec-1",
        "#2 S0/A: A of exec-2",
        "#2 S1/B: B of exec-2",
    ]
    for stage in ("S0", "S1"):
        assert [line[:2] for line in asked if f" {stage}/" in line] == ["#1", "#2"]
    assert [(e.status, e.stopped_at) for e in executions] == [
        ("Rejected", "S1"),
        ("Succeeded", None),
    ]
    events = [(e.execution, e.stage, e.what) for e in interpreter.events]
    assert [(s, w) for n, s, w in events if n == 1] == [
        ("S0", "entered"),
        ("S0", "approval approved"),
        ("S0", "succeeded"),
        ("S1", "entered"),
        ("S1", "approval rejected"),
        ("S1", "rejected"),
    ]
    assert [(s, w) for n, s, w in events if n == 2] == [
        ("S0", "entered"),
        ("S0", "approval approved"),
        ("S0", "succeeded"),
        ("S1", "entered"),
        ("S1", "approval approved"),
        ("S1", "succeeded"),
    ]
    assert events.index((1, "S0", "succeeded")) < events.index((2, "S0", "entered"))
    assert events.index((1, "S1", "rejected")) < events.index((2, "S1", "entered"))


def test_actions_of_one_run_order_all_run_and_a_later_run_order_does_not() -> None:
    asked: list[str] = []
    interpreter = _interpreter(_approvals([("B", 2), ("A1", 1), ("A2", 1)]), {(1, "A1")}, asked)
    [execution] = [Execution(1, "exec-1", "sha256:1")]
    interpreter.run([execution])
    # A1 and A2 run at once (their order varies); B, of the next run order, never runs.
    assert sorted(line.split(":")[0] for line in asked) == ["#1 S0/A1", "#1 S0/A2"]
    assert execution.status == "Rejected"
