"""Built-in runners: planners cannot execute, appliers cannot plan, every action is named, the
allow-lists match what the job entrypoints parse, and the synth-side modules need no boto3."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.config.builtin_runners import BUILTIN_NAMES, JOBS, builtin_runner
from pipelines.jobs import main as jobs
from tests.invoker.fixture_runners import CONTEXT, runners
from tests.invoker.support import admit_case, cases, document


def _actions(name: str) -> set[str]:
    """What the runner's role may do: its Allow statements' actions."""
    return {a for p in runners()[name].permissions if p.effect == "Allow" for a in p.actions}


def test_only_appliers_execute_and_only_planners_create() -> None:
    assert "cloudformation:ExecuteChangeSet" not in _actions("cloudformation-planner")
    assert {"cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet"} <= _actions(
        "cloudformation-planner"
    )
    applier = _actions("cloudformation-applier")
    assert "cloudformation:ExecuteChangeSet" in applier
    assert not {a for a in applier if a.startswith("cloudformation:") and "Create" in a}
    for name in ("cloudformation-planner", "cloudformation-applier"):
        assert not {
            a
            for a in _actions(name)
            if "Stack" in a and a.split(":")[1].startswith(("Create", "Update", "Delete"))
        }


def test_cloudformation_runners_are_denied_change_sets_of_pipelines_own_stacks() -> None:
    for name in ("cloudformation-planner", "cloudformation-applier"):
        [denied] = [p for p in runners()[name].permissions if p.effect == "Deny"]
        assert "cloudformation:ExecuteChangeSet" in denied.actions
        assert "cloudformation:CreateChangeSet" in denied.actions
        own = {r.split(":stack/")[1] for r in denied.resources}
        envs = ("dev", "staging", "prod")
        assert own == {f"shop-{e}-{kind}/*" for e in envs for kind in ("deploy", "runner")}


def test_the_terraform_runners_use_only_the_artifact_key() -> None:
    for name in ("terraform-planner", "terraform-applier"):
        [key] = [p for p in runners()[name].permissions if "kms:Decrypt" in p.actions]
        assert key.conditions == {
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/shop-artifacts"]}
        }


def test_the_terraform_planner_writes_only_lock_files_of_the_state() -> None:
    planner = runners()["terraform-planner"]
    writes = [p for p in planner.permissions if "s3:PutObject" in p.actions]
    resources = {r for p in writes for r in p.resources}
    assert resources == {
        "arn:aws:s3:::shop-terraform-state/*.tflock",
        "arn:aws:s3:::shop-artifacts-111111111111-eu-west-1/plans/*",
    }


def test_every_action_is_named() -> None:
    for name, spec in runners().items():
        for permission in spec.permissions:
            for action in permission.actions:
                assert "*" not in action, (name, action)


def test_stacks_are_scoped_to_the_apps_environments_in_each_target() -> None:
    resources = {r for p in runners()["cloudformation-applier"].permissions for r in p.resources}
    assert "arn:aws:cloudformation:eu-west-1:333333333333:stack/shop-prod-*/*" in resources
    assert not any("stack/*" in r or "stack/shop-*/" in r for r in resources)


def test_image_builder_pushes_only_to_the_apps_repository() -> None:
    spec = runners()["image-builder"]
    ecr = [p for p in spec.permissions if "ecr:PutImage" in p.actions]
    assert ecr[0].resources == ["arn:aws:ecr:eu-west-1:111111111111:repository/shop-web"]
    assert not spec.privileged
    assert runners()["image-builder-codebuild"].privileged


@pytest.mark.parametrize(
    "case",
    [c for c in cases("allowed.yaml") if c.get("argv", [])[:3] == list(JOBS)],
    ids=lambda c: c["name"],
)
def test_admitted_argv_parses_in_the_job_entrypoint(case: dict) -> None:
    argv = admit_case(document(), case).argv
    parsed = jobs.parser().parse_args(list(argv[len(JOBS) :]))
    assert parsed.tool in ("cloudformation", "terraform", "build")


def test_every_allowed_option_of_a_job_builtin_is_an_option_of_the_job() -> None:
    for name in BUILTIN_NAMES:
        for script in runners()[name].scripts.values():
            if script.command[: len(JOBS)] != list(JOBS):
                continue
            path = script.command[len(JOBS) :]
            for option in [*script.allowed_options, *script.options[::2]]:
                help_text = _help(path)
                assert f"{option} " in help_text or f"{option}\n" in help_text, (name, option)


def _help(path: list[str]) -> str:
    parser = jobs.parser()
    for word in path:
        action = next(a for a in parser._subparsers._group_actions if word in a.choices)  # type: ignore[union-attr]
        parser = action.choices[word]
    return parser.format_help()


def test_the_jobs_refuse_abbreviated_options() -> None:
    with pytest.raises(SystemExit):
        jobs.parser().parse_args(["cloudformation", "apply", "--stack", "s", "--change", "c"])


def test_unknown_builtins_and_codebuild_for_ecs_only_ones() -> None:
    with pytest.raises(KeyError, match="no built-in runner"):
        builtin_runner("shell", CONTEXT)
    with pytest.raises(ValueError, match="runs on ecs only"):
        builtin_runner("terraform-applier", CONTEXT, on="codebuild")


def test_the_synth_side_runner_modules_import_no_boto3() -> None:
    code = (
        "import sys\n"
        "import pipelines.invoker.allowlist, pipelines.config.builtin_runners\n"
        "import pipelines.invoker.document\n"
        "import pipelines.invoker.names, pipelines.invoker_package\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'moto'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
