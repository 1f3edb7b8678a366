"""What synth writes for lifecycle hooks (the hooks fixture): the service's LifecycleHooks, the
hook function and its two roles on the environment's runner stack, the invoker's permission for
each environment's hook function role, PassRole on the deploy stack, and the deploy order."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from pipelines.builders.runner import MAX_INLINE_CODE, hook_function_code
from pipelines.render import Synthesis
from pipelines.synth import synthesize
from tests.support import EXAMPLE, FIXTURES, template

HOOKS = FIXTURES / "valid" / "hooks"
INVOKER = "arn:aws:lambda:eu-west-1:111111111111:function:shop-runner-invoker"


@functools.cache
def _synthesis() -> Synthesis:
    return synthesize(HOOKS)


def _t(stack: str) -> dict[str, Any]:
    return template(_synthesis(), stack)


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_each_stage_with_jobs_is_a_hook_naming_its_stage() -> None:
    deployment = _t("shop-prod-web")["Resources"]["Service"]["Properties"][
        "DeploymentConfiguration"
    ]
    assert deployment["LifecycleHooks"] == [
        {
            "HookTargetArn": "arn:aws:lambda:eu-west-1:333333333333:function:shop-prod-runner-hook",
            "RoleArn": "arn:aws:iam::333333333333:role/shop-prod-runner-hook",
            "LifecycleStages": [stage],
            "HookDetails": {"environment": "prod", "service": "web", "stage": stage},
        }
        for stage in ("POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")
    ]


@pytest.mark.parametrize("stack", ["shop-dev-web", "shop-prod-worker"])
def test_services_without_hooks_have_none(stack: str) -> None:
    deployment = _t(stack)["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]
    assert "LifecycleHooks" not in deployment


def test_the_hook_function_may_invoke_only_the_invoker_and_ecs_only_the_function() -> None:
    resources = _t("shop-prod-runner")["Resources"]
    function = resources["HookFunction"]["Properties"]
    assert function["FunctionName"] == "shop-prod-runner-hook"
    assert f'INVOKER_ARN = "{INVOKER}"' in function["Code"]["ZipFile"]
    fn_role = resources["HookFunctionRole"]["Properties"]
    assert fn_role["RoleName"] == "shop-prod-runner-hook-fn"
    invokes = [
        s
        for s in _statements(resources["HookFunctionRole"])
        if "lambda:InvokeFunction" in s["Action"]
    ]
    assert invokes == [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [INVOKER]}
    ]
    hook_role = resources["HookRole"]
    assert hook_role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ecs.amazonaws.com"
    }
    assert _statements(hook_role) == [
        {
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": ["arn:aws:lambda:eu-west-1:333333333333:function:shop-prod-runner-hook"],
        }
    ]


def test_an_environment_without_hooks_gets_no_hook_function() -> None:
    assert "shop-dev-runner.json" not in _synthesis().files  # dev turns hooks off, has no steps
    assert "HookFunction" not in template(synthesize(EXAMPLE), "shop-prod-runner")["Resources"]


def test_the_invoker_admits_each_hook_function_role_and_deploys_after_them() -> None:
    permissions = {
        logical_id: r["Properties"]
        for logical_id, r in _t("shop-runner")["Resources"].items()
        if r["Type"] == "AWS::Lambda::Permission"
    }
    assert permissions == {
        f"HookInvoke{env.title()}": {
            "FunctionName": {"Ref": "InvokerFunction"},
            "Action": "lambda:InvokeFunction",
            "Principal": f"arn:aws:iam::{account}:role/shop-{env}-runner-hook-fn",
        }
        for env, account in (("prod", "333333333333"), ("staging", "222222222222"))
    }
    manifest = json.loads(_synthesis().files["manifest.json"])
    waves = {s["name"]: s["wave"] for s in manifest["stacks"]}
    assert waves["shop-runner"] > max(waves["shop-prod-runner"], waves["shop-staging-runner"])


def test_the_cloudformation_role_may_pass_the_hook_role_only_to_ecs() -> None:
    role = _t("shop-prod-deploy")["Resources"]["CloudFormationRole"]
    passes = [
        s for s in _statements(role) if s["Action"] == ["iam:PassRole"] and "runner-hook" in str(s)
    ]
    assert passes == [
        {
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": ["arn:aws:iam::333333333333:role/shop-prod-runner-hook"],
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}},
        }
    ]
    # The example has no hooks: nothing to pass.
    example = template(synthesize(EXAMPLE), "shop-prod-deploy")["Resources"]["CloudFormationRole"]
    assert "runner-hook" not in json.dumps(example)


def test_the_hook_function_code_is_inline_and_small() -> None:
    code = hook_function_code(INVOKER)
    assert len(code) <= MAX_INLINE_CODE
    compile(code, "index.py", "exec")
    assert code.count(INVOKER) == 1
