"""The invoker's answer to an ECS lifecycle hook (moto for the environment's account, as in
test_targets.py): only the steps runners.json declares for the hook, started in the
environment's account, polled through the state ECS hands back, and one task per step whatever
number of calls."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from pipelines.invoker import hooks
from pipelines.invoker.handler import Runtime, handle_hook
from tests.invoker.test_targets import (  # noqa: F401 (aws and rt are fixtures)
    PROD,
    TARGET_REGION,
    _cluster,
    _ecs,
    _set_task,
    _tasks,
    aws,
    rt,
)

SERVICE_ARN = f"arn:aws:ecs:{TARGET_REGION}:{PROD}:service/shop-prod-web/shop-prod-web"
REVISION = f"arn:aws:ecs:{TARGET_REGION}:{PROD}:service-revision/shop-prod-web/shop-prod-web/1"
STAGE = "POST_TEST_TRAFFIC_SHIFT"
STEPS = ("echo.say --text first", "echo.say --text second")


@pytest.fixture
def hooked(rt: Runtime) -> Runtime:  # noqa: F811
    """rt with web's post-test-traffic hook declared in prod: two steps."""
    prod = dataclasses.replace(rt.document.targets["prod"], hooks={"web": {STAGE: STEPS}})
    targets = {**rt.document.targets, "prod": prod}
    return dataclasses.replace(rt, document=dataclasses.replace(rt.document, targets=targets))


def _event(details: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "serviceArn": SERVICE_ARN,
        "targetServiceRevisionArn": REVISION,
        "testTrafficWeights": {},
        "productionTrafficWeights": {},
        "hookDetails": details
        if details is not None
        else {"environment": "prod", "service": "web", "stage": STAGE},
        **changes,
    }


def _task_of(answer: dict[str, Any]) -> str:
    task: str = answer["hookDetails"][hooks.STATE_KEY]["task"]["task"]
    return task


def test_the_first_call_starts_the_first_declared_step(hooked: Runtime) -> None:
    answer = handle_hook(_event(), hooked)
    assert answer["hookStatus"] == "IN_PROGRESS"
    assert answer["callBackDelay"] == hooks.CALLBACK_SECONDS
    details = answer["hookDetails"]
    assert {k: details[k] for k in ("environment", "service", "stage")} == {
        "environment": "prod",
        "service": "web",
        "stage": STAGE,
    }
    assert details[hooks.STATE_KEY]["step"] == 0
    assert _tasks(hooked) == [_task_of(answer)]
    (request,) = hooked.connect.run_task
    (container,) = request["overrides"]["containerOverrides"]
    assert container["command"][-2:] == ["--text", "first"]
    job = hooks.hook_job_id(REVISION, STAGE, 0)
    assert (request["clientToken"], request["startedBy"]) == (job, f"pipelines-runner/{job}")


def test_a_repeated_first_call_resumes_the_steps_task(hooked: Runtime) -> None:
    first = handle_hook(_event(), hooked)
    again = handle_hook(_event(), hooked)
    assert _task_of(again) == _task_of(first)
    assert _tasks(hooked) == [_task_of(first)]


def test_running_then_next_step_then_succeeded(hooked: Runtime) -> None:
    first = handle_hook(_event(), hooked)
    assert handle_hook(_event(first["hookDetails"]), hooked)["hookStatus"] == "IN_PROGRESS"
    _set_task(hooked, _task_of(first), "STOPPED", 0)
    second = handle_hook(_event(first["hookDetails"]), hooked)
    assert second["hookStatus"] == "IN_PROGRESS"
    assert second["hookDetails"][hooks.STATE_KEY]["step"] == 1
    assert _task_of(second) != _task_of(first)
    _set_task(hooked, _task_of(second), "STOPPED", 0)
    assert handle_hook(_event(second["hookDetails"]), hooked) == {"hookStatus": "SUCCEEDED"}


def test_a_failed_step_fails_the_hook(hooked: Runtime) -> None:
    first = handle_hook(_event(), hooked)
    _set_task(hooked, _task_of(first), "STOPPED", 3)
    assert handle_hook(_event(first["hookDetails"]), hooked) == {"hookStatus": "FAILED"}
    assert len(_tasks(hooked)) == 1  # the second step never starts


def test_a_step_past_its_max_wait_is_stopped_and_fails_the_hook(hooked: Runtime) -> None:
    first = handle_hook(_event(), hooked)
    hooked.now.now += 11 * 60  # echo's max wait is 10 minutes
    assert handle_hook(_event(first["hookDetails"]), hooked) == {"hookStatus": "FAILED"}
    (task,) = _ecs().describe_tasks(cluster=_cluster(hooked), tasks=[_task_of(first)])["tasks"]
    assert task["desiredStatus"] == "STOPPED"


@pytest.mark.parametrize(
    ("details", "changes"),
    [
        ({"environment": "prod", "service": "web", "stage": "PRE_SCALE_UP"}, {}),
        ({"environment": "prod", "service": "api", "stage": STAGE}, {}),
        ({"environment": "dev", "service": "web", "stage": STAGE}, {}),
        ({"environment": "prod", "service": "web"}, {}),
        (None, {"serviceArn": SERVICE_ARN.replace(PROD, "999999999999")}),
        (None, {"serviceArn": SERVICE_ARN.replace(TARGET_REGION, "us-east-1")}),
        (None, {"serviceArn": SERVICE_ARN.replace("/shop-prod-web/shop-prod-web", "/c/other")}),
        (None, {"targetServiceRevisionArn": ""}),
    ],
)
def test_a_hook_that_is_not_declared_fails_and_starts_nothing(
    hooked: Runtime, details: dict[str, Any] | None, changes: dict[str, Any]
) -> None:
    assert handle_hook(_event(details, **changes), hooked) == {"hookStatus": "FAILED"}
    assert _tasks(hooked) == []


def test_a_request_in_the_event_is_ignored_only_declared_steps_run(hooked: Runtime) -> None:
    event = _event(runner="echo", script="args", args=["rm", "-rf", "/"])
    handle_hook(event, hooked)
    (request,) = hooked.connect.run_task
    (container,) = request["overrides"]["containerOverrides"]
    assert container["command"][-2:] == ["--text", "first"]


def test_a_service_arn_in_the_short_format_is_the_service(hooked: Runtime) -> None:
    short = SERVICE_ARN.replace("/shop-prod-web/shop-prod-web", "/shop-prod-web")
    assert handle_hook(_event(serviceArn=short), hooked)["hookStatus"] == "IN_PROGRESS"


def test_hook_details_as_json_text_are_read(hooked: Runtime) -> None:
    text = json.dumps({"environment": "prod", "service": "web", "stage": STAGE})
    assert handle_hook(_event(text), hooked)["hookStatus"] == "IN_PROGRESS"  # type: ignore[arg-type]


def test_a_state_naming_another_steps_task_is_refused(hooked: Runtime) -> None:
    """ECS hands back what the invoker answered, but the invoker cannot tell who calls it:
    a state counts only if its task was started for that step of that deployment."""
    first = handle_hook(_event(), hooked)
    _set_task(hooked, _task_of(first), "STOPPED", 0)
    state = first["hookDetails"][hooks.STATE_KEY]
    forged = {**first["hookDetails"], hooks.STATE_KEY: {**state, "step": 1}}
    assert handle_hook(_event(forged), hooked) == {"hookStatus": "FAILED"}
    other = _event(first["hookDetails"], targetServiceRevisionArn=REVISION + "0")
    assert handle_hook(other, hooked) == {"hookStatus": "FAILED"}
    assert _tasks(hooked) == [_task_of(first)]


def test_a_state_of_another_hook_is_refused(hooked: Runtime) -> None:
    first = handle_hook(_event(), hooked)
    forged = {**first["hookDetails"], hooks.STATE_KEY: {"step": 7, "task": {}}}
    assert handle_hook(_event(forged), hooked) == {"hookStatus": "FAILED"}


def test_the_job_id_names_the_deployment_stage_and_step() -> None:
    ids = {
        hooks.hook_job_id(REVISION, STAGE, 0),
        hooks.hook_job_id(REVISION, STAGE, 1),
        hooks.hook_job_id(REVISION, "POST_SCALE_UP", 0),
        hooks.hook_job_id(REVISION + "2", STAGE, 0),
    }
    assert len(ids) == 4
    assert all(len(i) <= 64 for i in ids)
    assert hooks.hook_job_id(REVISION, STAGE, 0) == hooks.hook_job_id(REVISION, STAGE, 0)
